"""The monitoring DAG run by dag.test() over what staging's endpoint captured.

A version the training DAG registered is promoted to staging (its own account, through
``ci.promote``); ``make traffic`` sends it requests through ``InvokeEndpoint``, plain or drifted,
with ground truth; each test runs the DAG over the window its traffic was sent in.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import pytest
import requests
from sqlalchemy import select

from ci.promote import cli
from {{ cookiecutter.package_name }}_pipeline.assets import drift_asset

from tests.conftest import AIRFLOW_HOME
from tests.support import PROJECT_ROOT
from tools import traffic
from tools.local_run import in_account, prepare_accounts, run_monitoring
from tools.project import config

pytestmark = pytest.mark.timeout(900)

ENVIRONMENT = "staging"


@pytest.fixture(scope="module")
def staging(account, run_dag, sample_data_uri, local_aws, tmp_path_factory):
    """Staging serving a version the training DAG registered, and its account's clients."""
    aws, _ = account
    cfg = config()
    trained = run_dag({"raw_data_uri": sample_data_uri})
    assert trained.succeeded, trained.failed_tasks
    package = trained.summary["model_package_arn"]
    sagemaker = aws.client("sagemaker")
    sagemaker.update_model_package(ModelPackageArn=package, ModelApprovalStatus="Approved")
    described = sagemaker.describe_model_package(ModelPackageName=package)
    sha = described["CustomerMetadataProperties"]["model_artifact_sha256"]
    prepare_accounts(local_aws.endpoint_url)

    pins = tmp_path_factory.mktemp("pins")
    for path in (PROJECT_ROOT / "ci" / "environments").glob("*.toml"):
        (pins / path.name).write_text(
            path.read_text().replace("wait_seconds = 300", "wait_seconds = 0")
        )
    with (pins / f"{ENVIRONMENT}.toml").open("a") as pin:
        pin.write(
            f'\n[[variants]]\nname = "primary"\npackage = "{package}"\n'
            f'model_sha256 = "{sha}"\ninstance_type = "ml.m5.large"\ninstance_count = 1\n'
        )
    with pytest.MonkeyPatch.context() as environ:
        environ.setenv("PIPELINE_PINS", str(pins))
        environ.setenv("AWS_ENDPOINT_URL", local_aws.endpoint_url)
        assert cli.main(["--pins", str(pins), "apply", "--env", ENVIRONMENT]) == 0
        environ.delenv("AWS_ENDPOINT_URL")
        environment = cfg.environment(ENVIRONMENT)
        session = in_account(local_aws.endpoint_url, environment.account_id, environment.region)
        clients = {
            name: session.client(name, endpoint_url=local_aws.endpoint_url)
            for name in ("s3", "sqs", "sns", "cloudwatch", "sagemaker")
        }
        inbox = clients["sqs"].create_queue(QueueName="monitoring-inbox")["QueueUrl"]
        arn = clients["sqs"].get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])
        clients["sns"].subscribe(
            TopicArn=environment.topic_arn(cfg.notifications.topic_name),
            Protocol="sqs",
            Endpoint=arn["Attributes"]["QueueArn"],
            Attributes={"RawMessageDelivery": "true"},
        )
        yield {"aws": aws, "clients": clients, "inbox": inbox, "trained": trained}


def send(staging, *args: str) -> tuple[datetime, datetime]:
    """``make traffic`` to staging; the window it was sent in."""
    start = datetime.now(UTC) - timedelta(seconds=1)  # capture keeps milliseconds only
    arguments = ["--env", ENVIRONMENT, "--wait", "60", *args]
    assert traffic.main(arguments, staging["aws"].endpoint_url) == 0
    return start, datetime.now(UTC) + timedelta(seconds=1)


def monitored(staging, window) -> tuple[str, dict, dict | None]:
    """Run the DAG over ``window``: its state, the staging variant's result, the drift event."""
    before = drift_events()
    dag_run = run_monitoring(staging["aws"], AIRFLOW_HOME, *window)
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    alert = next(
        ti for ti in dag_run.get_task_instances() if ti.task_id == "monitor_endpoint.alert"
    )
    found = alert.xcom_pull(task_ids="monitor_endpoint.alert", map_indexes=alert.map_index)
    # the button the UI shows on the check task: the link its worker stored
    found["link"] = alert.xcom_pull(
        task_ids="monitor_endpoint.check",
        map_indexes=alert.map_index,
        key="_link_report_monitoring_report",
    )
    events = drift_events()[len(before) :]
    return str(dag_run.state), {**found, "states": states}, events


def drift_events() -> list[dict]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    asset = drift_asset(config())
    with create_session() as session:
        rows = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.name == asset.name)
            .order_by(AssetEvent.timestamp)
        ).all()
        return [row.extra for row in rows]


