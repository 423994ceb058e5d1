"""Every request the pipeline sends passes the checks AWS applies (from its service model)."""

import pytest

from {{ cookiecutter.package_name }}_pipeline import job_requests as jobs
from {{ cookiecutter.package_name }}_pipeline.config import PipelineConfig
from {{ cookiecutter.package_name }}_pipeline.gate import GateDecision
from {{ cookiecutter.package_name }}_pipeline.registry import model_package_request
from {{ cookiecutter.package_name }}_pipeline.runs import Run, run_key

from local_aws.validation import RequestInfo, validate
from tests.support import PROJECT_ROOT

RUN_ID = "asset_triggered__2026-11-26T09:30:15.123456+00:00"


@pytest.fixture(params=["dev", "local"])
def config(request) -> PipelineConfig:
    return PipelineConfig.load(PROJECT_ROOT / "pipeline.toml", environment=request.param)


@pytest.fixture
def run(config) -> Run:
    return Run(
        run_id=RUN_ID,
        key=run_key(RUN_ID),
        artifact_root=config.artifact_root,
        raw_data_uri=config.raw_data_uri + "new data.csv",
        raw_data_digest="0" * 64,
        metric_threshold=0.5,
        image_uri=config.env.image_uri,
    )


def problems(operation: str, request: dict) -> list[str]:
    return validate(RequestInfo("sagemaker", operation, "json", request))


@pytest.mark.parametrize(
    "build",
    [
        jobs.raw_data_check_job,
        jobs.preprocess_job,
        jobs.features_check_job,
        jobs.evaluation_job,
    ],
)
def test_processing_job_requests_pass_sagemakers_checks(build, config, run):
    assert problems("CreateProcessingJob", build(config, run)) == []


def test_training_job_request_passes_sagemakers_checks(config, run):
    assert problems("CreateTrainingJob", jobs.training_job(config, run)) == []


def test_model_package_request_passes_sagemakers_checks(config, run):
    request = model_package_request(
        config,
        run,
        model_artifact=jobs.model_artifact(config, run),
        inference_image="683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0",
        code_manifest={"source_sha256": "1" * 64, "lock_sha256": "2" * 64},
        code_version="0" * 40,
        decision=GateDecision(
            metric="auc", value=0.9, threshold=0.5, higher_is_better=True, passed=True
        ),
    )

    assert problems("CreateModelPackage", request) == []


def test_every_job_of_a_run_reads_and_writes_under_the_run_prefix(config, run):
    request = jobs.preprocess_job(config, run)
    outputs = [o["S3Output"]["S3Uri"] for o in request["ProcessingOutputConfig"]["Outputs"]]

    assert all(uri.startswith(run.layout.prefix + "/") for uri in outputs)
    assert request["ProcessingInputs"][0]["S3Input"]["S3Uri"].startswith(run.layout.prefix)


def test_the_serving_image_in_the_config_is_the_sagemaker_sdks_for_the_region(config):
    """Kept in pipeline.toml so no task imports the SDK; it must stay the SDK's own answer."""
    from sagemaker.core import image_uris

    registry = config.registry
    try:
        expected = image_uris.retrieve(
            registry.inference_framework, config.env.region, registry.inference_framework_version
        )
    except ValueError:  # no such image in this region: the config says so, and runs refuse
        expected = ""

    assert registry.inference_image_uri == expected
