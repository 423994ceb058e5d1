"""The Model Registry request for a run's model: what it is, how good it is, where it came from.

The version is registered ``PendingManualApproval`` with SageMaker's own ``ModelMetrics`` and
``DriftCheckBaselines`` pointing at the run's files (evaluation.json; the training data's
Model Monitor statistics and constraints), and the run's provenance in ``MetadataProperties`` and
``CustomerMetadataProperties``: commit, DAG run, training data digest, lock file and image.

Every file the version names carries its sha256, read back from S3 when it is registered: each
``ModelMetrics`` / ``DriftCheckBaselines`` file its ``ContentDigest``, the model artifact and the
code tarball ``model_artifact_sha256`` and ``source_tarball_sha256``. Promotion refuses to copy a
file whose bytes no longer match (``ci/promote``).

A group holds one kind of model. Its tags say which (``problem_type``, ``target_column``), each
version's ``Task`` says it again, and :func:`check_model_package_group` refuses to train or
register a model of another kind into it. AWS itself would accept such a version: the refusal is
the pipeline's.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
import uuid

from botocore.exceptions import ClientError

from .config import PipelineConfig
from .gate import GateDecision
from .hooks import split_s3_uri
from .images import inference_image
from .job_requests import model_artifact
from .runs import Run

APPROVAL_STATUS = "PendingManualApproval"
#: SageMaker's ``Task`` of a model package, for each problem type.
TASKS = {"binary_classification": "CLASSIFICATION", "regression": "REGRESSION"}
#: The CustomerMetadataProperties key of a promoted copy naming the dev version it copies.
SOURCE_KEY = "source_model_package"
#: The group's tags that say what its versions predict.
KIND_TAGS = ("problem_type", "target_column")


class ModelKindError(ValueError):
    """The model package group holds another kind of model than the pipeline would register."""


#: CustomerMetadataProperties values: at most 256 letters, numbers, spaces and ``_.:/=+-@``.
METADATA_VALUE_MAX = 256
_METADATA_PUNCTUATION = set("_.:/=+-@")


def metadata_value(text: str) -> str:
    """``text`` as SageMaker accepts it in CustomerMetadataProperties and tag values.

    Other characters become ``_`` and a longer text keeps its end (an S3 key's file name); the
    exact values are in the run's ``summary.json``, which the version's metrics point beside.
    """
    allowed = "".join(
        ch if unicodedata.category(ch)[0] in "LNZ" or ch in _METADATA_PUNCTUATION else "_"
        for ch in text
    )
    if len(allowed) > METADATA_VALUE_MAX:
        allowed = "..." + allowed[-(METADATA_VALUE_MAX - 3) :]
    return allowed


def _file(uri: str, content_type: str = "application/json") -> dict:
    return {"ContentType": content_type, "S3Uri": uri}


def model_package_request(
    config: PipelineConfig,
    run: Run,
    model_artifact: str,
    inference_image: str,
    code_manifest: dict,
    code_version: str,
    decision: GateDecision,
) -> dict:
    config_group = config.registry.model_package_group
    layout = run.layout
    baseline = layout.preprocessed("baseline")
    data_quality = {
        "Statistics": _file(f"{baseline}/statistics.json"),
        "Constraints": _file(f"{baseline}/constraints.json"),
    }
    content_types = config.registry.content_types
    return {
        "ModelPackageGroupName": config_group,
        "ModelPackageDescription": (
            f"{config.project.name}: {decision.message} (run {run.run_id})"
        ),
        "ModelApprovalStatus": APPROVAL_STATUS,
        "Task": TASKS[config.problem_type],
        "InferenceSpecification": {
            "Containers": [
                {
                    "Image": inference_image,
                    "ModelDataUrl": model_artifact,
                    # The serving contract of SageMaker's framework containers, which the
                    # package's model server (serve.py) follows too: the handlers' code.
                    "Environment": {
                        "SAGEMAKER_PROGRAM": "inference.py",
                        "SAGEMAKER_SUBMIT_DIRECTORY": layout.source_tarball,
                    },
                }
            ],
            "SupportedContentTypes": content_types,
            "SupportedResponseMIMETypes": content_types,
        },
        "ModelMetrics": {
            "ModelQuality": {
                "Statistics": _file(f"{layout.evaluation}/evaluation.json"),
                "Constraints": _file(model_quality_constraints_uri(run)),
            },
            "ModelDataQuality": data_quality,
        },
        "DriftCheckBaselines": {"ModelDataQuality": data_quality},
        "MetadataProperties": {
            "CommitId": code_version,
            "GeneratedBy": f"airflow:{config.training_dag_id}/{run.run_id}",
            "ProjectId": config.slug,
        },
        "CustomerMetadataProperties": {
            name: metadata_value(value)
            for name, value in {
                "run_key": run.key,
                "run_id": run.run_id,
                "training_data": run.raw_data_uri,
                "training_data_sha256": run.raw_data_digest,
                "source_sha256": code_manifest["source_sha256"],
                "lock_sha256": code_manifest["lock_sha256"] or "none",
                "image_uri": run.image_uri or "none",
                decision.metric: f"{decision.value:.6g}",
            }.items()
        },
        # AWS returns the same version for a repeated token (within its idempotency window).
        "ClientToken": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{config_group}/{run.key}")),
    }


def find_copy(sagemaker, group: str, source_arn: str) -> str | None:
    """The target registry's copy of ``source_arn``, if an earlier run made it."""
    try:
        sagemaker.describe_model_package_group(ModelPackageGroupName=group)
    except ClientError as error:
        if "does not exist" in error.response["Error"]["Message"]:
            return None  # no group yet: no copy either
        raise
    pages = sagemaker.get_paginator("list_model_packages").paginate(
        ModelPackageGroupName=group, SortBy="CreationTime", SortOrder="Descending"
    )
    for summary in (summary for page in pages for summary in page["ModelPackageSummaryList"]):
        described = sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
        source = described.get("CustomerMetadataProperties", {}).get(SOURCE_KEY, "")
        if source.lower() == source_arn.lower():  # SageMaker writes ARNs in lower case
            return summary["ModelPackageArn"]
    return None


def model_kind(config: PipelineConfig) -> dict[str, str]:
    """What this pipeline's models predict, as the group's tags say it.

    A label column may hold characters tags refuse (``income>50K``): they become ``_``.
    """
    return {
        "problem_type": config.problem_type,
        "target_column": metadata_value(config.data.target_column),
    }


def check_model_package_group(sagemaker, name: str, kind: dict[str, str]) -> str:
    """The group's ARN, once it is sure to hold the ``kind`` of model (``model_kind``).

    A missing group is created with the tags; an untagged one (created by hand or by an older
    pipeline) is tagged, unless a version's ``Task`` already says it holds another kind.
    """
    tags = [{"Key": key, "Value": value} for key, value in kind.items()]
    try:
        arn = sagemaker.describe_model_package_group(ModelPackageGroupName=name)[
            "ModelPackageGroupArn"
        ]
    except ClientError as error:
        if "does not exist" not in error.response["Error"]["Message"]:
            raise
        try:
            return sagemaker.create_model_package_group(
                ModelPackageGroupName=name,
                ModelPackageGroupDescription="Model versions registered by the training pipeline",
                Tags=tags,
            )["ModelPackageGroupArn"]
        except ClientError as create_error:
            if "already exists" not in create_error.response["Error"]["Message"]:
                raise
            return check_model_package_group(sagemaker, name, kind)  # created meanwhile
    found = {tag["Key"]: tag["Value"] for tag in _tags(sagemaker, arn) if tag["Key"] in KIND_TAGS}
    if any(found[key] != kind[key] for key in found):
        raise _refusal(name, ", ".join(f"{k} {v}" for k, v in sorted(found.items())), kind)
    if not found:
        other_tasks = _version_tasks(sagemaker, name) - {TASKS[kind["problem_type"]]}
        if other_tasks:
            raise _refusal(name, f"versions of Task {', '.join(sorted(other_tasks))}", kind)
    missing = [tag for tag in tags if tag["Key"] not in found]
    if missing:
        sagemaker.add_tags(ResourceArn=arn, Tags=missing)
    return arn


def _refusal(group: str, holds: str, kind: dict[str, str]) -> ModelKindError:
    wanted = ", ".join(f"{key} {value}" for key, value in sorted(kind.items()))
    return ModelKindError(
        f"The model package group {group!r} holds another kind of model ({holds}) than "
        f"pipeline.toml trains ({wanted}). A group holds one kind of model: to train this one, "
        "name a new group in [registry] model_package_group (the pipeline creates it); to keep "
        "this group, set [data] problem_type and target_column back to what it holds."
    )


def _tags(sagemaker, arn: str) -> list[dict]:
    pages = sagemaker.get_paginator("list_tags").paginate(ResourceArn=arn)
    return [tag for page in pages for tag in page.get("Tags", [])]


def _version_tasks(sagemaker, group: str) -> set[str]:
    """The ``Task`` of the group's newest versions (older pipelines registered without one)."""
    listed = sagemaker.list_model_packages(
        ModelPackageGroupName=group, SortBy="CreationTime", SortOrder="Descending", MaxResults=20
    )["ModelPackageSummaryList"]
    tasks = set()
    for summary in listed:
        package = sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
        if package.get("Task"):
            tasks.add(package["Task"])
    return tasks


def model_quality_constraints_uri(run: Run) -> str:
    return f"{run.layout.evaluation}/constraints.json"


def model_quality_constraints(problem_type: str, decision: GateDecision) -> dict:
    """Model Monitor's model-quality constraints: the gate's metric may not fall below (or, for
    lower-is-better metrics, rise above) the threshold the version was registered at."""
    operator = "LessThanThreshold" if decision.higher_is_better else "GreaterThanThreshold"
    return {
        "version": 0.0,
        f"{problem_type}_constraints": {
            decision.metric: {"threshold": decision.threshold, "comparison_operator": operator}
        },
    }


def describe_model_version(
    config: PipelineConfig, run: Run, manifest: dict, gate: dict, s3
) -> dict:
    """The CreateModelPackage request for this run's model, every file's digest in it; first
    the model-quality constraints the monitor holds the version to, beside its evaluation."""
    decision = GateDecision.from_xcom(gate)
    bucket, key = split_s3_uri(model_quality_constraints_uri(run))
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=json.dumps(model_quality_constraints(config.problem_type, decision), indent=2),
        ContentType="application/json",
    )
    request = model_package_request(
        config,
        run,
        model_artifact=model_artifact(config, run),
        inference_image=inference_image(config, run.image_uri),
        code_manifest=manifest,
        code_version=manifest["code_version"],
        decision=decision,
    )
    return with_digests(request, s3)


