"""A capability is one module and one list entry; the core names no service.

The proof: a toy capability written in a test file (``toy_capability``) is served, persisted
and recovered by a local AWS started with it, with no core file edited.
"""

from __future__ import annotations

import ast
import json
import time
import urllib.request

import boto3
import pytest

from local_aws.process import LocalAWSProcess
from tests.support import PROJECT_ROOT, REGION, health

pytestmark = pytest.mark.timeout(300)

#: The core: what every capability relies on, and which must name none of the services.
CORE = [
    "local_aws/server.py",
    "local_aws/state.py",
    "local_aws/capability.py",
    "local_aws/process.py",
    "local_aws/__main__.py",
    "local_aws/jobs/runner.py",
    "local_aws/jobs/sandbox.py",
    *(
        p.relative_to(PROJECT_ROOT).as_posix()
        for p in (PROJECT_ROOT / "local_aws/validation").glob("*.py")
    ),
]
SERVICES = {
    "s3", "sqs", "sns", "sagemaker", "logs", "iam", "sts", "events", "cloudwatch", "kms",
    "cloudformation", "ecr", "sagemaker-runtime",
}  # fmt: skip


@pytest.fixture
def toy_server(tmp_path):
    process = LocalAWSProcess(
        state_dir=tmp_path / "state",
        config=PROJECT_ROOT / "pipeline.toml",
        env={
            "LOCAL_AWS_CAPABILITIES": "tests.local_aws.toy_capability:TOY",
            "PYTHONPATH": str(PROJECT_ROOT),
        },
    )
    process.start()
    yield process
    process.stop()


def count(server, name: str, method: str = "POST") -> dict:
    request = urllib.request.Request(
        f"{server.endpoint_url}/_toy/counters/{name}",
        method=method,
        data=b"" if method == "POST" else None,
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def test_a_capability_from_outside_is_served_persisted_and_recovered(toy_server):
    for _ in range(3):
        count(toy_server, "apples")
    assert "toy counters" in health(toy_server.endpoint_url)["capabilities"]
    assert (toy_server.state_dir / "services" / "toy.pickle").is_file()

    toy_server.kill()  # kill -9: what was acknowledged is on disk
    toy_server.start()

    assert count(toy_server, "apples", method="GET") == {
        "name": "apples",
        "count": 3,
        "recoveries": 2,  # once at each start
    }


def test_no_core_file_names_a_service():
    named = {}
    for path in CORE:
        tree = ast.parse((PROJECT_ROOT / path).read_text())
        constants = {
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        }
        if constants & SERVICES:
            named[path] = sorted(constants & SERVICES)

    assert named == {}


def test_state_that_grows_with_traffic_is_saved_on_a_timer_not_after_each_write(tmp_path):
    """CloudWatch Logs: re-pickled every few seconds, not per PutLogEvents; kept across kill -9."""
    server = LocalAWSProcess(
        state_dir=tmp_path / "state",
        config=PROJECT_ROOT / "pipeline.toml",
        env={"LOCAL_AWS_PERIODIC_SAVE_SECONDS": "3"},
    )
    server.start()
    try:
        logs = boto3.client("logs", endpoint_url=server.endpoint_url, region_name=REGION)
        logs.create_log_group(logGroupName="grows")
        logs.create_log_stream(logGroupName="grows", logStreamName="s")
        snapshot = server.state_dir / "services" / "logs.pickle"
        time.sleep(3.5)  # the group's creation is saved with the next periodic save
        before = snapshot.stat().st_mtime_ns

        for index in range(20):
            logs.put_log_events(
                logGroupName="grows",
                logStreamName="s",
                logEvents=[{"timestamp": int(time.time() * 1000), "message": f"line {index}"}],
            )
        written_at_once = snapshot.stat().st_mtime_ns
        time.sleep(3.5)
        saved_later = snapshot.stat().st_mtime_ns

        server.kill()
        server.start()
        logs = boto3.client("logs", endpoint_url=server.endpoint_url, region_name=REGION)
        events = logs.get_log_events(logGroupName="grows", logStreamName="s")["events"]
    finally:
        server.stop()

    assert written_at_once == before, "20 writes re-pickled the logs at once"
    assert saved_later > before, "the periodic save never came"
    assert [event["message"] for event in events] == [f"line {index}" for index in range(20)]
