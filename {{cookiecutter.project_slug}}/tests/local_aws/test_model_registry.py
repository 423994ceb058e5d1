"""The local AWS's Model Registry behaves as SageMaker's, driven only through plain boto3."""

from __future__ import annotations

import uuid

import pytest

IMAGE = "111111111111.dkr.ecr.us-east-1.amazonaws.com/jobs:latest"
DIGEST = "sha256:" + "0" * 64


def report(name: str) -> dict:
    return {"ContentType": "application/json", "S3Uri": f"s3://bucket/run/{name}.json"}


MODEL_METRICS = {
    "ModelQuality": {
        "Statistics": {**report("evaluation"), "ContentDigest": DIGEST},
        "Constraints": report("quality-constraints"),
    },
    "ModelDataQuality": {
        "Statistics": report("statistics"),
        "Constraints": report("constraints"),
    },
    "Bias": {"PreTrainingReport": report("bias-pre"), "PostTrainingReport": report("bias-post")},
    "Explainability": {"Report": report("analysis")},
}
DRIFT_CHECK_BASELINES = {
    "Bias": {"ConfigFile": report("bias-config"), "PreTrainingConstraints": report("bias-pre")},
    "Explainability": {"ConfigFile": report("shap-config"), "Constraints": report("shap")},
    "ModelDataQuality": {
        "Statistics": report("statistics"),
        "Constraints": report("constraints"),
    },
}
METADATA = {
    "CommitId": "0123456789abcdef",
    "Repository": "https://example.com/churn.git",
    "GeneratedBy": "airflow:train/manual__2026-11-26",
    "ProjectId": "customer-churn",
}


@pytest.fixture
def sm(aws_client):
    return aws_client("sagemaker")


@pytest.fixture
def group(sm) -> str:
    name = f"registry-{uuid.uuid4().hex[:10]}"
    sm.create_model_package_group(ModelPackageGroupName=name)
    return name


def register(sm, group: str, **request) -> str:
    return sm.create_model_package(
        ModelPackageGroupName=group,
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://bucket/run/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        **{"ModelApprovalStatus": "PendingManualApproval", **request},
    )["ModelPackageArn"]


def test_describe_returns_what_was_registered_exactly_and_completed(sm, group):
    arn = register(
        sm,
        group,
        ModelMetrics=MODEL_METRICS,
        DriftCheckBaselines=DRIFT_CHECK_BASELINES,
        MetadataProperties=METADATA,
        CustomerMetadataProperties={"run_key": "manual-2026-11-26", "auc": "0.91"},
    )

    package = sm.describe_model_package(ModelPackageName=arn)

    assert package["ModelMetrics"] == MODEL_METRICS
    assert package["DriftCheckBaselines"] == DRIFT_CHECK_BASELINES
    assert package["MetadataProperties"] == METADATA
    assert package["CustomerMetadataProperties"] == {"run_key": "manual-2026-11-26", "auc": "0.91"}
    assert package["ModelPackageStatus"] == "Completed"
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert (package["ModelPackageGroupName"], package["ModelPackageVersion"]) == (group, 1)


def test_update_without_approval_status_keeps_the_approval(sm, group):
    arn = register(sm, group)
    sm.update_model_package(
        ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription="looks good"
    )

    sm.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties={"deployed": "staging"})

    package = sm.describe_model_package(ModelPackageName=arn)
    assert package["ModelApprovalStatus"] == "Approved"
    assert package["ApprovalDescription"] == "looks good"
    assert "LastModifiedTime" in package


def test_update_merges_customer_metadata_and_removes_the_keys_named(sm, group):
    arn = register(sm, group, CustomerMetadataProperties={"run_key": "r1", "auc": "0.91"})

    sm.update_model_package(
        ModelPackageArn=arn,
        CustomerMetadataProperties={"deployed": "staging", "auc": "0.92"},
        CustomerMetadataPropertiesToRemove=["run_key"],
    )

    package = sm.describe_model_package(ModelPackageName=arn)
    assert package["CustomerMetadataProperties"] == {"auc": "0.92", "deployed": "staging"}
    assert package["ModelApprovalStatus"] == "PendingManualApproval"


def test_removing_the_last_customer_metadata_key_leaves_none(sm, group):
    arn = register(sm, group, CustomerMetadataProperties={"run_key": "r1"})

    sm.update_model_package(ModelPackageArn=arn, CustomerMetadataPropertiesToRemove=["run_key"])

    assert "CustomerMetadataProperties" not in sm.describe_model_package(ModelPackageName=arn)


def test_create_with_a_client_token_already_used_in_the_group_returns_that_version(sm, group):
    first = register(sm, group, ClientToken="run-1")

    again = register(sm, group, ClientToken="run-1")
    other = register(sm, group, ClientToken="run-2")

    assert again == first
    assert other.endswith(f"/{group}/2")
    listed = sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    assert len(listed) == 2
    elsewhere = f"{group}-b"
    sm.create_model_package_group(ModelPackageGroupName=elsewhere)
    assert register(sm, elsewhere, ClientToken="run-1").endswith(f"/{elsewhere}/1")


def test_list_filters_by_approval_status_newest_first(sm, group):
    arns = [register(sm, group) for _ in range(3)]
    for arn in arns[:2]:
        sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")

    listed = sm.list_model_packages(
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved",
        SortBy="CreationTime",
        SortOrder="Descending",
    )["ModelPackageSummaryList"]

    assert [p["ModelPackageArn"] for p in listed] == [arns[1], arns[0]]
    assert {p["ModelApprovalStatus"] for p in listed} == {"Approved"}
    assert {p["ModelPackageStatus"] for p in listed} == {"Completed"}


def test_versioned_package_in_a_missing_group_fails_with_aws_message(sm):
    with pytest.raises(sm.exceptions.ClientError) as refused:
        register(sm, f"missing-{uuid.uuid4().hex[:10]}")

    error = refused.value.response["Error"]
    assert error == {
        "Code": "ValidationException",
        "Message": "Model Package Group does not exist.",
    }


def test_creating_a_group_that_exists_is_refused_and_keeps_its_versions(sm, group):
    arn = register(sm, group)

    with pytest.raises(sm.exceptions.ClientError, match="Model Package Group already exists"):
        sm.create_model_package_group(ModelPackageGroupName=group)

    assert sm.describe_model_package(ModelPackageName=arn)["ModelPackageVersion"] == 1
