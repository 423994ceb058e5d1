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
import botocore.session
import pytest

from local_aws.capability import patch, unpatch_all
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
SERVICES = set(botocore.session.get_session().get_available_services()) | {
    "monitoring",  # CloudWatch's signing name
}


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
    """Neither as text (``get_backend("s3")``) nor by importing moto's module of one."""
    named = {}
    for path in CORE:
        tree = ast.parse((PROJECT_ROOT / path).read_text())
        words = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                words.add(node.value)
            elif isinstance(node, ast.Import):
                words.update(alias.name.split(".")[1] for alias in node.names if "." in alias.name)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("moto."):
                words.add(node.module.split(".")[1])
        # a REST member's "location" (uri, header) is a word of botocore's models, not Amazon
        # Location Service
        found = words & SERVICES - {"location"}
        if found:
            named[path] = sorted(found)

    assert named == {}


def test_log_lines_are_saved_on_a_timer_and_every_other_change_at_once(tmp_path):
    """PutLogEvents is re-pickled every few seconds, not per call; a new log group at once.

    After a kill -9, the log lines of the last period may be lost; nothing else.
    """
    server = LocalAWSProcess(
        state_dir=tmp_path / "state",
        config=PROJECT_ROOT / "pipeline.toml",
        env={"LOCAL_AWS_PERIODIC_SAVE_SECONDS": "5"},
    )
    server.start()
    try:
        logs = boto3.client("logs", endpoint_url=server.endpoint_url, region_name=REGION)
        snapshot = server.state_dir / "services" / "logs.pickle"
        logs.create_log_group(logGroupName="grows")
        logs.create_log_stream(logGroupName="grows", logStreamName="s")
        created = snapshot.stat().st_mtime_ns  # saved before the call answered

        for index in range(20):
            logs.put_log_events(
                logGroupName="grows",
                logStreamName="s",
                logEvents=[{"timestamp": int(time.time() * 1000), "message": f"line {index}"}],
            )
        written_at_once = snapshot.stat().st_mtime_ns
        deadline = time.monotonic() + 15
        while snapshot.stat().st_mtime_ns == written_at_once and time.monotonic() < deadline:
            time.sleep(0.2)
        saved_later = snapshot.stat().st_mtime_ns

        server.kill()
        server.start()
        logs = boto3.client("logs", endpoint_url=server.endpoint_url, region_name=REGION)
        events = logs.get_log_events(logGroupName="grows", logStreamName="s")["events"]
    finally:
        server.stop()

    assert written_at_once == created, "20 PutLogEvents re-pickled the logs at once"
    assert saved_later > written_at_once, "the periodic save never came"
    assert [event["message"] for event in events] == [f"line {index}" for index in range(20)]


def test_patches_of_several_capabilities_stack_and_a_new_install_starts_from_moto():
    class Service:
        def operation(self):
            return "moto"

    def wrap(tag):
        return lambda current: lambda self: f"{tag}({current(self)})"

    patch(Service, "operation", wrap("registry"))
    patch(Service, "operation", wrap("events"))
    stacked = Service().operation()
    unpatch_all()
    patch(Service, "operation", wrap("registry"))

    assert stacked == "events(registry(moto))"
    assert Service().operation() == "registry(moto)"
    unpatch_all()
