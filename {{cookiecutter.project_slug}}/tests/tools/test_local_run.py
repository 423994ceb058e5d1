"""The developer tools and the local AWS they find: this project's, never another's."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from local_aws.process import LocalAWSProcess
from tests.support import CONFIG, PROJECT_ROOT
from tools.local_run import (
    AWS,
    ForeignLocalAWSError,
    local_aws,
    local_aws_is_ours,
    prepare_account,
    upload_table,
)

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def other_project(tmp_path_factory):
    """A local AWS serving another project's state folder."""
    state = tmp_path_factory.mktemp("other-project") / ".local-aws"
    process = LocalAWSProcess(state_dir=state, config=PROJECT_ROOT / "pipeline.toml")
    process.start()
    yield process
    process.stop()


def test_this_projects_local_aws_is_reused(other_project):
    with local_aws(other_project.state_dir, other_project.endpoint_url) as endpoint_url:
        assert endpoint_url == other_project.endpoint_url
    assert local_aws_is_ours(other_project.endpoint_url, other_project.state_dir)


def test_another_folders_local_aws_is_refused_saying_how_to_move_the_port(other_project, tmp_path):
    with pytest.raises(ForeignLocalAWSError) as refused:
        local_aws_is_ours(other_project.endpoint_url, tmp_path / ".local-aws")

    message = str(refused.value)
    assert f"belongs to {PROJECT_ROOT} (state in {other_project.state_dir})" in message
    assert f"export LOCAL_AWS_PORT={other_project.port + 1}" in message


def test_make_demo_refuses_another_projects_local_aws_before_doing_anything(
    other_project, tmp_path
):
    result = subprocess.run(
        [sys.executable, "-m", "tools.demo", "--rows", "200", "--state-dir", str(tmp_path / "s")],
        cwd=PROJECT_ROOT,
        env={
            **os.environ,
            "LOCAL_AWS_PORT": str(other_project.port),
            "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT / "plugins"), str(PROJECT_ROOT)]),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 2, result.stdout + result.stderr
    assert "error: the local AWS on" in result.stderr and "LOCAL_AWS_PORT" in result.stderr
    assert not (tmp_path / "s").exists()


def test_a_table_of_ones_own_lands_in_its_own_prefix_not_the_raw_data_one(local_aws, tmp_path):
    aws = AWS(local_aws.endpoint_url)
    prepare_account(aws)
    table = tmp_path / "mine.csv"
    table.write_text("a,b\n1,2\n")

    uri = upload_table(aws, table)

    slug = CONFIG["project"]["slug"]
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    assert key.startswith(f"{slug}/data/uploads/") and key.endswith("/mine.csv")
    raw_prefix = f"{slug}/{CONFIG['data']['raw_prefix']}/"
    listed = aws.client("s3").list_objects_v2(Bucket=bucket, Prefix=raw_prefix)
    assert key not in [item["Key"] for item in listed.get("Contents", [])]
    queue = aws.client("sqs").get_queue_url(QueueName=CONFIG["data"]["raw_data_queue"])
    messages = aws.client("sqs").receive_message(QueueUrl=queue["QueueUrl"], WaitTimeSeconds=1)
    assert "mine.csv" not in str(messages.get("Messages", [])), "an upload started a run"
