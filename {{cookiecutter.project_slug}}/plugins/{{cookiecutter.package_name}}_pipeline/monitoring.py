"""Monitoring the endpoints the pins deploy: a Model Monitor job per endpoint and interval, its
metrics and alarms in the endpoint's account, and the drift that retrains.

For each variant a pin file deploys (``ci/environments/<env>.toml``, capture on) the monitoring
DAG, through that environment's connection (its watch role):

1. finds the hours of capture in the data interval, under
   ``<capture destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/``; none is a skip, said so;
2. reads the version's baselines from the environment's copy of it in the Model Registry
   (``DriftCheckBaselines``; ``ModelMetrics.ModelQuality.Constraints``);
3. runs the monitor there as a processing job (``job_requests.monitoring_job``) with the
   interval's capture and ground truth (``<bucket>/<slug>/ground-truth/<endpoint>/``), writing
   Model Monitor's files and ``report.html`` to
   ``s3://<bucket>/<slug>/monitoring/<endpoint>/<variant>/<run key>/``;
4. puts the metrics the job wrote into CloudWatch, keeps one alarm per feature on
   ``feature_baseline_drift_<f>`` (and one on the gate's metric) in step with the baseline, and
   publishes the violations with the report's link on the environment's topic.

Then, over every endpoint, :func:`drift_decision` says whether violations meet ``[monitoring]``'s
rule outside the cool-down; the DAG turns a yes into an asset event the training DAG runs on,
and copies the drifted window's labelled rows into dev's ``data/feedback/`` for that run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .config import FEEDBACK_PREFIX, ConfigError, Environment, PipelineConfig
from .hooks import split_s3_uri
from .job_requests import MAX_INPUTS, monitoring_job, monitoring_schedule_name
from .packaging import source_files, tree_digest
from .pins import load_pin, pins_folder
from .registry import find_copy

log = logging.getLogger(__name__)

#: The environments whose pinned endpoints are monitored, the one drift counts most in first.
MONITORED = ("prod", "staging")
#: How long after a window's start its ground truth is looked for.
LABELS_WITHIN = timedelta(days=7)
#: Processing job states that are over.
FINISHED = ("Completed", "Failed", "Stopped")
#: What a monitoring job writes, below its output prefix.
VIOLATIONS, STATISTICS, REPORT = "constraint_violations.json", "statistics.json", "report.html"
QUALITY = "model_quality"
METRICS, LABELLED, HISTORY = "cloudwatch_metrics.json", "labelled.csv", "history.json"
#: Beside a variant's runs: the model quality of its last windows.
HISTORY_OBJECT = "model_quality_history.json"


class MonitoringFailed(RuntimeError):
    """A monitoring job failed: its reason is SageMaker's."""


@dataclass(frozen=True)
class Target:
    """One production variant a pin file deploys, in its environment."""

    environment: str
    endpoint: str
    variant: str
    #: The dev registry's version the variant serves.
    package: str
    capture_destination: str

    def to_xcom(self) -> dict:
        return asdict(self)


def targets(config: PipelineConfig, pins_dir: Path | None = None) -> list[dict]:
    """Every variant the pins deploy with capture on, in the monitored environments."""
    pins_dir = pins_dir or pins_folder(config.path)
    found = []
    for name in MONITORED:
        try:
            environment = config.environment(name)
            pin = load_pin(name, pins_dir)
        except ConfigError as error:
            log.info("%s is not monitored: %s", name, error)
            continue
        if not pin.variants:
            log.info("%s: %s deploys nothing yet", name, pin.path.name)
        elif not pin.capture.enabled:
            log.warning("%s: %s has capture off: nothing to monitor", name, pin.path.name)
        for variant in pin.variants if pin.capture.enabled else ():
            destination = (
                pin.capture.destination or f"s3://{environment.bucket}/{config.slug}/capture"
            )
            found.append(
                Target(name, pin.endpoint, variant.name, variant.package, destination).to_xcom()
            )
    return found


def hours(start: datetime, end: datetime) -> list[datetime]:
    """The hour partitions ``[start, end)`` touches."""
    moment = start.replace(minute=0, second=0, microsecond=0)
    found = []
    while moment < end:
        found.append(moment)
        moment += timedelta(hours=1)
    return found


