"""A run's outcome in one document, ``summary.json``, written beside its artifacts."""

from __future__ import annotations

import json

from .config import PipelineConfig
from .gate import GateDecision
from .hooks import s3_hook, sagemaker_client, split_s3_uri
from .reports import EVALUATION_REPORT, data_docs_report
from .runs import Run


def summarize(config: PipelineConfig, run: Run, gate: dict, package_arn: str) -> dict:
    """The run's outcome in one document, written to ``summary.json`` beside its artifacts."""
    s3 = s3_hook(config)
    checks = {}
    for suite in (config.data.raw_suite, config.data.features_suite):
        bucket, key = split_s3_uri(f"{run.layout.data_checks(suite)}/validation_result.json")
        result = json.loads(s3.read_key(key, bucket))
        statistics = result.get("statistics", {})
        checks[suite] = {
            "success": result.get("success"),
            "evaluated_expectations": statistics.get("evaluated_expectations"),
            "successful_expectations": statistics.get("successful_expectations"),
            "report": run.layout.uri(data_docs_report(suite)),
        }
    package = sagemaker_client(config).describe_model_package(ModelPackageName=package_arn)
    evaluation = gate["evaluation"]
    metrics = {
        name: values["value"]
        for section in evaluation.values()
        for name, values in section.items()
        if isinstance(values, dict) and "value" in values
    }
    summary = {
        "project": config.slug,
        "run_id": run.run_id,
        "run_key": run.key,
        "training_data": run.raw_data_uri,
        **({"started_by": run.started_by} if run.started_by else {}),
        **({"labelled_capture": list(run.feedback_uris)} if run.feedback_uris else {}),
        "data_checks": checks,
        "metrics": metrics,
        "gate": GateDecision.from_xcom(gate).message,
        "model_package_arn": package_arn,
        "model_package_version": package.get("ModelPackageVersion"),
        "approval_status": package["ModelApprovalStatus"],
        "reports": {
            "evaluation": run.layout.uri(EVALUATION_REPORT),
            **{f"data_checks_{name}": check["report"] for name, check in checks.items()},
        },
        "artifacts": run.layout.prefix,
    }
    bucket, key = split_s3_uri(run.layout.summary)
    s3.load_string(json.dumps(summary, indent=2), key, bucket, replace=True)
    return summary
