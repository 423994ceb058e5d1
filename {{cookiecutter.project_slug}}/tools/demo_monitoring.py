"""The third part of ``make demo``: drift in staging's traffic, found, alarmed and retrained on.

After promotion staging serves the version, capturing every request. Then, as on AWS:

1. ``make traffic`` sends staging drifted requests with their ground truth, and waits until the
   capture holds them: rows of the demo's table where two numeric features are both high (a
   segment of the population, so every value stays one the data checks accept);
2. the monitoring DAG runs over that window: the monitor job in staging's account finds the
   drift, writes its report and violations, puts the metrics and the alarms on them, and
   publishes the violations on staging's topic; its drift event names the window's labelled
   rows, copied to dev;
3. the feature's alarm goes to ``ALARM`` (CloudWatch evaluates it when its minute closes) and
   notifies the topic;
4. the training run the drift starts (on Airflow, the drift event starts it: the training DAG
   is scheduled on it; here the demo runs it with the event) learns from the raw data plus the
   labelled rows, and registers a version saying why it started.

The raw-data prefix is given the demo's table first, as scheduled and drift-started runs take
that prefix whole. The report is also saved to ``build/demo-monitoring-report.html``.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from {{ cookiecutter.package_name }}_pipeline.pins import PINS_FOLDER

from tools import traffic
from tools.local_run import (
    AWS,
    in_account,
    run_monitoring,
    run_training,
    upload_training_data,
)
from tools.project import PROJECT_ROOT, config

ENVIRONMENT = "staging"
#: Requests sent; the share of rows above which each drifted feature's values are taken.
ROWS = 300
MIN_ROWS = 100
QUANTILE = 0.6
ALARM_WAIT_SECONDS = 100


class MonitoringFailed(RuntimeError):
    """A step of the demo's monitoring did not do what it should; the message says which."""


@contextmanager
def _pins(folder: Path):
    """The monitoring DAG and ``make traffic`` reading the demo repository's pins."""
    saved = os.environ.get("PIPELINE_PINS")
    os.environ["PIPELINE_PINS"] = str(folder)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("PIPELINE_PINS", None)
        else:
            os.environ["PIPELINE_PINS"] = saved


