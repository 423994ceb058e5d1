"""The run-scoped operators against the local AWS: how a job ends decides how the task ends."""

from __future__ import annotations

import dataclasses
import json
import uuid
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException

from {{ cookiecutter.package_name }}_pipeline import images
from {{ cookiecutter.package_name }}_pipeline.config import load_config
from {{ cookiecutter.package_name }}_pipeline.operators import (
    RunScopedProcessingOperator,
    RunScopedTrainingOperator,
)
from {{ cookiecutter.package_name }}_pipeline.runs import Run

from tests.support import REGION, create_bucket, source_tarball

pytestmark = pytest.mark.timeout(300)

SCRIPT = b"""
import os, sys, time
time.sleep(float(os.environ.get("SLEEP", "0")))
if os.environ.get("FAIL"):
    raise ValueError("the table has no rows")
print("done")
"""


@pytest.fixture(scope="module")
def bucket(aws_client, local_aws, monkeypatch_module):
    name = f"operators-{uuid.uuid4().hex[:8]}"
    s3 = aws_client("s3")
    create_bucket(s3, name)
    s3.put_object(Bucket=name, Key="code/job.py", Body=SCRIPT)
    s3.put_object(Bucket=name, Key="code/source.tar.gz", Body=source_tarball(SCRIPT))
    monkeypatch_module.setenv(
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
    return name


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def context_of(run: Run) -> dict:
    """What the operators read from a task's context: the run's inputs, pulled from XCom."""
    return {"ti": SimpleNamespace(xcom_pull=lambda task_ids: run.to_xcom())}


def a_run(bucket: str) -> Run:
    key = uuid.uuid4().hex[:12]
    return Run(
        f"manual__{key}", key, f"s3://{bucket}/p", f"s3://{bucket}/code/", "0" * 64, 0.5, "jobs:1"
    )


def processing_request(bucket, role, run: Run, environment: dict, max_runtime=300) -> dict:
    return {
        "ProcessingJobName": f"op-{run.key}",
        "RoleArn": role,
        "AppSpecification": {
            "ImageUri": "jobs:latest",
            "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/job.py"],
        },
        "Environment": environment,
        "ProcessingInputs": [
            {
                "InputName": "code",
                "S3Input": {
                    "S3Uri": f"s3://{bucket}/code/job.py",
                    "LocalPath": "/opt/ml/processing/input/code",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            }
        ],
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "VolumeSizeInGB": 5,
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime},
    }


def training_request(bucket, role, run: Run, max_runtime: int) -> dict:
    return {
        "TrainingJobName": f"op-{run.key}",
        "RoleArn": role,
        "AlgorithmSpecification": {"TrainingImage": "jobs:latest", "TrainingInputMode": "File"},
        "HyperParameters": {
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": json.dumps(f"s3://{bucket}/code/source.tar.gz"),
        },
        "Environment": {"SLEEP": "60"},
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/models"},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime},
    }


def processing_operator(build) -> RunScopedProcessingOperator:
    return RunScopedProcessingOperator(
        task_id="job", build=build, aws_conn_id="aws_default", region_name=REGION, check_interval=1
    )


def test_a_failed_job_fails_the_task_at_once_with_the_scripts_error(bucket, execution_role):
    run = a_run(bucket)
    operator = processing_operator(
        lambda run: processing_request(bucket, execution_role, run, {"FAIL": "1"})
    )

    with pytest.raises(AirflowFailException, match="ValueError: the table has no rows"):
        operator.execute(context_of(run))


def test_a_retried_task_reattaches_to_the_job_its_run_started(bucket, execution_role, aws_client):
    run = a_run(bucket)
    build = lambda run: processing_request(bucket, execution_role, run, {})  # noqa: E731
    first = processing_operator(build).execute(context_of(run))

    again = processing_operator(build).execute(context_of(run))

    name = f"op-{run.key}"
    assert again["Processing"]["ProcessingJobArn"] == first["Processing"]["ProcessingJobArn"]
    jobs = aws_client("sagemaker").list_processing_jobs(NameContains=name)
    assert len(jobs["ProcessingJobSummaries"]) == 1


def test_a_job_stopped_at_its_max_runtime_fails_the_task(bucket, execution_role):
    run = a_run(bucket)
    operator = RunScopedTrainingOperator(
        task_id="train",
        build=lambda run: training_request(bucket, execution_role, run, max_runtime=2),
        aws_conn_id="aws_default",
        region_name=REGION,
        check_interval=1,
    )

    with pytest.raises(AirflowFailException, match="ended Stopped: MaxRuntimeExceeded"):
        operator.execute(context_of(run))


def test_a_task_resumed_from_deferral_fails_at_once_when_its_job_failed(bucket, execution_role):
    """In deferrable mode a fresh operator resumes the task: it checks how the job ended."""
    run = a_run(bucket)
    build = lambda run: processing_request(bucket, execution_role, run, {"FAIL": "1"})  # noqa: E731
    with pytest.raises(AirflowFailException):
        processing_operator(build).execute(context_of(run))
    event = {"status": "failed", "job_name": f"op-{run.key}", "message": "job failed"}

    with pytest.raises(AirflowFailException, match="ValueError: the table has no rows"):
        processing_operator(build).execute_complete(context_of(run), event)


def test_a_task_resumed_from_deferral_returns_its_completed_job(bucket, execution_role):
    run = a_run(bucket)
    build = lambda run: processing_request(bucket, execution_role, run, {})  # noqa: E731
    first = processing_operator(build).execute(context_of(run))
    event = {"status": "success", "job_name": f"op-{run.key}"}

    resumed = processing_operator(build).execute_complete(context_of(run), event)

    assert resumed["Processing"]["ProcessingJobArn"] == first["Processing"]["ProcessingJobArn"]


def test_a_run_pins_the_jobs_image_tag_to_its_digest_in_ecr(bucket, aws_client):
    config = load_config()
    ecr, repository = aws_client("ecr"), f"jobs-{uuid.uuid4().hex[:8]}"
    ecr.create_repository(repositoryName=repository)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1,
                   "digest": "sha256:" + "1" * 64},
        "layers": [],
    }  # fmt: skip
    pushed = ecr.put_image(
        repositoryName=repository, imageManifest=json.dumps(manifest), imageTag="latest"
    )["image"]["imageId"]["imageDigest"]
    registry = f"{config.env.account_id}.dkr.ecr.{config.env.region}.amazonaws.com"

    def pinned(image_uri: str) -> str:
        config.__dict__["env"] = dataclasses.replace(config.env, image_uri=image_uri)
        return images.pinned_image(config)

    assert pinned(f"{registry}/{repository}:latest") == f"{registry}/{repository}@{pushed}"
    # a tag that was never pushed, or an image outside ECR, runs as configured
    assert pinned(f"{registry}/{repository}:v2") == f"{registry}/{repository}:v2"
    assert pinned("ghcr.io/team/jobs:latest") == "ghcr.io/team/jobs:latest"