def alert_messages(staging) -> list[str]:
    sqs = staging["clients"]["sqs"]
    bodies = []
    for _ in range(3):
        answer = sqs.receive_message(
            QueueUrl=staging["inbox"], MaxNumberOfMessages=10, WaitTimeSeconds=1
        )
        for message in answer.get("Messages", []):
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=staging["inbox"], ReceiptHandle=message["ReceiptHandle"])
    return bodies


def checks(found: dict) -> set[tuple[str, str]]:
    return {(v["feature_name"], v["constraint_check_type"]) for v in found["violations"]}


def test_an_interval_with_no_capture_is_skipped_saying_so(staging):
    long_ago = datetime(2026, 1, 1, tzinfo=UTC)
    state, found, events = monitored(staging, (long_ago, long_ago + timedelta(hours=1)))

    assert state == "success"
    assert "no captured data" in found["skipped"] and "nothing to check" in found["skipped"]
    assert events == [] and found["states"]["retrain"] == "skipped"


def test_traffic_like_the_training_data_violates_nothing_and_retrains_nothing(staging):
    window = send(staging, "--rows", "300", "--seed", "11", "--labels")
    alert_messages(staging)  # drop older messages

    state, found, events = monitored(staging, window)

    assert state == "success"
    assert found["records"] == 300
    assert found["violations"] == [] and found["quality_violations"] == []
    assert events == [] and found["states"]["retrain"] == "skipped"
    assert alert_messages(staging) == []  # no violation, no alert (alarms stay OK)


@pytest.fixture(scope="module")
def drifted(staging):
    """Two features shifted in staging's traffic, with ground truth; the DAG over its window."""
    window = send(
        staging,
        "--rows", "300", "--seed", "12", "--labels",
        "--shift", "monthly_charges=60", "--shift", "support_calls=2",
    )  # fmt: skip
    state, found, events = monitored(staging, window)
    return {"window": window, "state": state, "found": found, "events": events}


@pytest.fixture(scope="module")
def retrained(drifted, run_dag):
    """The training run the drift event starts (on Airflow its schedule starts it: the
    end-to-end tier shows that; here it is given the event as that run receives it)."""
    (event,) = drifted["events"]
    return run_dag({"drift": event})