def monitor(
    aws: AWS,
    airflow_home: Path,
    repository: Path,
    table: Path,
    inbox: str,
    traffic_table: Path | None = None,
    log=print,
) -> dict:
    """Drift staging's traffic, monitor it, and retrain on it; what each step did.

    ``table`` is the demo's training table; the traffic's rows come from ``traffic_table``
    (new rows, such as fresh sample data), else from ``table`` itself, when the retrained
    version has nothing new to learn from them (they are duplicates the preprocessing drops).
    """
    cfg = config()
    environment = cfg.environment(ENVIRONMENT)
    session = in_account(aws.endpoint_url, environment.account_id, environment.region)
    s3, sqs, sns, cloudwatch = (
        session.client(name, endpoint_url=aws.endpoint_url)
        for name in ("s3", "sqs", "sns", "cloudwatch")
    )
    alerts = _subscribe(sqs, sns, environment.topic_arn(cfg.notifications.topic_name))
    drifted, features = drifted_rows(traffic_table or table, cfg)
    with _pins(repository / PINS_FOLDER):
        log(
            f"\nDrifted traffic to {ENVIRONMENT}: rows whose {' and '.join(features)} are "
            f"above their {QUANTILE:.0%} quantile, with ground truth"
        )
        start = datetime.now(UTC) - timedelta(seconds=1)
        arguments = ["--env", ENVIRONMENT, "--data", str(drifted), "--rows", str(ROWS)]
        if traffic.main([*arguments, "--labels", "--wait", "90"], aws.endpoint_url) != 0:
            raise MonitoringFailed("make traffic failed (above)")
        end = datetime.now(UTC) + timedelta(seconds=1)

        log(f"Running the monitoring DAG over {start:%H:%M:%S}-{end:%H:%M:%S} UTC")
        dag_run = run_monitoring(aws, airflow_home, start, end)
    if str(dag_run.state) != "success":
        raise MonitoringFailed(f"the monitoring DAG ended {dag_run.state}")
    instances = dag_run.get_task_instances()
    found = next(
        found
        for ti in instances
        if ti.task_id == "monitor_endpoint.alert"
        and (found := ti.xcom_pull(task_ids=ti.task_id, map_indexes=ti.map_index))
        and found["target"]["environment"] == ENVIRONMENT
    )
    retrain = next(ti for ti in instances if ti.task_id == "retrain")
    event = retrain.xcom_pull(task_ids="retrain")
    for violation in found["violations"]:
        log(
            f"  {violation['feature_name']}: {violation['constraint_check_type']}: "
            f"{violation['description']}"
        )
    report = _save_report(s3, found["report"])
    log(f"  report: {found['report']} (saved as {report})")
    if not event:
        raise MonitoringFailed("the drift started no training run (the retrain task skipped)")

    alarm = f"{found['target']['endpoint']}-{found['target']['variant']}-drift-{features[0]}"
    log(f"Waiting for the alarm {alarm} (CloudWatch evaluates it when its minute closes)")
    state = _alarm_state(cloudwatch, alarm, "ALARM", ALARM_WAIT_SECONDS)
    log(f"  {alarm}: {state}")
    received = _drain(sqs, alerts)
    listing = next((m for m in received if "violates" in m or "baseline_drift_check" in m), "")
    log("  SNS alert on the topic:\n    " + listing.replace("\n", "\n    "))

    log("\nThe training run the drift starts (on Airflow its schedule starts it)")
    upload_training_data(aws, table)
    outcome = run_training(aws, inbox, airflow_home, conf={"drift": event})
    if not outcome.succeeded:
        raise MonitoringFailed(f"the drift-started run failed at {outcome.failed_tasks}")
    summary = outcome.summary
    log(f"  started by {summary['started_by']}")
    log(f"  registered {summary['model_package_arn']} ({summary['approval_status']})")
    return {
        "window": {"start": start.isoformat(), "end": end.isoformat()},
        "records": found["records"],
        "violations": found["violations"],
        "quality_violations": found["quality_violations"],
        "report": found["report"],
        "report_file": str(report),
        "alarm": {"name": alarm, "state": state},
        "alert": listing,
        "drift_event": event,
        "retraining": {
            "run_id": outcome.run_id,
            "started_by": summary["started_by"],
            "labelled_capture": summary["labelled_capture"],
            "model_package_arn": summary["model_package_arn"],
            "training_data": summary["training_data"],
        },
    }


def drifted_rows(table: Path, cfg) -> tuple[Path, list[str]]:
    """The table's rows where its two most varied numeric features are both above their
    ``QUANTILE`` (fewer features if it has fewer), in ``build/``; those features."""
    data = pd.read_csv(table)
    excluded = {cfg.data.target_column, *cfg.data.sensitive_columns}
    numeric = [
        column
        for column in data.select_dtypes("number").columns
        if column not in excluded and data[column].nunique() > 2
    ]
    if not numeric:
        raise MonitoringFailed(f"{table} has no numeric feature to drift")
    features = sorted(numeric, key=lambda column: -data[column].nunique())[:2]
    chosen = data
    for column in features:
        chosen = chosen[chosen[column] > data[column].quantile(QUANTILE)]
    if len(chosen) < MIN_ROWS:  # a small table: one feature's segment
        features = features[:1]
        chosen = data[data[features[0]] > data[features[0]].quantile(QUANTILE)]
    path = PROJECT_ROOT / "build" / "demo-drifted-traffic.csv"
    chosen.sample(min(ROWS, len(chosen)), random_state=0).to_csv(path, index=False)
    return path, features


def _subscribe(sqs, sns, topic: str) -> str:
    """A queue receiving the topic's messages (a person's e-mail on AWS)."""
    queue = sqs.create_queue(QueueName="demo-monitoring-alerts")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=arn["QueueArn"],
        Attributes={"RawMessageDelivery": "true"},
    )
    _drain(sqs, queue)
    return queue


def _drain(sqs, queue: str) -> list[str]:
    bodies = []
    while True:
        answer = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        if not answer.get("Messages"):
            return bodies
        for message in answer["Messages"]:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


def _alarm_state(cloudwatch, name: str, wanted: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        (alarm,) = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
        if alarm["StateValue"] == wanted or time.monotonic() > deadline:
            return alarm["StateValue"]
        time.sleep(2)


def _save_report(s3, uri: str) -> Path:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    path = PROJECT_ROOT / "build" / "demo-monitoring-report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    return path