def partitions(s3, prefix: str, start: datetime, end: datetime) -> dict[str, str]:
    """``yyyy/mm/dd/hh`` → ``<prefix>/yyyy/mm/dd/hh/`` for each hour partition of ``[start,
    end)`` that holds an object (a job's input must not be empty: SageMaker fails it)."""
    bucket, key = split_s3_uri(prefix.rstrip("/"))
    found: dict[str, str] = {}
    for hour in hours(start, end):
        partition = f"{hour:%Y/%m/%d/%H}"
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{key}/{partition}/", MaxKeys=1)
        if listed.get("KeyCount", 0):
            found[partition] = f"s3://{bucket}/{key}/{partition}/"
    return found


def fitted(found: dict[str, str], slots: int, earliest: bool = False) -> dict[str, str]:
    """Hour partitions as inputs, or their days when there are more hours than ``slots``
    (SageMaker's 10 inputs); with ``earliest``, only the earliest days that fit."""
    if len(found) <= slots:
        return found
    days = {}
    for partition, uri in found.items():
        day = partition.rsplit("/", 1)[0]
        days.setdefault(day, uri.rsplit("/", 2)[0] + "/")
    return dict(list(days.items())[: max(slots, 0)]) if earliest else days


def baselines(sagemaker, config: PipelineConfig, target: Target) -> dict[str, str | None]:
    """The URIs of the baselines and the image of the environment's copy of the version."""
    group = config.registry.model_package_group
    copy = find_copy(sagemaker, group, target.package)
    if copy is None:
        raise ConfigError(
            f"{target.environment} has no copy of {target.package} in its registry: was the pin "
            "applied (python -m ci.promote apply)?"
        )
    package = sagemaker.describe_model_package(ModelPackageName=copy)
    data_quality = package.get("DriftCheckBaselines", {}).get("ModelDataQuality", {})
    if not {"Statistics", "Constraints"} <= data_quality.keys():
        raise ConfigError(f"{copy} has no DriftCheckBaselines.ModelDataQuality to monitor against")
    quality = package.get("ModelMetrics", {}).get("ModelQuality", {}).get("Constraints", {})
    image = package.get("CustomerMetadataProperties", {}).get("image_uri", "none")
    return {
        "package": copy,
        "statistics": data_quality["Statistics"]["S3Uri"],
        "constraints": data_quality["Constraints"]["S3Uri"],
        "quality_constraints": quality.get("S3Uri"),
        "image": None if image == "none" else image,
    }


def upload_code(s3, config: PipelineConfig, bucket: str) -> str:
    """The package's code in ``bucket``, by its content (uploaded once): the monitor's."""
    root = config.path.parent / config.package
    files = source_files(root)
    prefix = f"{config.slug}/monitoring/code/{tree_digest(files, root)[:16]}"
    marker = f"{prefix}.complete"  # beside the folder: not part of the job's input
    if not s3.list_objects_v2(Bucket=bucket, Prefix=marker, MaxKeys=1).get("KeyCount"):
        for path in files:
            key = f"{prefix}/{config.package}/{path.relative_to(root).as_posix()}"
            s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        s3.put_object(Bucket=bucket, Key=marker, Body=b"")
    return f"s3://{bucket}/{prefix}/"


def output_prefix(
    config: PipelineConfig, environment: Environment, target: Target, key: str
) -> str:
    return (
        f"s3://{environment.bucket}/{config.slug}/monitoring/"
        f"{target.endpoint}/{target.variant}/{key}"
    )


def job_name(config: PipelineConfig, target: Target, key: str) -> str:
    """Fixed per run and variant, so that a retried task finds the job its try started."""
    digest = hashlib.sha256(f"{target.endpoint}/{target.variant}/{key}".encode()).hexdigest()[:10]
    return f"{config.slug[:40].rstrip('-')}-monitor-{digest}"


