"""SageMaker job requests, served by moto's control plane and executed by the job runner.

moto records processing and training jobs but marks them Completed at once and runs nothing. Here
``CreateProcessingJob``/``CreateTrainingJob`` keep moto's bookkeeping, then fix what moto gets
wrong (it drops ``Environment`` and ``ProcessingResources``, replaces ``MetricDefinitions``, and
overwrites a job that already exists) and hand the job to the runner; ``Stop*Job`` stop it.

The local AWS runs a job's command in this project's Python environment on this machine. What it
cannot reproduce is refused at creation with a message saying so, rather than run differently:
several instances, ``Pipe``/``FastFile`` input, managed spot, built-in algorithms, manifest files,
Athena/Redshift datasets, feature-store outputs and checkpoints. These are accepted and recorded
only (they have no effect on this machine): the container image, instance type and volume size,
VPC and network-isolation settings, KMS keys and tags.
"""

from __future__ import annotations

import json
import re
from pathlib import PurePosixPath

from moto.backends import get_backend
from moto.sagemaker.exceptions import ResourceInUseException, ValidationError
from moto.sagemaker.responses import SageMakerResponse

from local_aws.jobs.processing import ProcessingExecution
from local_aws.jobs.runner import JobRunner
from local_aws.jobs.training import TrainingExecution

NOT_EMULATED = "is not emulated by the local AWS, which runs one instance on this machine"
_ROLE_ARN = re.compile(r"^arn:(aws[\w-]*):iam::(\d{12}):role/(?:.+/)?([\w+=,.@-]+)$")

_runner: JobRunner | None = None


def install(runner: JobRunner) -> None:
    """Route moto's SageMaker job operations through ``runner`` (idempotent)."""
    global _runner
    _runner = runner
    if getattr(SageMakerResponse, "_local_aws_jobs", False):
        return
    original_processing = SageMakerResponse.create_processing_job
    original_training = SageMakerResponse.create_training_job

    def create_processing_job(self: SageMakerResponse):
        request = json.loads(self.body)
        name = request["ProcessingJobName"]
        backend = self.sagemaker_backend
        if name in backend.processing_jobs:
            raise ValidationError(
                "Job name must be unique within an AWS account and region, and a job with this "
                f"name already exists ({backend.processing_jobs[name].arn})"
            )
        _refuse_unsupported(_processing_refusals(request))
        _check_role(request["RoleArn"])
        result = original_processing(self)
        job = backend.processing_jobs[name]
        job.processing_job_status = "InProgress"
        job.processing_end_time = None
        job.processing_resources = request["ProcessingResources"]
        job.environment = request.get("Environment")
        _runner.submit(
            ProcessingExecution(_runner, self.current_account, self.region, name, request)
        )
        return result

    def create_training_job(self: SageMakerResponse):
        request = json.loads(self.body)
        name = request["TrainingJobName"]
        backend = self.sagemaker_backend
        if name in backend.training_jobs:
            raise ResourceInUseException(
                "Training job names must be unique within an AWS account and region, and a "
                f"training job with this name already exists ({backend.training_jobs[name].arn})"
            )
        _refuse_unsupported(_training_refusals(request))
        _check_role(request["RoleArn"])
        result = original_training(self)
        job = backend.training_jobs[name]
        job.algorithm_specification = request["AlgorithmSpecification"]
        job.environment = request.get("Environment")
        job.training_job_status = "InProgress"
        job.secondary_status = "Starting"
        job.secondary_status_transitions = [
            {
                "Status": "Starting",
                "StartTime": job.creation_time,
                "StatusMessage": "Preparing the instances for training",
            }
        ]
        job.final_metric_data_list = []
        job.training_start_time = job.training_end_time = job.model_artifacts = None
        _runner.submit(TrainingExecution(_runner, self.current_account, self.region, name, request))
        return result

    def stop_processing_job(self: SageMakerResponse):
        return _stop(self, "processing", "ProcessingJobName", "processing_job_status")

    def stop_training_job(self: SageMakerResponse):
        return _stop(self, "training", "TrainingJobName", "training_job_status")

    SageMakerResponse.create_processing_job = create_processing_job
    SageMakerResponse.create_training_job = create_training_job
    SageMakerResponse.stop_processing_job = stop_processing_job
    SageMakerResponse.stop_training_job = stop_training_job
    SageMakerResponse._local_aws_jobs = True


def _stop(response: SageMakerResponse, kind: str, name_param: str, status_attribute: str):
    from moto.core.responses import EmptyResult

    name = json.loads(response.body)[name_param]
    jobs = getattr(response.sagemaker_backend, f"{kind}_jobs")
    if name not in jobs:
        raise ValidationError(f"Could not find {kind} job '{name}'.")
    job = jobs[name]
    status = getattr(job, status_attribute)
    if status != "InProgress":
        raise ValidationError(
            f"The request was rejected because the {kind} job is in status {status}."
        )
    setattr(job, status_attribute, "Stopping")
    if kind == "training":
        job.secondary_status = "Stopping"
    _runner.stop(kind, response.current_account, response.region, name)
    return EmptyResult()


