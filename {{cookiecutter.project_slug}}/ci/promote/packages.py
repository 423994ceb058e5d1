"""A model package version, checked in the registry it was approved in and copied to another.

Checks (``plan`` and ``apply``): the version exists, is ``Approved``, meets the environment's
metric floor (its ``evaluation.json``), and its model artifact, code tarball and every file its
``ModelMetrics`` / ``DriftCheckBaselines`` name still have the sha256 recorded at registration.

The copy (``apply``) re-uploads each of those files to the target environment's bucket (under its
KMS key, when ``kms_key_id`` names one), checking each digest on the way, and registers the
version in the target's group of the same name as ``Approved``, the source version and its
approval named in ``CustomerMetadataProperties``. Each step finds what an earlier, interrupted
run did: files already copied (their ``sha256`` metadata) are kept, and the copy is found by its
source ARN, so a second run copies nothing.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import ClientError

from {{ cookiecutter.package_name }}_pipeline.config import Environment, PipelineConfig
from {{ cookiecutter.package_name }}_pipeline.registry import SOURCE_KEY, find_copy

from .accounts import PromotionError

CHUNK = 1 << 20
#: What a copy's container keeps; anything else naming a location (``ModelDataSource``,
#: ``AdditionalS3DataSource``) would still point into the source account: refused.
CONTAINER_FIELDS = ("Image", "ModelDataUrl", "Environment", "Framework", "FrameworkVersion")
UNCOPIED_CONTAINER_FIELDS = ("ModelDataSource", "AdditionalS3DataSource", "ModelInput")


def not_found(error: ClientError) -> bool:
    """Whether SageMaker's error says the thing does not exist (not: denied, throttled)."""
    message = error.response["Error"].get("Message", "")
    return error.response["Error"]["Code"] in ("ResourceNotFound", "ValidationException") and (
        "does not exist" in message or "not found" in message.lower() or "Could not find" in message
    )


def split_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def sha256_of(s3, uri: str, into: Path | None = None) -> str:
    """The object's sha256, read in chunks (and written to ``into`` when given)."""
    bucket, key = split_uri(uri)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    except ClientError as error:
        raise PromotionError(
            f"cannot read {uri} ({error.response['Error']['Code']}): the version names a file "
            "that is gone or that the role may not read"
        ) from error
    digest = hashlib.sha256()
    with open(into, "wb") if into else _Discard() as sink:
        for chunk in body.iter_chunks(CHUNK):
            digest.update(chunk)
            sink.write(chunk)
    return digest.hexdigest()


class _Discard:
    def write(self, _data: bytes) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *_exc) -> None:
        pass


@dataclass(frozen=True)
class PackageFile:
    """A file a version names: where, its recorded digest, and its name in a copy."""

    role: str
    uri: str
    sha256: str


def package_files(package: dict) -> list[PackageFile]:
    """Every file the version names, with the digest registration recorded for it."""
    container = package["InferenceSpecification"]["Containers"][0]
    recorded = package.get("CustomerMetadataProperties", {})
    where = package["ModelPackageArn"]
    missing = [
        key for key in ("model_artifact_sha256", "source_tarball_sha256") if key not in recorded
    ]
    if missing:
        raise PromotionError(
            f"{where} was registered without the digests promotion checks ({', '.join(missing)}"
            "): train and register it again with this version of the pipeline"
        )
    files = [
        PackageFile("model.tar.gz", container["ModelDataUrl"], recorded["model_artifact_sha256"]),
        PackageFile(
            "source.tar.gz",
            container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"],
            recorded["source_tarball_sha256"],
        ),
    ]
    for section in ("ModelMetrics", "DriftCheckBaselines"):
        for kind, entries in package.get(section, {}).items():
            for name, entry in entries.items():
                digest = entry.get("ContentDigest", "")
                if not digest.lower().startswith("sha256:"):
                    raise PromotionError(
                        f"{where}: {section}.{kind}.{name} has no sha256 ContentDigest: "
                        "register the version again with this version of the pipeline"
                    )
                if any(file.uri == entry["S3Uri"] for file in files):
                    continue  # a file named twice (a baseline is also a metric) is one file
                suffix = Path(split_uri(entry["S3Uri"])[1]).suffix
                files.append(
                    PackageFile(f"{section}/{kind}/{name}{suffix}", entry["S3Uri"], digest[7:])
                )
    return files


def describe(sagemaker, arn: str, registry: str) -> dict:
    try:
        return sagemaker.describe_model_package(ModelPackageName=arn)
    except ClientError as error:
        if not_found(error):
            raise PromotionError(
                f"{arn} is not in {registry}'s registry: pin a version that exists "
                f"({error.response['Error']['Message']})"
            ) from error
        raise