def test_two_shifted_features_alarm_alert_and_start_one_training_run_then_cool_down(
    staging, drifted
):
    cfg = config()
    state, found, window = drifted["state"], drifted["found"], drifted["window"]

    assert state == "success"
    drift = {f for f, check in checks(found) if check == "baseline_drift_check"}
    assert drift == {"monthly_charges", "support_calls"}
    # Model Monitor's metrics, in the endpoint's account
    cloudwatch = staging["clients"]["cloudwatch"]
    endpoint = found["target"]["endpoint"]
    datapoints = cloudwatch.get_metric_statistics(
        Namespace=cfg.monitoring.metric_namespace,
        MetricName="feature_baseline_drift_monthly_charges",
        Dimensions=[
            {"Name": "Endpoint", "Value": endpoint},
            {"Name": "MonitoringSchedule", "Value": f"{cfg.slug}-primary"},
        ],
        StartTime=window[0] - timedelta(minutes=5),
        EndTime=datetime.now(UTC) + timedelta(minutes=5),
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    assert max(point["Maximum"] for point in datapoints) > 0.1
    # the feature's alarm, evaluated by the local CloudWatch when the minute it landed in closes
    alarm = f"{endpoint}-primary-drift-monthly_charges"
    deadline = time.monotonic() + 90
    while (
        state := cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"]
    ) != "ALARM" and time.monotonic() < deadline:
        time.sleep(1)
    assert state == "ALARM"
    messages = alert_messages(staging)
    listing = next(m for m in messages if "violates" in m or "baseline_drift_check" in m)
    assert "monthly_charges: baseline_drift_check" in listing and found["report"] in listing
    assert any(json.loads(m).get("AlarmName") == alarm for m in messages if m.startswith("{"))
    # the report people look at, beside the JSON files, and one click away from the task
    bucket, key = found["report"].removeprefix("s3://").split("/", 1)
    report = staging["clients"]["s3"].get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    link = found["link"]
    assert link.startswith(f"/reports/dags/{cfg.package}_monitoring?uri=")
    copy = unquote(link.partition("uri=")[2])
    bucket, key = copy.removeprefix("s3://").split("/", 1)
    assert staging["aws"].client("s3").get_object(Bucket=bucket, Key=key)["Body"].read() == (
        report.encode()
    )
    assert "monthly_charges" in report and "Model quality" in report and "<svg" in report
    assert "support_calls (distance" in report
    # one drift event, with the reason, and the window's labelled rows in dev for the run
    (event,) = drifted["events"]
    assert event["reason"] == "drift" and event["features"] == ["monthly_charges", "support_calls"]
    assert (event["environment"], event["endpoint"], event["report"]) == (
        ENVIRONMENT,
        endpoint,
        found["report"],
    )
    labelled = event["labelled_rows"]
    assert labelled.startswith(f"{cfg.artifact_root}/data/feedback/{ENVIRONMENT}/")
    bucket, key = labelled.removeprefix("s3://").split("/", 1)
    rows = staging["aws"].client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    assert rows.splitlines()[0].split(",")[-1] == cfg.data.target_column
    assert len(rows.splitlines()) == 301

    # the next interval drifts too, inside the cool-down: no second event; its alarms are the
    # baseline's still (none put again), and one that no longer is goes
    stale = f"{endpoint}-primary-drift-a_feature_no_longer_in_the_baseline"
    cloudwatch.put_metric_alarm(**{**_described(cloudwatch, alarm), "AlarmName": stale})
    again = send(staging, "--rows", "200", "--seed", "13", "--shift", "monthly_charges=60")
    state, found, events = monitored(staging, again)
    assert state == "success" and "baseline_drift_check" in {c for _, c in checks(found)}
    assert events == [] and found["states"]["retrain"] == "skipped"
    assert found["alarms_put"] == 0 and found["alarms_removed"] == [stale]
    assert cloudwatch.describe_alarms(AlarmNames=[stale])["MetricAlarms"] == []


def _described(cloudwatch, name: str) -> dict:
    """An alarm's PutMetricAlarm request, from its description."""
    (alarm,) = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    keys = (
        "AlarmName", "Namespace", "MetricName", "Dimensions", "Statistic", "Period",
        "EvaluationPeriods", "Threshold", "ComparisonOperator",
    )  # fmt: skip
    return {key: alarm[key] for key in keys}


def test_the_run_drift_starts_learns_from_the_labelled_window_and_says_why(
    staging, drifted, retrained
):
    (event,) = drifted["events"]

    assert retrained.succeeded, retrained.failed_tasks
    summary, first = retrained.summary, staging["trained"].summary
    assert "monthly_charges, support_calls" in summary["started_by"]
    assert event["endpoint"] in summary["started_by"] and event["report"] in summary["started_by"]
    # the labelled capture drift brought, this window's among it
    feedback = f"{config().artifact_root}/data/feedback/"
    assert summary["labelled_capture"] == [feedback]
    assert event["labelled_rows"].startswith(feedback)
    assert "Started by drift" in retrained.notification
    sagemaker = staging["aws"].client("sagemaker")
    digests = [
        sagemaker.describe_model_package(ModelPackageName=arn)["CustomerMetadataProperties"][
            "training_data_sha256"
        ]
        for arn in (first["model_package_arn"], summary["model_package_arn"])
    ]
    assert digests[0] != digests[1]


def test_drift_with_nothing_new_to_learn_from_registers_nothing(
    staging, drifted, retrained, run_dag, capfd
):
    """The same drift again, with no labelled row of its own: the raw data and the labelled
    capture are what the version the first drift trained learned from."""
    (event,) = drifted["events"]
    sagemaker = staging["aws"].client("sagemaker")
    group = config().registry.model_package_group

    def versions() -> int:
        return len(
            sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
        )

    before = versions()
    outcome = run_dag({"drift": {**event, "labelled_rows": None}})

    assert outcome.state == "success" and outcome.summary is None
    assert versions() == before
    assert "nothing new to learn from" in capfd.readouterr().out


def test_noisy_ground_truth_is_a_model_quality_violation_and_has_its_alarm(staging):
    cfg = config()
    # a share of labels flipped, or for regression a relative noise of 500 %
    noise = "0.45" if cfg.problem_type == "binary_classification" else "5"
    window = send(staging, "--rows", "300", "--seed", "15", "--labels", "--label-noise", noise)

    _, found, events = monitored(staging, window)

    metric = cfg.primary_metric.name
    assert [v["metric_name"] for v in found["quality_violations"]] == [metric]
    assert found["violations"] == [] and events == []  # model quality alone retrains nothing
    assert f"{found['target']['endpoint']}-primary-quality-{metric}" in found["alarms"]


def test_a_new_category_and_a_key_left_out_of_requests_are_violations(staging):
    window = send(
        staging,
        "--rows", "300", "--seed", "14", "--category", "region=atlantis:0.5",
        "--drop", "support_calls",
    )  # fmt: skip

    _, found, _ = monitored(staging, window)

    assert ("region", "categorical_values_check") in checks(found)
    assert ("support_calls", "missing_column_check") in checks(found)


def test_the_watch_role_is_granted_exactly_what_monitoring_used(local_aws):
    """Least privilege, measured: the monitor policy of the watch role against what its
    sessions did in this module's runs (promotion's own policy is measured beside it)."""
    from tests.ci.test_promotion import granted_actions

    name = config().environment(ENVIRONMENT).watch_role_name
    recorded = requests.get(f"{local_aws.endpoint_url}/_local_aws/role-actions", timeout=10).json()
    used = {a for arn, acts in recorded.items() if arn.endswith(f":role/{name}") for a in acts}
    granted = granted_actions("WatchRole")
    assert used - granted == set(), "the watch role used actions it is not granted"
    monitor = granted_actions("WatchRole", policy="monitor")
    assert monitor - used == set(), "the monitor policy grants actions monitoring never used"