def _refuse_unsupported(problems: list[str]) -> None:
    if problems:
        raise ValidationError("; ".join(problems))


def _processing_refusals(request: dict) -> list[str]:
    problems = []
    cluster = request["ProcessingResources"]["ClusterConfig"]
    if cluster.get("InstanceCount", 1) != 1:
        problems.append(f"ProcessingResources.ClusterConfig.InstanceCount > 1 {NOT_EMULATED}")
    if not request["AppSpecification"].get("ContainerEntrypoint"):
        problems.append(
            "AppSpecification.ContainerEntrypoint is required by the local AWS: it runs the "
            "job's command in the project environment and cannot read an image's entrypoint"
        )
    for item in request.get("ProcessingInputs", []):
        name = item.get("InputName")
        if "DatasetDefinition" in item:
            problems.append(f"ProcessingInputs {name!r}: DatasetDefinition {NOT_EMULATED}")
        s3_input = item.get("S3Input", {})
        if s3_input.get("S3InputMode", "File") != "File":
            problems.append(f"ProcessingInputs {name!r}: S3InputMode Pipe {NOT_EMULATED}")
        if s3_input.get("S3DataType", "S3Prefix") != "S3Prefix":
            problems.append(f"ProcessingInputs {name!r}: S3DataType ManifestFile {NOT_EMULATED}")
        if s3_input.get("S3CompressionType", "None") != "None":
            problems.append(f"ProcessingInputs {name!r}: S3CompressionType Gzip {NOT_EMULATED}")
        problems += _local_path_problems(f"ProcessingInputs {name!r}", s3_input)
    for item in request.get("ProcessingOutputConfig", {}).get("Outputs", []):
        problems += _local_path_problems(
            f"Outputs {item.get('OutputName')!r}", item.get("S3Output", {})
        )
        if "FeatureStoreOutput" in item:
            problems.append(
                f"Outputs {item.get('OutputName')!r}: FeatureStoreOutput {NOT_EMULATED}"
            )
    return problems


def _local_path_problems(subject: str, location: dict) -> list[str]:
    """SageMaker requires each LocalPath to be an absolute path under /opt/ml/processing/."""
    local_path = location.get("LocalPath")
    if local_path is None:
        return []
    parts = PurePosixPath(local_path).parts
    if parts[:4] != ("/", "opt", "ml", "processing") or len(parts) < 5 or ".." in parts:
        return [f"{subject}: LocalPath {local_path!r} must be a path under /opt/ml/processing/"]
    return []


def _training_refusals(request: dict) -> list[str]:
    problems = []
    algorithm = request["AlgorithmSpecification"]
    if "AlgorithmName" in algorithm:
        problems.append(
            "AlgorithmSpecification.AlgorithmName: built-in and marketplace algorithms are not "
            "emulated by the local AWS; use a TrainingImage with script mode"
        )
    if algorithm.get("TrainingInputMode", "File") != "File":
        problems.append(f"TrainingInputMode {algorithm['TrainingInputMode']} {NOT_EMULATED}")
    resources = request["ResourceConfig"]
    if resources.get("InstanceCount", 1) != 1 or "InstanceGroups" in resources:
        problems.append(f"ResourceConfig with more than one instance {NOT_EMULATED}")
    if request.get("EnableManagedSpotTraining"):
        problems.append(f"EnableManagedSpotTraining {NOT_EMULATED}")
    if "CheckpointConfig" in request:
        problems.append(f"CheckpointConfig {NOT_EMULATED}")
    for channel in request.get("InputDataConfig", []):
        name = channel.get("ChannelName")
        source = channel.get("DataSource", {})
        if "S3DataSource" not in source:
            problems.append(
                f"Channel {name!r}: only S3DataSource {NOT_EMULATED.replace('is not', 'is')}"
            )
            continue
        if source["S3DataSource"].get("S3DataType", "S3Prefix") != "S3Prefix":
            problems.append(f"Channel {name!r}: S3DataType other than S3Prefix {NOT_EMULATED}")
        if channel.get("InputMode", "File") != "File":
            problems.append(f"Channel {name!r}: InputMode {channel['InputMode']} {NOT_EMULATED}")
        if channel.get("CompressionType", "None") != "None":
            problems.append(f"Channel {name!r}: CompressionType Gzip {NOT_EMULATED}")
    return problems


def _check_role(role_arn: str) -> None:
    """SageMaker assumes the execution role at creation; a role it cannot assume is refused."""
    refusal = ValidationError(
        f"Could not assume role {role_arn}. Please ensure that the role exists and allows "
        "principal 'sagemaker.amazonaws.com' to assume the role."
    )
    match = _ROLE_ARN.match(role_arn)
    if not match:
        raise refusal
    iam = get_backend("iam")[match.group(2)][match.group(1)]
    try:
        role = iam.get_role_by_arn(role_arn)
    except Exception as error:  # moto raises IAMNotFoundException
        raise refusal from error
    if "sagemaker.amazonaws.com" not in (role.assume_role_policy_document or ""):
        raise refusal