def run_monitor(
    config: PipelineConfig,
    target: dict,
    start: datetime,
    end: datetime,
    key: str,
    clients,
    log=log.info,
) -> dict:
    """Monitor one variant over ``[start, end)`` in its account (``clients(service)``: boto3
    clients there); what the job found, or ``skipped`` and why."""
    target = Target(**target)
    environment = config.environment(target.environment)
    sagemaker, s3 = clients("sagemaker"), clients("s3")
    found = {"target": target.to_xcom(), "start": start.isoformat(), "end": end.isoformat()}
    capture_prefix = f"{target.capture_destination.rstrip('/')}/{target.endpoint}/{target.variant}"
    # a request's record can land in the next hour's partition: it is read, then left out by
    # its inferenceTime as everything outside the window is
    capture = partitions(s3, capture_prefix, start, end + timedelta(hours=1))
    if not capture:
        found["skipped"] = (
            f"no captured data for {target.endpoint}/{target.variant} ({target.environment}) "
            f"from {start.isoformat()} to {end.isoformat()}: nothing to check"
        )
        log(found["skipped"])
        return found
    baseline = baselines(sagemaker, config, target)
    # SageMaker's 10 inputs: code, the baselines, the history, then capture (all of it, by
    # hour or else by day), then ground truth in what is left
    slots = MAX_INPUTS - 4 - bool(baseline["quality_constraints"])
    capture = fitted(capture, slots)
    # labels come after the predictions: those that came by now (within LABELS_WITHIN)
    truth_prefix = f"s3://{environment.bucket}/{config.slug}/ground-truth/{target.endpoint}"
    until = min(max(datetime.now(UTC), end), start + LABELS_WITHIN)
    ground_truth = fitted(
        partitions(s3, truth_prefix, start, until), slots - len(capture), earliest=True
    )
    output = output_prefix(config, environment, target, key)
    history = history_uri(config, environment, target)
    name = job_name(config, target, key)
    request = monitoring_job(
        config,
        name=name,
        image_uri=baseline["image"] or config.env.image_uri,
        code_uri=upload_code(s3, config, environment.bucket),
        endpoint=target.endpoint,
        variant=target.variant,
        capture=capture,
        start=start.isoformat(),
        end=end.isoformat(),
        statistics_uri=baseline["statistics"],
        constraints_uri=baseline["constraints"],
        output_uri=output,
        ground_truth=ground_truth,
        quality_constraints_uri=baseline["quality_constraints"],
        history_uri=history if ground_truth and _exists(s3, history) else None,
        environment=environment,
    )
    if _job_exists(sagemaker, name):
        log(f"{name} was started by an earlier try: waiting for it")
    else:
        sagemaker.create_processing_job(**request)
        log(
            f"started {name} over {len(capture)} partitions of {target.endpoint}'s capture "
            f"and {len(ground_truth)} of its ground truth"
        )
    job = wait_for_job(sagemaker, name, config.env.poll_interval_seconds)
    if job["ProcessingJobStatus"] != "Completed":
        reason = job.get("FailureReason") or job.get("ExitMessage")
        raise MonitoringFailed(f"{name} {job['ProcessingJobStatus']}: {reason}")
    written = _listed(s3, output)
    violations = _read_json(s3, f"{output}/{VIOLATIONS}")["violations"]
    statistics = _read_json(s3, f"{output}/{STATISTICS}")
    if not statistics["dataset"]["item_count"]:
        found["skipped"] = (
            f"no request to {target.endpoint}/{target.variant} ({target.environment}) was "
            f"captured from {start.isoformat()} to {end.isoformat()} (the hours' capture holds "
            f"others only): nothing to check, {output}/ says so"
        )
        log(found["skipped"])
        return found
    quality_violations = (
        _read_json(s3, f"{output}/{QUALITY}/{VIOLATIONS}")["violations"]
        if f"{QUALITY}/{VIOLATIONS}" in written
        else []
    )
    if f"{QUALITY}/{HISTORY}" in written:  # the next window's job adds to it
        copy_object(s3, s3, f"{output}/{QUALITY}/{HISTORY}", history)
    found |= {
        "job": name,
        "finished": job.get("ProcessingEndTime", datetime.now(UTC)).isoformat(),
        "package": baseline["package"],
        "output": output,
        "report": f"{output}/{REPORT}",
        "records": statistics["dataset"]["item_count"],
        "violations": violations,
        "quality_violations": quality_violations,
        "constraints": baseline["constraints"],
        # its alarms stay whether or not this window's labels came
        "quality_constraints": baseline["quality_constraints"],
        "labelled": f"{output}/{LABELLED}" if LABELLED in written else None,
        "metrics": [
            f"{output}/{name}" for name in (METRICS, f"{QUALITY}/{METRICS}") if name in written
        ],
    }
    log(
        f"{target.endpoint}/{target.variant}: {found['records']} records, "
        f"{len(violations)} data-quality and {len(quality_violations)} model-quality violations; "
        f"report {found['report']}"
    )
    return found


def history_uri(config: PipelineConfig, environment: Environment, target: Target) -> str:
    """The variant's model-quality metrics over its last windows (the report's "over time")."""
    return (
        f"s3://{environment.bucket}/{config.slug}/monitoring/{target.endpoint}/"
        f"{target.variant}/{HISTORY_OBJECT}"
    )


