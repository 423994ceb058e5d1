"""What the training DAG's Python tasks do; the SageMaker jobs are requests in ``jobs``.

Every function takes the config and what the run has produced so far, and talks to AWS through
the Airflow connection named in the config (the amazon provider's hooks), so the same code runs
against AWS and the local AWS.
"""

from __future__ import annotations

import hashlib
import json
import logging
from urllib.parse import unquote_plus

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook
from airflow.sdk.exceptions import AirflowFailException

from . import packaging
from .config import ConfigError, PipelineConfig
from .gate import GateDecision, decide
from .registry import (
    ModelKindError,
    check_model_package_group,
    model_kind,
    model_package_request,
)
from .reports import EVALUATION_REPORT, data_docs_report
from .runs import Run, run_key

log = logging.getLogger(__name__)


def _s3(config: PipelineConfig) -> S3Hook:
    return S3Hook(aws_conn_id=config.env.aws_conn_id, region_name=config.env.region)


def _sagemaker(config: PipelineConfig):
    return SageMakerHook(aws_conn_id=config.env.aws_conn_id, region_name=config.env.region).conn


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def raw_data_from_asset_events(events) -> list[str]:
    """S3 URIs of the objects whose arrival triggered the run (S3 → SQS → AssetWatcher)."""
    uris = []
    for asset_events in (events or {}).values():
        for event in asset_events:
            payload = (event.extra or {}).get("payload", event.extra or {})
            for message in payload.get("message_batch", []):
                body = json.loads(message.get("Body", "{}"))
                for record in body.get("Records", []):
                    s3 = record.get("s3", {})
                    bucket, key = s3.get("bucket", {}).get("name"), s3.get("object", {}).get("key")
                    if bucket and key:
                        uris.append(f"s3://{bucket}/{unquote_plus(key)}")
    return uris


def resolve_run_inputs(config: PipelineConfig, context) -> Run:
    """Fix what this run trains on: the given URI, the object that triggered it, or the prefix.

    Several new objects (one SQS batch, or events queued while a run was active) train on the
    whole raw-data prefix, so none is left out. Records a digest of the training data's objects
    (keys, sizes, ETags) so the registered model names exactly the data it learned from.

    Before anything runs, the model package group must hold the kind of model this pipeline
    trains (problem type and target), and the threshold must be one the metric can reach: a
    run that could only end wrongly fails here, at once.
    """
    try:
        group = config.registry["model_package_group"]
        check_model_package_group(_sagemaker(config), group, model_kind(config))
        params = context["params"]
        threshold = params.get("metric_threshold")
        threshold = (
            config.metric_threshold
            if threshold is None
            else config.check_threshold(threshold, "the run's param metric_threshold")
        )
    except (ModelKindError, ConfigError) as error:
        raise AirflowFailException(str(error)) from error
    triggered_by = raw_data_from_asset_events(context.get("triggering_asset_events"))
    if params.get("raw_data_uri"):
        raw_data_uri = params["raw_data_uri"]
    elif len(triggered_by) == 1:
        raw_data_uri = triggered_by[0]
    else:
        raw_data_uri = config.raw_data_uri
        if triggered_by:
            log.info("%d new objects: training on %s", len(triggered_by), raw_data_uri)
    raw_data_uri, objects = _training_objects(config, raw_data_uri)
    digest = hashlib.sha256()
    for item in sorted(objects, key=lambda o: o["Key"]):
        digest.update(f"{item['Key']}\0{item['Size']}\0{item['ETag']}\n".encode())
    return Run(
        run_id=context["run_id"],
        key=run_key(context["run_id"]),
        artifact_root=config.artifact_root,
        raw_data_uri=raw_data_uri,
        raw_data_digest=digest.hexdigest(),
        metric_threshold=threshold,
        image_uri=pinned_image(config),
    )


def _training_objects(config: PipelineConfig, uri: str) -> tuple[str, list[dict]]:
    """The URI as the jobs will read it, and every object a job's ``S3Prefix`` input takes.

    A URI naming no object is a folder: it gets its trailing slash, so that ``data/raw`` does not
    also take ``data/raw_old/``.
    """
    bucket, prefix = _split(uri)
    s3 = _s3(config).get_conn()

    def listing(prefix: str) -> list[dict]:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [o for page in pages for o in page.get("Contents", []) if not o["Key"].endswith("/")]

    objects = listing(prefix)
    if prefix and not prefix.endswith("/") and all(o["Key"] != prefix for o in objects):
        prefix += "/"
        uri = f"s3://{bucket}/{prefix}"
        objects = [o for o in objects if o["Key"].startswith(prefix)]
    if not objects:
        raise AirflowFailException(f"No training data found under {uri}")
    return uri, objects


def package_code(config: PipelineConfig, run: Run) -> dict:
    """Upload the run's code and its manifest; return the manifest."""
    root = config.path.parent
    digest = run.image_uri.partition("@")[2] or None
    manifest = packaging.manifest(root, config.package, config.env.image_uri, digest)
    packaging.upload(_s3(config).get_conn(), run.layout, root, config.package, manifest)
    manifest["code_version"] = packaging.code_version(manifest)
    return manifest


