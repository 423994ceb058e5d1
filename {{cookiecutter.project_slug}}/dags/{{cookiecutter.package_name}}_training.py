"""
# {{ cookiecutter.project_name }}: training

Checks the raw data, preprocesses it, checks the features, trains, evaluates and, when the model
reaches the bar, registers it in the Model Registry as **PendingManualApproval**: a person
approves it, and CI promotes it to staging and prod by pull request.

    resolve_run_inputs ─► package_code ─► check_raw_data ─► preprocess ─► check_features
        ─► train ─► evaluate ─► gate ─► describe_model_version ─► register_model
        ─► summarize ─► notify

**Runs** on `[training] schedule` in `pipeline.toml`, when new data lands under the raw-data
prefix (S3 event → SQS → asset watcher), when the monitoring DAG finds drift (then on the raw
data plus the drifted window's labelled capture; with nothing new, it registers nothing), or by
hand with `raw_data_uri`, `metric_threshold` and `drift`.

**Every artifact** of a run lives under `s3://<bucket>/<project>/runs/<run key>/`: the code it ran,
the data-check reports (JSON and HTML), the splits, the model, `evaluation.json`/`.html` and
`summary.json`. Job names are fixed per run and step: a retried task re-attaches to its job.

**Fails at once, without retries**, when a data check fails, a job fails or the model is below
the threshold; every failure is published to the pipeline's SNS topic with its reason.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

from airflow.providers.amazon.aws.operators.sns import SnsPublishOperator
from airflow.sdk import (
    DAG,
    AssetOrTimeSchedule,
    CronTriggerTimetable,
    Param,
    chain,
    task,
)

from {{ cookiecutter.package_name }}_pipeline import (
    gate,
    job_requests,
    packaging,
    registry,
    run_inputs,
    summary,
)
from {{ cookiecutter.package_name }}_pipeline.assets import drift_asset, queue_asset
from {{ cookiecutter.package_name }}_pipeline.config import load_config
from {{ cookiecutter.package_name }}_pipeline.hooks import aws_client
from {{ cookiecutter.package_name }}_pipeline.notifications import notify_failure, summary_message
from {{ cookiecutter.package_name }}_pipeline.operators import (
    RegisterModelVersionOnceOperator,
    RunScopedProcessingOperator,
    RunScopedTrainingOperator,
)
from {{ cookiecutter.package_name }}_pipeline.registry import model_kind
from {{ cookiecutter.package_name }}_pipeline.reports import EVALUATION_REPORT, data_docs_report
from {{ cookiecutter.package_name }}_pipeline.runs import RUN_INPUTS_TASK, Run

config = load_config()
env = config.env

# New objects under the raw-data prefix reach the DAG as asset events: S3 event notifications
# land in an SQS queue, which the triggerer watches.
raw_data = queue_asset(
    config,
    "raw_data",
    config.raw_data_uri,
    config.data.raw_data_queue,
    # S3 sends an s3:TestEvent when notifications are set up: only object events count.
    message_filtering="jsonpath",
    message_filtering_config="Records[*].eventName",
)
# Drift that meets [monitoring]'s rule, announced by the monitoring DAG.
drift = drift_asset(config)
schedule = config.training.schedule
job_settings = {
    "aws_conn_id": env.aws_conn_id,
    "region_name": env.region,
    "check_interval": env.poll_interval_seconds,
    "deferrable": env.deferrable,
}

with DAG(
    dag_id=config.training_dag_id,
    description="Checks, trains, evaluates and registers the model for approval",
    doc_md=__doc__,
    schedule=(
        raw_data | drift
        if schedule == "none"
        else AssetOrTimeSchedule(
            timetable=CronTriggerTimetable(schedule, timezone="UTC"), assets=raw_data | drift
        )
    ),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=config.training.max_active_runs,
    tags=[config.slug, "training", "sagemaker"],
    params={
        "raw_data_uri": Param(
            None,
            type=["null", "string"],
            pattern=r"^s3://",
            description=f"Train on this S3 object or prefix instead of {config.raw_data_uri}",
        ),
        "metric_threshold": Param(
            None,
            type=["null", "number"],
            description=(
                f"Override the gate's threshold for {config.primary_metric.name} "
                f"(default {config.metric_threshold:g})"
            ),
        ),
        "drift": Param(
            None,
            type=["null", "object"],
            description=(
                "Retrain for this drift event (the monitoring DAG's, as its retrain task "
                "returned it), as the run it started would: raw data plus its labelled rows"
            ),
        ),
    },
    default_args={
        "owner": config.project.owner_email,
        "retries": 2,
        "retry_delay": timedelta(seconds=env.retry_delay_seconds),
        "on_failure_callback": notify_failure,
    },
) as dag:

    @task(task_id=RUN_INPUTS_TASK)
    def resolve_run_inputs(**context) -> dict:
        """Fix the run's training data (given, triggering object, prefix; drift's labelled
        capture), key and threshold."""
        return run_inputs.resolve_run_inputs(config, context).to_xcom()

    @task
    def package_code(**context) -> dict:
        """Upload the ML package, the suites and a manifest (commit, lock hash, image digest)."""
        return packaging.package_code(config, Run.from_context(context))

    check_raw_data = RunScopedProcessingOperator(
        task_id="check_raw_data",
        doc_md="Great Expectations suite `expectations/raw.json` on the raw table, as a job.",
        build=partial(job_requests.raw_data_check_job, config),
        reports={"Data Docs": data_docs_report(config.data.raw_suite)},
        **job_settings,
    )
    preprocess = RunScopedProcessingOperator(
        task_id="preprocess",
        doc_md="Clean, split, fit the feature transform and write the data-quality baseline.",
        build=partial(job_requests.preprocess_job, config),
        **job_settings,
    )
    check_features = RunScopedProcessingOperator(
        task_id="check_features",
        doc_md="Great Expectations suite `expectations/features.json` on the training split.",
        build=partial(job_requests.features_check_job, config),
        reports={"Data Docs": data_docs_report(config.data.features_suite)},
        **job_settings,
    )
    train = RunScopedTrainingOperator(
        task_id="train",
        doc_md="XGBoost in script mode; metrics parsed from the log by `MetricDefinitions`.",
        build=partial(job_requests.training_job, config),
        **job_settings,
    )
    evaluate = RunScopedProcessingOperator(
        task_id="evaluate",
        doc_md="Scores the test split and writes SageMaker's model-quality `evaluation.json`.",
        build=partial(job_requests.evaluation_job, config),
        reports={"Evaluation report": EVALUATION_REPORT},
        **job_settings,
    )

    @task(task_id="gate", retries=0)
    def check_gate(**context) -> dict:
        """Fail the run unless the primary metric reaches its threshold."""
        return gate.check(config, Run.from_context(context))

    @task
    def describe_model_version(manifest: dict, decision: dict, **context) -> dict:
        """The model package request: model, metrics, data baseline, provenance, digests."""
        return registry.describe_model_version(
            config, Run.from_context(context), manifest, decision, aws_client(config, "s3")
        )

    @task(multiple_outputs=True)
    def summarize(decision: dict, package_arn: str, **context) -> dict:
        """Write summary.json: checks, metrics, gate, model package and where the reports are."""
        outcome = summary.summarize(config, Run.from_context(context), decision, package_arn)
        return {"summary": outcome, "message": summary_message(outcome)}

    inputs = resolve_run_inputs()
    code = package_code()
    decision = check_gate()
    register_model = RegisterModelVersionOnceOperator(
        task_id="register_model",
        request=describe_model_version(code, decision),
        package_group_name=config.registry.model_package_group,
        model_kind=model_kind(config),
        aws_conn_id=env.aws_conn_id,
        region_name=env.region,
    )
    outcome = summarize(decision, register_model.output)
    notify = SnsPublishOperator(
        task_id="notify",
        target_arn=env.topic_arn(config.notifications.topic_name),
        subject=f"{config.slug}: new model version awaiting approval",
        message=outcome["message"],
        aws_conn_id=env.aws_conn_id,
        region_name=env.region,
    )

    chain(
        inputs,
        code,
        check_raw_data,
        preprocess,
        check_features,
        train,
        evaluate,
        decision,
        register_model,
        outcome,
        notify,
    )