def _listed(s3, prefix: str) -> set[str]:
    """The keys below ``prefix``, relative to it (reading a missing key with a role that may not
    list everything is a 403, not a 404: list first)."""
    bucket, key = split_s3_uri(prefix.rstrip("/") + "/")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key)
    return {item["Key"][len(key) :] for page in pages for item in page.get("Contents", [])}


def _exists(s3, uri: str) -> bool:
    bucket, key = split_s3_uri(uri)
    return bool(s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("KeyCount"))


def _job_exists(sagemaker, name: str) -> bool:
    try:
        sagemaker.describe_processing_job(ProcessingJobName=name)
    except sagemaker.exceptions.ClientError as error:
        message = error.response["Error"].get("Message", "")
        if "does not exist" in message or "Could not find" in message:
            return False
        raise
    return True


def wait_for_job(sagemaker, name: str, poll_seconds: float) -> dict:
    while True:
        job = sagemaker.describe_processing_job(ProcessingJobName=name)
        if job["ProcessingJobStatus"] in FINISHED:
            return job
        time.sleep(poll_seconds)


def _read_json(s3, uri: str) -> dict:
    bucket, key = split_s3_uri(uri)
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


# --- metrics, alarms and alerts ------------------------------------------------------------


def publish(config: PipelineConfig, found: dict, clients, log=log.info) -> dict:
    """The job's metrics into CloudWatch, the alarms on them, and the alert when it found
    violations; ``found`` with the alarms' names."""
    if found.get("skipped"):
        return found
    target = Target(**found["target"])
    environment = config.environment(target.environment)
    s3, cloudwatch = clients("s3"), clients("cloudwatch")
    # stamped when published: an alarm evaluates each minute as it closes
    moment = datetime.now(UTC)
    for uri in found["metrics"]:
        request = _read_json(s3, uri)
        data = [{**datum, "Timestamp": moment} for datum in request["MetricData"]]
        for first in range(0, len(data), 1000):  # PutMetricData's limit per request
            cloudwatch.put_metric_data(
                Namespace=request["Namespace"], MetricData=data[first : first + 1000]
            )
    alarms = drift_alarms(config, environment, target, _read_json(s3, found["constraints"]))
    if found.get("quality_constraints"):
        alarms += quality_alarms(
            config, environment, target, _read_json(s3, found["quality_constraints"])
        )
    changed = put_alarms(cloudwatch, alarms)
    removed = remove_stale_alarms(cloudwatch, target, {alarm["AlarmName"] for alarm in alarms})
    log(
        f"{len(alarms)} alarms on {target.endpoint}/{target.variant}: {changed} created or "
        f"updated; {', '.join(removed) or 'none'} removed (no longer in the baseline)"
    )
    if found["violations"] or found["quality_violations"]:
        sns = clients("sns")
        sns.publish(
            TopicArn=environment.topic_arn(config.notifications.topic_name),
            Subject=f"{target.endpoint} ({target.environment}) violates its baseline"[:100],
            Message=alert_message(found),
        )
    return {
        **found,
        "alarms": [alarm["AlarmName"] for alarm in alarms],
        "alarms_put": changed,
        "alarms_removed": removed,
    }


def alert_message(found: dict) -> str:
    target = found["target"]
    lines = [
        f"Monitoring of {target['endpoint']}/{target['variant']} ({target['environment']}) from "
        f"{found['start']} to {found['end']}: {found['records']} captured records.",
        "",
    ]
    for violation in found["violations"]:
        lines.append(
            f"- {violation['feature_name']}: {violation['constraint_check_type']}: "
            f"{violation['description']}"
        )
    for violation in found["quality_violations"]:
        lines.append(f"- model quality: {violation['description']}")
    lines += ["", f"Report: {found['report']}", f"Results: {found['output']}/"]
    return "\n".join(lines)


def _dimensions(config: PipelineConfig, target: Target) -> list[dict]:
    return [
        {"Name": "Endpoint", "Value": target.endpoint},
        {"Name": "MonitoringSchedule", "Value": monitoring_schedule_name(config, target.variant)},
    ]