def check_approved(package: dict) -> None:
    status = package["ModelApprovalStatus"]
    arn = package["ModelPackageArn"]
    if status == "Rejected":
        raise PromotionError(
            f"{arn} was rejected ({package.get('ApprovalDescription') or 'no reason given'}): "
            "pin an approved version instead"
        )
    if status != "Approved":
        raise PromotionError(
            f"{arn} is {status}, not Approved: a reviewer approves it first "
            f"(python -m ci.promote approve --version {package['ModelPackageVersion']} "
            '--reason "...")'
        )


def check_digests(s3, package: dict) -> list[PackageFile]:
    """Every file of the version, each checked against its recorded sha256."""
    files = package_files(package)
    for file in files:
        actual = sha256_of(s3, file.uri)
        if actual != file.sha256:
            raise PromotionError(
                f"{file.uri} ({file.role} of {package['ModelPackageArn']}) has changed since "
                f"registration: sha256 {actual}, recorded {file.sha256}. Refusing to promote "
                "a file that is not what was reviewed; register a new version instead"
            )
    return files


def check_pinned_digest(package: dict, variant, pin) -> None:
    """The model the registry names is the one the pin's pull request reviewed."""
    if variant.model_sha256 is None:
        return
    recorded = package["CustomerMetadataProperties"]["model_artifact_sha256"]
    if recorded != variant.model_sha256:
        raise PromotionError(
            f"{pin.path}: variant {variant.name} pins the model sha256 {variant.model_sha256}, "
            f"but {package['ModelPackageArn']} now records {recorded}: the version was changed "
            "after its pull request was reviewed. Find out who changed it (the registry's "
            "LastModifiedBy); to deploy it anyway, put the new digest in the pin by pull request"
        )


def evaluation_metrics(s3, package: dict) -> dict[str, float]:
    """The metrics of the version's ``evaluation.json`` (SageMaker's model-quality shape)."""
    source = package.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics")
    if not source:
        raise PromotionError(
            f"{package['ModelPackageArn']} names no ModelMetrics.ModelQuality.Statistics: "
            "there is no evaluation to check the floor against"
        )
    bucket, key = split_uri(source["S3Uri"])
    document = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    return {
        name: float(value["value"])
        for section, metrics in document.items()
        if section.endswith("_metrics") and isinstance(metrics, dict)
        for name, value in metrics.items()
        if isinstance(value, dict) and isinstance(value.get("value"), int | float)
    }


def check_floor(s3, package: dict, floor: dict[str, float], config: PipelineConfig, pin) -> None:
    if not floor:
        return
    metrics = evaluation_metrics(s3, package)
    for name, bound in floor.items():
        if name not in metrics:
            raise PromotionError(
                f"{pin.path}: [floor] {name} is not a metric of the version's evaluation.json "
                f"({', '.join(sorted(metrics))})"
            )
        higher_is_better = config.metric(name).higher_is_better
        value = metrics[name]
        if not math.isfinite(value) or ((value < bound) if higher_is_better else (value > bound)):
            word = "at least" if higher_is_better else "at most"
            raise PromotionError(
                f"{package['ModelPackageArn']} scores {name} {value:.6g}; {pin.environment} "
                f"demands {word} {bound:g} ({pin.path} [floor])"
            )


def copy_version(
    source: dict,
    files: list[PackageFile],
    source_s3,
    target,
    environment: Environment,
    slug: str,
    log,
) -> tuple[str, bool]:
    """The version's copy in ``environment``'s registry (``target``: a boto3 session there),
    made unless an earlier run made it, and whether this run made it."""
    sagemaker, s3 = target.client("sagemaker"), target.client("s3")
    group, version = source["ModelPackageGroupName"], source["ModelPackageVersion"]
    existing = find_copy(sagemaker, group, source["ModelPackageArn"])
    if existing:
        _describe_approval(sagemaker, existing, source)  # an interrupted run may not have
        return existing, False
    _ensure_group(sagemaker, group, environment)
    prefix = f"s3://{environment.bucket}/{slug}/packages/{group}/{version}"
    moved = {file.uri: f"{prefix}/{file.role}" for file in files}
    for file in files:
        _copy_file(source_s3, s3, file, moved[file.uri], environment, log)
    request = _copy_request(source, moved, environment)
    arn = sagemaker.create_model_package(**request)["ModelPackageArn"]
    _describe_approval(sagemaker, arn, source)
    log(f"  registered {arn} (Approved) in {environment.name}")
    return arn, True


def _approver(source: dict) -> str:
    return (source.get("LastModifiedBy") or {}).get("IamIdentity", {}).get("Arn", "unknown")


