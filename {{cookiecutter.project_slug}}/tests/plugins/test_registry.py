"""A model package group holds one kind of model: checked against the local AWS's registry.

The group's tags say what its versions predict (problem type, target); the training DAG's first
task refuses a run of another kind before any job runs, and `register_model` checks again.
"""

from __future__ import annotations

import copy
import json
import uuid
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException

from {{ cookiecutter.package_name }}_pipeline import run_inputs
from {{ cookiecutter.package_name }}_pipeline.config import PipelineConfig
from {{ cookiecutter.package_name }}_pipeline.operators import RegisterModelVersionOnceOperator
from {{ cookiecutter.package_name }}_pipeline.registry import (
    ModelKindError,
    check_model_package_group,
    model_kind,
)

from tests.support import CONFIG, PROJECT_ROOT, REGION, create_bucket

pytestmark = pytest.mark.timeout(300)

OTHER = {"binary_classification": "regression", "regression": "binary_classification"}
TASK = {"binary_classification": "CLASSIFICATION", "regression": "REGRESSION"}


@pytest.fixture(scope="module")
def connection(local_aws):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(
            "AIRFLOW_CONN_AWS_DEFAULT",
            json.dumps(
                {
                    "conn_type": "aws",
                    "login": "testing",
                    "password": "testing",
                    "extra": {"endpoint_url": local_aws.endpoint_url, "region_name": REGION},
                }
            ),
        )
        yield


def config_with_group(group: str, target: str | None = None) -> PipelineConfig:
    base = PipelineConfig.load(PROJECT_ROOT / "pipeline.toml", environment="local")
    settings = copy.deepcopy(base.settings)
    settings["registry"]["model_package_group"] = group
    settings["data"]["target_column"] = target or settings["data"]["target_column"]
    return PipelineConfig(settings, "local", base.path)


def unique_group() -> str:
    return f"kind-{uuid.uuid4().hex[:10]}"


def tags(sm, group: str) -> dict[str, str]:
    arn = sm.describe_model_package_group(ModelPackageGroupName=group)["ModelPackageGroupArn"]
    return {tag["Key"]: tag["Value"] for tag in sm.list_tags(ResourceArn=arn)["Tags"]}


def other_kind() -> dict[str, str]:
    return {"problem_type": OTHER[CONFIG["data"]["problem_type"]], "target_column": "other"}


