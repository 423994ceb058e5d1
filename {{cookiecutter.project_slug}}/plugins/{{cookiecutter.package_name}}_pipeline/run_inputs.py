"""What a run trains on, fixed by its first task: the data, its digest, the threshold, the image.

The training data is the URI the run was given, else the object whose arrival started it (S3 →
SQS → asset watcher), else the whole raw-data prefix; its objects are listed as a job's
``S3Prefix`` input takes them, and their keys, sizes and ETags digested, so the registered model
names exactly the data it learned from.

A run on the whole raw-data prefix (scheduled, several new objects, or started by the monitoring
DAG's drift event) also learns from the labelled capture drift brought (``data/feedback/``, the
drift event's window among it), unless ``[monitoring] retrain_on_labelled_capture`` is off. A
drift-started run with nothing new to learn from (no labelled row in its window, and data a
version already learned from) says so and stops: it registers nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from urllib.parse import unquote_plus

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from .config import FEEDBACK_PREFIX, ConfigError, PipelineConfig
from .hooks import s3_hook, sagemaker_client, split_s3_uri
from .images import inference_image, pinned_image
from .registry import ModelKindError, check_model_package_group, model_kind
from .runs import Run, run_key

log = logging.getLogger(__name__)


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


def drift_from_asset_events(events) -> list[dict]:
    """The monitoring DAG's drift events among those that triggered the run (their extra)."""
    return [
        event.extra
        for asset_events in (events or {}).values()
        for event in asset_events
        if (event.extra or {}).get("reason") == "drift"
    ]


DRIFT_KEYS = ("environment", "endpoint", "interval", "features", "report")


def drift_reason(drifts: list[dict]) -> str:
    """What started the run, in words, for its summary and log."""
    for extra in drifts:
        missing = [key for key in DRIFT_KEYS if key not in extra]
        if missing:
            raise AirflowFailException(
                f"the drift event {extra} has no {', '.join(missing)}: give the monitoring "
                "DAG's retrain result as it is"
            )
    return "; ".join(
        f"drift in {', '.join(extra['features'])} on {extra['endpoint']} ({extra['environment']}) "
        f"from {extra['interval']['start']} to {extra['interval']['end']}, report {extra['report']}"
        for extra in drifts
    )


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
        image_uri = pinned_image(config)
        inference_image(config, image_uri)  # registering needs one: say so now, not at the end
        group = config.registry.model_package_group
        check_model_package_group(sagemaker_client(config), group, model_kind(config))
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
    drifts = drift_from_asset_events(context.get("triggering_asset_events"))
    drifts += [params["drift"]] if params.get("drift") else []
    drift_rows = [extra["labelled_rows"] for extra in drifts if extra.get("labelled_rows")]
    started_by = drift_reason(drifts)
    if started_by:
        log.info("started by %s", started_by)
    if params.get("raw_data_uri"):
        raw_data_uri = params["raw_data_uri"]
    elif len(triggered_by) == 1:
        raw_data_uri = triggered_by[0]
    else:
        raw_data_uri = config.raw_data_uri
        if triggered_by:
            log.info("%d new objects: training on %s", len(triggered_by), raw_data_uri)
    raw_data_uri, objects = training_objects(config, raw_data_uri)
    feedback = drift_rows
    if raw_data_uri == config.raw_data_uri and config.monitoring.retrain_on_labelled_capture:
        # the whole raw data: with every labelled window drift ever brought (drift's own too),
        # so that a later run does not forget what an earlier one learned from
        labelled = f"{config.artifact_root}/{FEEDBACK_PREFIX}/"
        feedback = [labelled] if _holds_objects(config, labelled) else drift_rows
    for uri in feedback:
        objects += training_objects(config, uri)[1]
    digest = hashlib.sha256()
    for item in sorted(objects, key=lambda o: o["Key"]):
        digest.update(f"{item['Key']}\0{item['Size']}\0{item['ETag']}\n".encode())
    if drifts and not drift_rows and not triggered_by and not params.get("raw_data_uri"):
        version = version_trained_on(config, digest.hexdigest())
        if version is not None:
            raise AirflowSkipException(
                f"Started by {started_by}, but there is nothing new to learn from: no row of "
                f"the drifted window has ground truth yet, and {raw_data_uri} holds the data "
                f"version {version} learned from. Nothing is trained or registered; label "
                "the drifted traffic (ground truth) or add data under the raw prefix."
            )
    return Run(
        run_id=context["run_id"],
        key=run_key(context["run_id"]),
        artifact_root=config.artifact_root,
        raw_data_uri=raw_data_uri,
        raw_data_digest=digest.hexdigest(),
        metric_threshold=threshold,
        image_uri=image_uri,
        feedback_uris=tuple(feedback),
        started_by=started_by,
    )


def _holds_objects(config: PipelineConfig, uri: str) -> bool:
    bucket, prefix = split_s3_uri(uri)
    listed = s3_hook(config).get_conn().list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
    return bool(listed.get("KeyCount"))


def version_trained_on(config: PipelineConfig, digest: str, newest: int = 100) -> int | None:
    """The newest of the group's last ``newest`` versions that learned from exactly this data."""
    sagemaker = sagemaker_client(config)
    pages = sagemaker.get_paginator("list_model_packages").paginate(
        ModelPackageGroupName=config.registry.model_package_group,
        SortBy="CreationTime",
        SortOrder="Descending",
        PaginationConfig={"MaxItems": newest},
    )
    for summary in (summary for page in pages for summary in page["ModelPackageSummaryList"]):
        package = sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
        if package.get("CustomerMetadataProperties", {}).get("training_data_sha256") == digest:
            return package["ModelPackageVersion"]
    return None


def training_objects(config: PipelineConfig, uri: str) -> tuple[str, list[dict]]:
    """The URI as the jobs will read it, and every object a job's ``S3Prefix`` input takes.

    A URI naming no object is a folder: it gets its trailing slash, so that ``data/raw`` does not
    also take ``data/raw_old/``.
    """
    bucket, prefix = split_s3_uri(uri)
    s3 = s3_hook(config).get_conn()

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
