"""The developer tools and the local AWS they find: this project's, never another's."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from {{ cookiecutter.package_name }}_pipeline.config import PipelineConfig

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
from tools.project import config

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def this_project(tmp_path_factory):
    """This project's local AWS, with its state in a folder of its own."""
    state = tmp_path_factory.mktemp("this-project") / ".local-aws"
    process = LocalAWSProcess(state_dir=state, config=PROJECT_ROOT / "pipeline.toml")
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def other_project(tmp_path_factory):
    """Another project's local AWS: its own folder, with its own pipeline.toml."""
    folder = tmp_path_factory.mktemp("other-project")
    shutil.copy(PROJECT_ROOT / "pipeline.toml", folder)
    process = LocalAWSProcess(state_dir=folder / ".local-aws", config=folder / "pipeline.toml")
    process.start()
    yield process
    process.stop()


def test_this_projects_local_aws_is_reused(this_project):
    with local_aws(this_project.state_dir, this_project.endpoint_url) as endpoint_url:
        assert endpoint_url == this_project.endpoint_url
    assert local_aws_is_ours(this_project.endpoint_url, this_project.state_dir)


def test_another_projects_local_aws_is_refused_saying_how_to_move_the_port(other_project):
    with pytest.raises(ForeignLocalAWSError) as refused:
        local_aws_is_ours(other_project.endpoint_url, PROJECT_ROOT / ".local-aws")

    message = str(refused.value)
    folder = other_project.config.parent.resolve()
    assert f"belongs to {folder} (state in {folder / '.local-aws'})" in message
    assert f"not to this project ({PROJECT_ROOT.resolve()})" in message
    assert f"export LOCAL_AWS_PORT={other_project.port + 1}" in message


def test_this_projects_local_aws_with_another_state_folder_says_which(this_project, tmp_path):
    with pytest.raises(ForeignLocalAWSError) as refused:
        local_aws_is_ours(this_project.endpoint_url, tmp_path / ".local-aws")

    message = str(refused.value)
    assert "is this project's, but keeps its state in" in message
    assert f"LOCAL_AWS_STATE={this_project.state_dir.resolve()}" in message


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
    messages = aws.client("sqs").receive_message(
        QueueUrl=queue["QueueUrl"], MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=0
    )
    assert key not in str(messages.get("Messages", [])), "an upload would start a run"


def test_uploads_are_refused_when_the_raw_data_prefix_would_hold_them(local_aws, monkeypatch):
    configured = config()
    settings = {
        **configured.settings,
        "data": {**configured.settings["data"], "raw_prefix": "data/uploads/incoming"},
    }
    monkeypatch.setattr(
        "tools.local_run.config",
        lambda: PipelineConfig(settings, configured.environment_name, configured.path),
    )

    with pytest.raises(
        ValueError, match="raw_prefix 'data/uploads/incoming' overlaps 'data/uploads'"
    ):
        upload_table(AWS(local_aws.endpoint_url), PROJECT_ROOT / "pipeline.toml")