def _describe_approval(sagemaker, arn: str, source: dict) -> None:
    """Say on the copy whose approval it carries (CreateModelPackage takes no description)."""
    copy = sagemaker.describe_model_package(ModelPackageName=arn)
    if copy.get("ApprovalDescription") and copy["ModelApprovalStatus"] == "Approved":
        return
    sagemaker.update_model_package(
        ModelPackageArn=arn,
        ModelApprovalStatus="Approved",
        ApprovalDescription=(
            f"Promoted from {source['ModelPackageArn']}, approved there by {_approver(source)}: "
            f"{source.get('ApprovalDescription') or 'no reason given'}"
        )[:1024],
    )


def _copy_file(source_s3, target_s3, file: PackageFile, uri: str, environment, log) -> None:
    bucket, key = split_uri(uri)
    try:
        head = target_s3.head_object(Bucket=bucket, Key=key)
        if head.get("Metadata", {}).get("sha256") == file.sha256:
            return  # copied by an earlier run
    except ClientError:
        pass
    with tempfile.TemporaryDirectory(prefix="promote-") as folder:
        local = Path(folder) / "file"
        actual = sha256_of(source_s3, file.uri, into=local)
        if actual != file.sha256:
            raise PromotionError(
                f"{file.uri} changed while it was copied (sha256 {actual}, recorded "
                f"{file.sha256}): nothing was registered; run apply again"
            )
        extra = {"Metadata": {"sha256": file.sha256}}
        if environment.kms_key_id:
            extra |= {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": environment.kms_key_id}
        target_s3.upload_file(str(local), bucket, key, ExtraArgs=extra)
    log(f"  copied {file.role} to {uri}")


def _ensure_group(sagemaker, group: str, environment: Environment) -> None:
    """The target's group is its infrastructure's (pipeline.yaml): the deploy role makes none."""
    try:
        sagemaker.describe_model_package_group(ModelPackageGroupName=group)
    except ClientError as error:
        if not not_found(error):
            raise
        raise PromotionError(
            f"{environment.name} has no model package group {group}: deploy "
            "ci/infrastructure/pipeline.yaml to its account first"
        ) from error


def _copy_request(source: dict, moved: dict[str, str], environment: Environment) -> dict:
    given = source["InferenceSpecification"]
    containers = []
    for container in given["Containers"]:
        unsupported = [key for key in UNCOPIED_CONTAINER_FIELDS if key in container]
        if unsupported:
            raise PromotionError(
                f"{source['ModelPackageArn']}'s container names {', '.join(unsupported)}: "
                "promotion copies ModelDataUrl and the code tarball only"
            )
        kept = {
            key: json.loads(json.dumps(container[key]))
            for key in CONTAINER_FIELDS
            if key in container
        }
        kept["ModelDataUrl"] = moved[kept["ModelDataUrl"]]
        code = kept.get("Environment", {}).get("SAGEMAKER_SUBMIT_DIRECTORY")
        if code in moved:
            kept["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] = moved[code]
        containers.append(kept)
    specification = {
        "Containers": containers,
        **{
            key: given[key]
            for key in ("SupportedContentTypes", "SupportedResponseMIMETypes")
            if key in given
        },
    }

    def moved_files(section: dict) -> dict:
        return {
            kind: {name: {**entry, "S3Uri": moved[entry["S3Uri"]]} for name, entry in files.items()}
            for kind, files in section.items()
        }

    metadata = {
        **source.get("CustomerMetadataProperties", {}),
        SOURCE_KEY: source["ModelPackageArn"],
        "source_approved_by": _approver(source)[-256:],
    }
    request = {
        "ModelPackageGroupName": source["ModelPackageGroupName"],
        "ModelPackageDescription": source.get("ModelPackageDescription", "")[:1000],
        "ModelApprovalStatus": "Approved",
        "InferenceSpecification": specification,
        "ModelMetrics": moved_files(source.get("ModelMetrics", {})),
        "DriftCheckBaselines": moved_files(source.get("DriftCheckBaselines", {})),
        "CustomerMetadataProperties": metadata,
        # One copy per source version and account, however often apply runs.
        "ClientToken": str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"{environment.account_id}/{source['ModelPackageArn']}")
        ),
    }
    for key in ("MetadataProperties", "Task"):
        if source.get(key):
            request[key] = source[key]
    request = {key: value for key, value in request.items() if value not in ({}, "")}
    text = json.dumps({k: v for k, v in request.items() if k != "CustomerMetadataProperties"})
    stale = [uri for uri in moved if uri in text]
    if stale:  # every location the copy names must be the target's
        raise PromotionError(f"the copy would still name {', '.join(stale)} in the source account")
    return request