def register_version(sm, group: str, task: str | None) -> None:
    sm.create_model_package(
        ModelPackageGroupName=group,
        InferenceSpecification={
            "Containers": [{"Image": "image:1", "ModelDataUrl": "s3://b/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        **({"Task": task} if task else {}),
    )


def test_a_missing_group_is_created_tagged_with_the_kind_of_model(aws_client):
    sm, group = aws_client("sagemaker"), unique_group()
    kind = model_kind(config_with_group(group))

    check_model_package_group(sm, group, kind)

    assert tags(sm, group) == kind
    assert kind == {
        "problem_type": CONFIG["data"]["problem_type"],
        "target_column": CONFIG["data"]["target_column"],
    }


def test_a_group_of_another_kind_is_refused_saying_to_name_a_new_group(aws_client):
    sm, group = aws_client("sagemaker"), unique_group()
    sm.create_model_package_group(
        ModelPackageGroupName=group,
        Tags=[{"Key": key, "Value": value} for key, value in other_kind().items()],
    )

    with pytest.raises(ModelKindError) as refused:
        check_model_package_group(sm, group, model_kind(config_with_group(group)))

    message = str(refused.value)
    assert f"group {group!r} holds another kind of model" in message
    assert f"problem_type {other_kind()['problem_type']}" in message
    assert "name a new group in [registry] model_package_group" in message


def test_an_untagged_group_is_claimed_unless_its_versions_are_of_another_task(aws_client):
    sm = aws_client("sagemaker")
    problem_type = CONFIG["data"]["problem_type"]
    same, other = unique_group(), unique_group()
    for group, task in ((same, TASK[problem_type]), (other, TASK[OTHER[problem_type]])):
        sm.create_model_package_group(ModelPackageGroupName=group)
        register_version(sm, group, task)

    check_model_package_group(sm, same, model_kind(config_with_group(same)))
    with pytest.raises(ModelKindError, match=f"versions of Task {TASK[OTHER[problem_type]]}"):
        check_model_package_group(sm, other, model_kind(config_with_group(other)))

    assert tags(sm, same) == model_kind(config_with_group(same))
    assert tags(sm, other) == {}


def test_a_label_column_with_characters_tags_refuse_still_names_the_kind(aws_client):
    sm, group = aws_client("sagemaker"), unique_group()
    kind = model_kind(config_with_group(group, target="income>50K (yes?)"))

    check_model_package_group(sm, group, kind)
    check_model_package_group(sm, group, kind)

    assert tags(sm, group)["target_column"] == "income_50K _yes__"


def test_a_group_with_one_of_the_tags_gets_the_other_when_it_agrees(aws_client):
    sm, group = aws_client("sagemaker"), unique_group()
    kind = model_kind(config_with_group(group))
    sm.create_model_package_group(
        ModelPackageGroupName=group,
        Tags=[{"Key": "problem_type", "Value": kind["problem_type"]}],
    )

    check_model_package_group(sm, group, kind)

    assert tags(sm, group) == kind


def test_the_first_task_refuses_a_run_of_another_kind_before_any_job_runs(aws_client, connection):
    sm, s3, group = aws_client("sagemaker"), aws_client("s3"), unique_group()
    sm.create_model_package_group(
        ModelPackageGroupName=group,
        Tags=[{"Key": key, "Value": value} for key, value in other_kind().items()],
    )
    bucket = f"kind-{uuid.uuid4().hex[:8]}"
    create_bucket(s3, bucket)
    s3.put_object(Bucket=bucket, Key="raw/data.csv", Body=b"a,b\n1,2\n")
    context = {
        "params": {"raw_data_uri": f"s3://{bucket}/raw/data.csv", "metric_threshold": None},
        "run_id": "manual__2026-12-05T00:00:00+00:00",
        "triggering_asset_events": {},
    }

    with pytest.raises(AirflowFailException, match="holds another kind of model"):
        run_inputs.resolve_run_inputs(config_with_group(group), context)


def test_register_model_checks_the_group_again_and_registers_nothing(aws_client, connection):
    sm, group = aws_client("sagemaker"), unique_group()
    sm.create_model_package_group(
        ModelPackageGroupName=group,
        Tags=[{"Key": key, "Value": value} for key, value in other_kind().items()],
    )
    request = {
        "ModelPackageGroupName": group,
        "ModelApprovalStatus": "PendingManualApproval",
        "InferenceSpecification": {
            "Containers": [{"Image": "image:1", "ModelDataUrl": "s3://b/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        "CustomerMetadataProperties": {"run_key": "m-1"},
    }
    operator = RegisterModelVersionOnceOperator(
        task_id="register_model",
        request=request,
        package_group_name=group,
        model_kind=model_kind(config_with_group(group)),
        region_name=REGION,
    )

    with pytest.raises(AirflowFailException, match="holds another kind of model"):
        operator.execute(SimpleNamespace())

    listed = sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    assert listed == []


@pytest.mark.parametrize("threshold", [7.0, "0.9"])
def test_the_first_task_refuses_a_threshold_the_metric_cannot_reach(
    aws_client, connection, threshold
):
    group = unique_group()
    metric = CONFIG["training"]["primary_metric"]
    if metric in ("rmse", "mae", "mse"):
        threshold = -1.0 if threshold == 7.0 else threshold
    context = {
        "params": {"raw_data_uri": None, "metric_threshold": threshold},
        "run_id": "manual__2026-12-05T00:00:00+00:00",
        "triggering_asset_events": {},
    }

    expected = "is not a number" if isinstance(threshold, str) else f"out of range for {metric}"
    with pytest.raises(AirflowFailException, match=f"param metric_threshold .* {expected}"):
        run_inputs.resolve_run_inputs(config_with_group(group), context)