def drift_alarms(
    config: PipelineConfig, environment: Environment, target: Target, constraints: dict
) -> list[dict]:
    """``PutMetricAlarm`` requests: one a feature of the baseline, on its drift distance over
    the threshold the monitor flags at (the feature's own override first)."""
    config_section = constraints.get("monitoring_config", {})
    settings = config_section.get("distribution_constraints", {})
    if config_section.get("evaluate_constraints", "Enabled") != "Enabled":
        return []  # the monitor flags nothing: no alarm says otherwise
    alarms = []
    for feature in constraints["features"]:
        name = feature["name"]
        overrides = feature.get("monitoringConfigOverrides", {})
        if overrides.get("perform_comparison", settings.get("perform_comparison")) == "Disabled":
            continue
        numeric = feature["inferred_type"] in ("Integral", "Fractional")
        key = "comparison_threshold" if numeric else "categorical_comparison_threshold"
        threshold = float(overrides.get(key, settings.get(key, 0.1)))
        alarms.append(
            _alarm(
                config,
                environment,
                target,
                f"drift-{name}",
                config.monitoring.metric_namespace,
                f"feature_baseline_drift_{name}",
                threshold,
                "GreaterThanThreshold",
                f"Drift of {name} beyond {threshold:g} (L∞ against the training baseline)",
            )
        )
    return alarms


def quality_alarms(
    config: PipelineConfig, environment: Environment, target: Target, constraints: dict
) -> list[dict]:
    """One alarm a metric of the model-quality constraints, on the side the constraint holds."""
    section = f"{config.problem_type}_constraints"
    return [
        _alarm(
            config,
            environment,
            target,
            f"quality-{metric}",
            config.monitoring.quality_metric_namespace,
            metric,
            float(rule["threshold"]),
            rule["comparison_operator"],
            f"Model quality: {metric} {rule['comparison_operator']} {rule['threshold']:g}",
        )
        for metric, rule in constraints.get(section, {}).items()
    ]


def _alarm(config, environment, target, suffix, namespace, metric, threshold, operator, what):
    """An alarm on the datapoint each monitoring run puts: the minute it lands in decides, and
    the alarm keeps that verdict (missing data ignored) until the next run's."""
    return {
        "AlarmName": f"{target.endpoint}-{target.variant}-{suffix}"[:255],
        "AlarmDescription": (
            f"{what} on {target.endpoint}/{target.variant}, set by the monitoring DAG "
            f"{config.package}_monitoring: reports under s3://{environment.bucket}/"
            f"{config.slug}/monitoring/{target.endpoint}/{target.variant}/"
        )[:1024],
        "Namespace": namespace,
        "MetricName": metric,
        "Dimensions": _dimensions(config, target),
        "Statistic": "Maximum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "Threshold": threshold,
        "ComparisonOperator": operator,
        "TreatMissingData": "ignore",
        "AlarmActions": [environment.topic_arn(config.notifications.topic_name)],
    }


#: The fields of an alarm's description that a ``PutMetricAlarm`` request sets.
_ALARM_FIELDS = (
    "AlarmDescription",
    "Namespace",
    "MetricName",
    "Statistic",
    "Period",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "AlarmActions",
)


def put_alarms(cloudwatch, alarms: list[dict]) -> int:
    """Create the alarms, or update those that differ (an update keeps an alarm's state):
    how many were put."""
    existing = {}
    names = [alarm["AlarmName"] for alarm in alarms]
    for first in range(0, len(names), 100):  # DescribeAlarms takes 100 names
        pages = cloudwatch.get_paginator("describe_alarms").paginate(
            AlarmNames=names[first : first + 100], AlarmTypes=["MetricAlarm"]
        )
        for page in pages:
            existing |= {alarm["AlarmName"]: alarm for alarm in page["MetricAlarms"]}
    changed = 0
    for alarm in alarms:
        current = existing.get(alarm["AlarmName"])
        same = (
            current is not None
            and all(current.get(field) == alarm[field] for field in _ALARM_FIELDS)
            and sorted(map(str, current.get("Dimensions", [])))
            == sorted(map(str, alarm["Dimensions"]))
        )
        if not same:
            cloudwatch.put_metric_alarm(**alarm)
            changed += 1
    return changed


def remove_stale_alarms(cloudwatch, target: Target, wanted: set[str]) -> list[str]:
    """Delete the variant's drift and quality alarms that are no longer wanted (a feature that
    left the baseline, a metric the constraints no longer hold): they would keep their last
    state for ever. Names of its own making only: other alarms are left alone."""
    prefix = f"{target.endpoint}-{target.variant}-"
    pages = cloudwatch.get_paginator("describe_alarms").paginate(
        AlarmNamePrefix=prefix, AlarmTypes=["MetricAlarm"]
    )
    stale = [
        alarm["AlarmName"]
        for page in pages
        for alarm in page["MetricAlarms"]
        if alarm["AlarmName"] not in wanted
        and alarm["AlarmName"][len(prefix) :].startswith(("drift-", "quality-"))
    ]
    for first in range(0, len(stale), 100):  # DeleteAlarms takes 100 names
        cloudwatch.delete_alarms(AlarmNames=stale[first : first + 100])
    return stale


