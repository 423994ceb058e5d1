"""
# {{ cookiecutter.project_name }}: monitoring

Checks what each deployed endpoint captured in the run's data interval against the training
baseline of the version it serves, as SageMaker Model Monitor does, in the endpoint's own
account; alarms and alerts on what it finds; and, when drift meets the rule in `pipeline.toml`'s
`[monitoring]`, starts a training run on data that is actually new.

    endpoints ─► monitor_endpoint[staging/primary, prod/primary, …]
                     (check ─► alert) ─► retrain

- **endpoints**: every variant `ci/environments/staging.toml` and `prod.toml` deploy with
  capture on.
- **check** (one per variant, in its account through its connection and watch role): a
  processing job with Model Monitor's container interface over the interval's capture (and
  ground truth, under `s3://<bucket>/<slug>/ground-truth/<endpoint>/`). It writes
  `statistics.json`, `constraint_violations.json`, model quality, and `report.html` under
  `s3://<bucket>/<slug>/monitoring/<endpoint>/<variant>/<run key>/`. An interval with no
  capture is skipped, saying so.
- **alert**: puts Model Monitor's metrics (`feature_baseline_drift_<f>`, …) into CloudWatch,
  keeps an alarm per feature (and on the gate's metric) that notifies the environment's topic,
  and publishes the violations with the report's link there.
- **retrain**: emits the drift asset event the training DAG is scheduled on (extra:
  environment, endpoint, interval, features, report, labelled rows), at most once per
  `cooldown_hours`; otherwise it is skipped, saying why.

**Runs** on `[monitoring] schedule` (`none`: by hand only), over the interval that just ended;
by hand with `start_time`/`end_time` for any window (the last hour, say).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG, CronDataIntervalTimetable, Param, task, task_group

from {{ cookiecutter.package_name }}_pipeline.assets import drift_asset
from {{ cookiecutter.package_name }}_pipeline.config import load_config
from {{ cookiecutter.package_name }}_pipeline.notifications import notify_failure
from {{ cookiecutter.package_name }}_pipeline.operators import MonitorEndpointOperator

config = load_config()
env = config.env
drift = drift_asset(config)


with DAG(
    dag_id=f"{config.package}_monitoring",
    description="Model Monitor's checks of the endpoints' capture; drift retrains",
    doc_md=__doc__,
    # "none": by hand only, for a window given as params
    schedule=(
        None
        if config.monitoring.schedule == "none"
        else CronDataIntervalTimetable(config.monitoring.schedule, timezone="UTC")
    ),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # the cool-down reads the drift events the last run emitted
    tags=[config.slug, "monitoring", "sagemaker"],
    params={
        "start_time": Param(
            None,
            type=["null", "string"],
            format="date-time",
            description="Check this window instead of the run's data interval: its start",
        ),
        "end_time": Param(
            None,
            type=["null", "string"],
            format="date-time",
            description="... and its end (ISO 8601)",
        ),
    },
    default_args={
        "owner": config.project.owner_email,
        "retries": 2,
        "retry_delay": timedelta(seconds=env.retry_delay_seconds),
        "on_failure_callback": notify_failure,
    },
) as dag:

    @task
    def endpoints() -> list[dict]:
        """The variants the pin files deploy with capture on."""
        from {{ cookiecutter.package_name }}_pipeline import monitoring

        return monitoring.targets(config)

    @task_group
    def monitor_endpoint(target: dict):
        # the monitor job over the interval's capture, in the endpoint's account; its report
        # is a button on the task
        check = MonitorEndpointOperator(task_id="check", target=target)

        @task
        def alert(found: dict) -> dict:
            """Metrics into CloudWatch, the alarms on them, and the violations on the topic."""
            from {{ cookiecutter.package_name }}_pipeline import monitoring
            from {{ cookiecutter.package_name }}_pipeline.hooks import aws_client

            environment = found["target"]["environment"]
            return monitoring.publish(
                config,
                found,
                lambda service: aws_client(config, service, environment),
                log=print,
            )

        return alert(check.output)

    # all_done: an endpoint whose check failed (its run fails too) does not hold back another's
    @task(inlets=[drift], outlets=[drift], trigger_rule="all_done")
    def retrain(results: list[dict], **context) -> dict:
        """Emit the drift event when violations meet the rule, outside the cool-down."""
        from airflow.sdk.exceptions import AirflowSkipException

        from {{ cookiecutter.package_name }}_pipeline import monitoring
        from {{ cookiecutter.package_name }}_pipeline.hooks import aws_client

        events = context["inlet_events"][drift].ascending(False).limit(1)
        last = events[0].timestamp if len(events) else None
        # Airflow hands one mapped result over as itself, not as a list of one
        results = [results] if isinstance(results, dict) else [r for r in results if r]
        extra, why = monitoring.drift_decision(config, results, last, datetime.now(UTC))
        print(why)
        if extra is None:
            raise AirflowSkipException(why)
        found = next(
            r
            for r in results
            if (r["target"]["environment"], r["target"]["endpoint"], r["target"]["variant"])
            == (extra["environment"], extra["endpoint"], extra["variant"])
        )
        if config.monitoring.retrain_on_labelled_capture and found.get("labelled"):
            destination = monitoring.feedback_uri(config, extra)
            rows = monitoring.copy_labelled_rows(
                found["labelled"],
                aws_client(config, "s3", extra["environment"]),
                aws_client(config, "s3"),
                destination,
            )
            print(
                f"{rows} labelled rows of the drifted window" + (f": {destination}" if rows else "")
            )
            extra["labelled_rows"] = destination if rows else None
        context["outlet_events"][drift].extra = extra
        return extra

    retrain(monitor_endpoint.expand(target=endpoints()))
