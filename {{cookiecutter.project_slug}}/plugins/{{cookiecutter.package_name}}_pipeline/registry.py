"""The Model Registry request for a run's model: what it is, how good it is, where it came from.

The version is registered ``PendingManualApproval`` with SageMaker's own ``ModelMetrics`` and
``DriftCheckBaselines`` pointing at the run's files (evaluation.json; the training data's
Model Monitor statistics and constraints), and the run's provenance in ``MetadataProperties`` and
``CustomerMetadataProperties``: commit, DAG run, training data digest, lock file and image.
"""

from __future__ import annotations

import unicodedata
import uuid

from .config import PipelineConfig
from .gate import GateDecision
from .runs import Run

APPROVAL_STATUS = "PendingManualApproval"
#: CustomerMetadataProperties values: at most 256 letters, numbers, spaces and ``_.:/=+-@``.
METADATA_VALUE_MAX = 256
_METADATA_PUNCTUATION = set("_.:/=+-@")


def metadata_value(text: str) -> str:
    """``text`` as SageMaker accepts it in CustomerMetadataProperties.

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
    config_group = config.registry["model_package_group"]
    layout = run.layout
    baseline = layout.preprocessed("baseline")
    data_quality = {
        "Statistics": _file(f"{baseline}/statistics.json"),
        "Constraints": _file(f"{baseline}/constraints.json"),
    }
    content_types = config.registry["content_types"]
    return {
        "ModelPackageGroupName": config_group,
        "ModelPackageDescription": (
            f"{config.project['name']}: {decision.message} (run {run.run_id})"
        ),
        "ModelApprovalStatus": APPROVAL_STATUS,
        "InferenceSpecification": {
            "Containers": [
                {
                    "Image": inference_image,
                    "ModelDataUrl": model_artifact,
                    # The framework container serves the package's inference handlers.
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
            "ModelQuality": {"Statistics": _file(f"{layout.evaluation}/evaluation.json")},
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