# --- drift that retrains -------------------------------------------------------------------


def drifted_features(config: PipelineConfig, found: dict) -> list[str]:
    """The features whose violations count towards retraining, if they meet the rule."""
    rule = config.monitoring
    features = sorted(
        {
            violation["feature_name"]
            for violation in found.get("violations", [])
            if violation["constraint_check_type"] in rule.retrain_checks
        }
    )
    return features if len(features) >= rule.retrain_min_features else []


def drift_decision(
    config: PipelineConfig, results: list[dict], last_event: datetime | None, now: datetime
) -> tuple[dict | None, str]:
    """The drift event to emit (its extra) over the monitored endpoints' results, or none;
    and why. The first endpoint that meets the rule (prod's before staging's) is the event's, the
    others are named in it; one event per cool-down, whichever endpoint drifts (every endpoint
    serves a version of the same model, which the run retrains)."""
    drifted = [(found, drifted_features(config, found)) for found in results if found]
    drifted = [(found, features) for found, features in drifted if features]
    if not drifted:
        return None, "no endpoint's violations meet the retraining rule"
    cooldown = timedelta(hours=config.monitoring.cooldown_hours)
    if last_event is not None and now - last_event < cooldown:
        return None, (
            f"drift on {', '.join(f['target']['endpoint'] for f, _ in drifted)}, but a drift "
            f"event at {last_event.isoformat()} is within the cool-down of "
            f"{config.monitoring.cooldown_hours:g} hours: no new run"
        )
    found, features = drifted[0]
    extra = {
        "reason": "drift",
        "environment": found["target"]["environment"],
        "endpoint": found["target"]["endpoint"],
        "variant": found["target"]["variant"],
        "interval": {"start": found["start"], "end": found["end"]},
        "features": features,
        "report": found["report"],
        "labelled_rows": None,
        "also": [
            f"{other['target']['endpoint']}/{other['target']['variant']}"
            for other, _ in drifted[1:]
        ],
    }
    return extra, (
        f"drift on {extra['endpoint']} ({extra['environment']}) in {', '.join(features)}: "
        "a training run follows"
    )


def feedback_uri(config: PipelineConfig, extra: dict) -> str:
    """Where, in dev's bucket, a drift event's labelled rows go (outside the raw prefix: they
    must not start a run of their own)."""
    start = extra["interval"]["start"].replace(":", "").replace("+0000", "Z")
    return (
        f"{config.artifact_root}/{FEEDBACK_PREFIX}/{extra['environment']}/{extra['endpoint']}/"
        f"{extra['variant']}/{start}.csv"
    )


def interval(context) -> tuple[datetime, datetime]:
    """The window a monitoring run checks, in UTC (capture's partitions are UTC hours): its
    params' ``start_time`` and ``end_time`` (UTC unless they say otherwise), else its data
    interval."""
    params = context["params"]
    given = [name for name in ("start_time", "end_time") if params.get(name)]
    if given:
        if len(given) == 1:
            raise ConfigError(f"only {given[0]} is given: a window needs start_time and end_time")
        moments = (datetime.fromisoformat(params[name]) for name in ("start_time", "end_time"))
        start, end = (m if m.tzinfo else m.replace(tzinfo=UTC) for m in moments)
    else:
        start, end = context["data_interval_start"], context["data_interval_end"]
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if start >= end:
        raise ConfigError(f"the window {start.isoformat()} to {end.isoformat()} is empty")
    return start, end


def copy_object(source_s3, target_s3, source: str, target: str) -> bytes:
    """Copy one object across accounts (read with one's credentials, written with the other's)."""
    bucket, key = split_s3_uri(source)
    body = source_s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    bucket, key = split_s3_uri(target)
    target_s3.put_object(Bucket=bucket, Key=key, Body=body)
    return body


def copy_labelled_rows(found_labelled: str, source_s3, target_s3, destination: str) -> int:
    """Copy the job's ``labelled.csv`` across accounts; how many rows it holds (0: none came,
    nothing copied)."""
    bucket, key = split_s3_uri(found_labelled)
    try:
        body = source_s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except source_s3.exceptions.NoSuchKey:
        return 0
    rows = max(len(body.decode().splitlines()) - 1, 0)
    if rows:
        bucket, key = split_s3_uri(destination)
        target_s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/csv")
    return rows
