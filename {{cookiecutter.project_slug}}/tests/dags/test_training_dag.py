"""The training DAG run end to end by dag.test() against the local AWS."""

from __future__ import annotations

import hashlib

import pytest

from {{ cookiecutter.package_name }}_pipeline.runs import run_key

from tests.support import CONFIG
from tools.local_run import generate_sample_data, upload_training_data

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

GROUP = CONFIG["registry"]["model_package_group"]
TASKS = {"binary_classification": "CLASSIFICATION", "regression": "REGRESSION"}
METRIC = CONFIG["training"]["primary_metric"]


def packages(aws) -> list[dict]:
    sagemaker = aws.client("sagemaker")
    try:
        return sagemaker.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]
    except sagemaker.exceptions.ClientError:
        return []


def training_jobs(aws, run_key: str) -> list[dict]:
    listed = aws.client("sagemaker").list_training_jobs(NameContains=run_key)
    return listed["TrainingJobSummaries"]


def s3_exists(aws, uri: str) -> bool:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    try:
        aws.client("s3").head_object(Bucket=bucket, Key=key)
    except aws.client("s3").exceptions.ClientError:
        return False
    return True


@pytest.fixture(scope="module")
def happy_run(run_dag, sample_data_uri, account):
    aws, _ = account
    before = len(packages(aws))
    outcome = run_dag({"raw_data_uri": sample_data_uri})
    return outcome, before


def test_successful_run_registers_one_version_pending_manual_approval(happy_run, account):
    outcome, before = happy_run
    aws, _ = account
    assert outcome.succeeded, outcome.notification
    after = packages(aws)
    assert len(after) == before + 1
    package = aws.client("sagemaker").describe_model_package(
        ModelPackageName=outcome.summary["model_package_arn"]
    )
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert package["Task"] == TASKS[CONFIG["data"]["problem_type"]]
    assert package["CustomerMetadataProperties"]["run_id"] == outcome.run_id
    assert package["MetadataProperties"]["GeneratedBy"].endswith(outcome.run_id)
    assert (
        package["CustomerMetadataProperties"]["training_data"] == outcome.summary["training_data"]
    )


def s3_sha256(aws, uri: str) -> str:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    body = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return hashlib.sha256(body).hexdigest()


def test_every_file_of_the_version_exists_with_its_recorded_digest(happy_run, account):
    """What promotion checks before it copies a version to another account."""
    outcome, _ = happy_run
    aws, _ = account
    package = aws.client("sagemaker").describe_model_package(
        ModelPackageName=outcome.summary["model_package_arn"]
    )
    files = [
        leaf
        for section in (package["ModelMetrics"], package["DriftCheckBaselines"])
        for kind in section.values()
        for leaf in kind.values()
    ]
    assert len(files) >= 5
    assert [f["S3Uri"] for f in files if not s3_exists(aws, f["S3Uri"])] == []
    assert all(f["ContentDigest"] == f"sha256:{s3_sha256(aws, f['S3Uri'])}" for f in files)
    container = package["InferenceSpecification"]["Containers"][0]
    recorded = package["CustomerMetadataProperties"]
    assert recorded["model_artifact_sha256"] == s3_sha256(aws, container["ModelDataUrl"])
    source = container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"]
    assert recorded["source_tarball_sha256"] == s3_sha256(aws, source)


def test_successful_run_notifies_the_topic_with_the_package_and_metrics(happy_run):
    outcome, _ = happy_run
    message = outcome.notification
    assert isinstance(message, str), message
    assert outcome.summary["model_package_arn"] in message
    assert f"{METRIC}=" in message
    assert "PendingManualApproval" in message


def test_rerunning_a_run_reattaches_to_its_jobs_and_registers_nothing_new(
    happy_run, run_dag, sample_data_uri, account
):
    outcome, _ = happy_run
    aws, _ = account
    count = len(packages(aws))

    again = run_dag({"raw_data_uri": sample_data_uri}, rerun=outcome)

    assert again.succeeded, again.notification
    assert again.run_id == outcome.run_id
    assert again.summary["model_package_arn"] == outcome.summary["model_package_arn"]
    assert len(packages(aws)) == count
    assert len(training_jobs(aws, outcome.summary["run_key"])) == 1


def test_model_below_the_threshold_fails_the_run_and_registers_nothing(
    run_dag, sample_data_uri, account
):
    aws, _ = account
    before = len(packages(aws))
    # Out of reach in the metric's own direction.
    threshold = 0.999 if METRIC in ("auc", "f1", "accuracy", "precision", "recall", "r2") else 1e-9

    outcome = run_dag({"raw_data_uri": sample_data_uri, "metric_threshold": threshold})

    assert not outcome.succeeded
    assert outcome.failed_tasks == ["gate"]
    reason = outcome.notification["reason"]
    relation = "is below" if threshold > 0.5 else "is above"
    assert reason.startswith(f"{METRIC} ") and f"{relation} the threshold {threshold:g}" in reason
    assert len(packages(aws)) == before


def test_raw_data_breaking_the_suite_fails_before_training_naming_the_expectations(
    run_dag, account, tmp_path, capfd
):
    aws, _ = account
    path = generate_sample_data(tmp_path / "broken.csv", rows=500, seed=7)
    rows = path.read_text().splitlines()
    header = rows[0].split(",")
    target = header.index(CONFIG["data"]["target_column"])
    contract = header.index("contract_type")
    for index in range(1, 41):  # 8% without a label: more than the 5% the suite lets by
        broken = rows[index].split(",")
        broken[target] = ""
        broken[contract] = "weekly" if index == 1 else broken[contract]
        rows[index] = ",".join(broken)
    path.write_text("\n".join(rows) + "\n")
    uri = upload_training_data(aws, path, name="broken.csv")

    outcome = run_dag({"raw_data_uri": uri})

    assert not outcome.succeeded
    assert outcome.failed_tasks == ["check_raw_data"]
    assert training_jobs(aws, run_key(outcome.run_id)) == []
    log = capfd.readouterr().out
    target_name = CONFIG["data"]["target_column"]
    assert f"FAIL  expect_column_values_to_not_be_null({target_name})" in log
    assert "FAIL  expect_column_values_to_be_in_set(contract_type)" in log
    assert "weekly" in outcome.notification["reason"]