def with_digests(request: dict, s3) -> dict:
    """``request`` with the sha256 of every file it names, as S3 holds them now."""
    digests: dict[str, str] = {}
    for source in referenced_files(request):
        uri = source["S3Uri"]
        digests[uri] = digests.get(uri) or s3_sha256(s3, uri)
        source["ContentDigest"] = f"sha256:{digests[uri]}"
    container = request["InferenceSpecification"]["Containers"][0]
    request["CustomerMetadataProperties"].update(
        model_artifact_sha256=s3_sha256(s3, container["ModelDataUrl"]),
        source_tarball_sha256=s3_sha256(s3, container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"]),
    )
    return request


def referenced_files(package: dict) -> list[dict]:
    """The ``{"S3Uri", "ContentType", "ContentDigest"}`` entries of a version's metrics and
    baselines (``ModelMetrics``, ``DriftCheckBaselines``), in a request or a description."""
    found = []

    def visit(value):
        if isinstance(value, dict):
            if "S3Uri" in value:
                found.append(value)
            else:
                for item in value.values():
                    visit(item)

    visit(package.get("ModelMetrics", {}))
    visit(package.get("DriftCheckBaselines", {}))
    return found


def s3_sha256(s3, uri: str) -> str:
    """The hex sha256 of an S3 object, read in chunks."""
    bucket, key = split_s3_uri(uri)
    digest = hashlib.sha256()
    for chunk in s3.get_object(Bucket=bucket, Key=key)["Body"].iter_chunks(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()
