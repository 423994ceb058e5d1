"""The promotion DAG run by dag.test() against the local AWS and the GitHub stand-in."""

from __future__ import annotations

import json

import pytest

from tests.conftest import AIRFLOW_HOME
from tests.support import PROJECT_ROOT, register_bare_version
from tools.local_github import LocalGitHub, new_app_key, scratch_repository, store_app_connection
from tools.local_run import run_promotion
from tools.project import config

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def github(account, tmp_path_factory):
    """The stand-in serving this project's pins, its App's key where Airflow finds it."""
    aws, _ = account
    cfg = config()
    private_key, public_key = new_app_key()
    files = {
        f"ci/environments/{path.name}": path.read_text()
        for path in (PROJECT_ROOT / "ci" / "environments").glob("*.toml")
    }
    repository = scratch_repository(tmp_path_factory.mktemp("github") / "repository", files)
    standin = LocalGitHub(repository, cfg.project.repository, "11", public_key)
    standin.start()
    store_app_connection(
        aws.client("secretsmanager"), cfg.promotion.github_conn_id, "11", private_key, standin.url
    )
    yield standin
    standin.stop()


def test_an_approved_version_is_proposed_once_however_many_runs_see_it(account, github):
    """The approval event reaches the queue the asset watcher reads (the end-to-end tier runs
    the watcher); two runs of the DAG open one pull request between them."""
    aws, _ = account
    cfg = config()
    sagemaker, sqs = aws.client("sagemaker"), aws.client("sqs")
    queue = sqs.get_queue_url(QueueName=cfg.registry.approval_events_queue)["QueueUrl"]
    sqs.purge_queue(QueueUrl=queue)  # other tests' versions changed too
    package = register_bare_version(sagemaker, cfg)
    details = []
    for _ in range(5):  # what the asset watcher receives
        answer = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=2)
        details += [json.loads(m["Body"])["detail"] for m in answer.get("Messages", [])]
    assert (package, "Approved") in {
        (d["ModelPackageArn"], d["ModelApprovalStatus"]) for d in details
    }

    state, opened = run_promotion(aws, AIRFLOW_HOME)
    again_state, again = run_promotion(aws, AIRFLOW_HOME)

    version = package.rsplit("/", 1)[1]
    assert (state, again_state) == ("success", "success")
    assert len(opened) == 1 and again == []
    (pull,) = github.pulls
    assert (
        pull["head"]["ref"]
        == f"promote/staging/{cfg.registry.model_package_group.lower()}-v{version}"
    )
    assert github.violations == []