def pinned_image(config: PipelineConfig) -> str:
    """The configured jobs' image as ``<repository>@<digest>`` when it is a tag in ECR."""
    from botocore.exceptions import BotoCoreError, ClientError

    image = config.env.image_uri or ""
    registry, _, path = image.partition("/")
    repository, _, tag = path.rpartition(":")
    if ".dkr.ecr." not in registry or not repository or "@" in image:
        return image
    ecr = AwsBaseHook(
        aws_conn_id=config.env.aws_conn_id, region_name=config.env.region, client_type="ecr"
    ).conn
    try:
        described = ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
    except ClientError as error:
        # not pushed to this account's ECR (the local AWS has no image): the jobs run the tag
        level = logging.INFO if _not_found(error) else logging.WARNING
        log.log(level, "Jobs run %s, not pinned to a digest: %s", image, error)
        return image
    except BotoCoreError as error:
        log.warning("Jobs run %s, not pinned to a digest: %s", image, error)
        return image
    return f"{registry}/{repository}@{described['imageDetails'][0]['imageDigest']}"


def _not_found(error) -> bool:
    return error.response["Error"]["Code"] in (
        "RepositoryNotFoundException",
        "ImageNotFoundException",
    )


def check_gate(config: PipelineConfig, run: Run) -> dict:
    """Fail the run at once, naming the metric and threshold, if the model is not good enough."""
    bucket, key = _split(f"{run.layout.evaluation}/evaluation.json")
    evaluation = json.loads(_s3(config).read_key(key, bucket))
    decision = decide(evaluation, config.primary_metric, run.metric_threshold)
    if not decision.passed:
        raise AirflowFailException(decision.message)
    return {**decision.to_xcom(), "evaluation": evaluation}


def inference_image(config: PipelineConfig) -> str:
    """SageMaker's XGBoost framework image for this region, from the SageMaker SDK."""
    from sagemaker.core import image_uris

    registry = config.registry
    return image_uris.retrieve(
        registry["inference_framework"], config.env.region, registry["inference_framework_version"]
    )


def describe_model_version(config: PipelineConfig, run: Run, manifest: dict, gate: dict) -> dict:
    """The CreateModelPackage request for this run's model."""
    from .jobs import model_artifact

    decision = GateDecision.from_xcom(gate)
    return model_package_request(
        config,
        run,
        model_artifact=model_artifact(config, run),
        inference_image=inference_image(config),
        code_manifest=manifest,
        code_version=manifest["code_version"],
        decision=decision,
    )


def summarize(config: PipelineConfig, run: Run, gate: dict, package_arn: str) -> dict:
    """The run's outcome in one document, written to ``summary.json`` beside its artifacts."""
    s3 = _s3(config)
    checks = {}
    for suite in (config.data["raw_suite"], config.data["features_suite"]):
        bucket, key = _split(f"{run.layout.data_checks(suite)}/validation_result.json")
        result = json.loads(s3.read_key(key, bucket))
        statistics = result.get("statistics", {})
        checks[suite] = {
            "success": result.get("success"),
            "evaluated_expectations": statistics.get("evaluated_expectations"),
            "successful_expectations": statistics.get("successful_expectations"),
            "report": run.layout.uri(data_docs_report(suite)),
        }
    package = _sagemaker(config).describe_model_package(ModelPackageName=package_arn)
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
        "data_checks": checks,
        "metrics": metrics,
        "gate": gate["message"],
        "model_package_arn": package_arn,
        "model_package_version": package.get("ModelPackageVersion"),
        "approval_status": package["ModelApprovalStatus"],
        "reports": {
            "evaluation": run.layout.uri(EVALUATION_REPORT),
            **{f"data_checks_{name}": check["report"] for name, check in checks.items()},
        },
        "artifacts": run.layout.prefix,
    }
    bucket, key = _split(run.layout.summary)
    s3.load_string(json.dumps(summary, indent=2), key, bucket, replace=True)
    return summary


def summary_message(summary: dict) -> str:
    """The notification text: what a reviewer needs to decide on approval."""
    lines = [
        f"{summary['project']}: run {summary['run_id']} registered a version awaiting approval.",
        f"Gate: {summary['gate']}",
        f"Model package: {summary['model_package_arn']} ({summary['approval_status']})",
        "Metrics: " + ", ".join(f"{k}={v:.4g}" for k, v in sorted(summary["metrics"].items())),
        "Data checks: "
        + ", ".join(
            f"{name} {check['successful_expectations']}/{check['evaluated_expectations']} passed"
            for name, check in summary["data_checks"].items()
        ),
        f"Reports: {summary['reports']['evaluation']}",
        f"Artifacts: {summary['artifacts']}",
    ]
    return "\n".join(lines)
