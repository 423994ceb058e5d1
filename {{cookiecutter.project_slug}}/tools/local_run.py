"""One training run on this machine, as ``make demo`` and the end-to-end tests do it.

Starts (or reuses) the local AWS, deploys the infrastructure template to it, uploads the training
data, runs the training DAG to the end with ``dag.test()`` and collects what happened: the DAG
run's state, the SNS notification the pipeline published (success or the reason it failed) and
the run's ``summary.json``.

A local AWS already serving on the configured port is reused only when it is this project's:
its health route names its state folder, and another one is refused, saying how to move the
port (``LOCAL_AWS_PORT``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote_plus, urlparse

import boto3

from local_aws.process import LocalAWSProcess
from local_aws.server import HEALTH_PATH
from tools import infrastructure
from tools.airflow_env import airflow_environment, migrate_database
from tools.project import PROJECT_ROOT, config

INBOX_QUEUE_SUFFIX = "-notifications-inbox"
#: Where ``make demo DATA=...`` puts a table: below the project's data, beside the raw-data
#: prefix, never in it, so scheduled runs (which train on the whole prefix) never take it.
UPLOADS_PREFIX = "data/uploads"


class ForeignLocalAWSError(RuntimeError):
    """The local AWS on the configured port keeps its state in another folder."""


def local_aws_health(endpoint_url: str) -> dict | None:
    """What the local AWS at ``endpoint_url`` says of itself, or None if none answers."""
    try:
        with urllib.request.urlopen(endpoint_url + HEALTH_PATH, timeout=1) as response:
            return json.load(response) if response.status == 200 else None
    except (OSError, ValueError):
        return None


def local_aws_is_ours(endpoint_url: str, state_dir: Path) -> bool:
    """Whether this project's local AWS, with its state in ``state_dir``, serves there.

    False when none serves at ``endpoint_url``; ``ForeignLocalAWSError`` when another one does
    (another project's, or this project's with its state in another folder).
    """
    health = local_aws_health(endpoint_url)
    if health is None:
        return False
    theirs, ours = health.get("state_dir"), state_dir.resolve()
    if theirs and Path(theirs).resolve() == ours:
        return True
    port = urlparse(endpoint_url).port
    root = health.get("project_root")
    if root and Path(root).resolve() == PROJECT_ROOT.resolve():
        raise ForeignLocalAWSError(
            f"the local AWS on {endpoint_url} is this project's, but keeps its state in {theirs}, "
            f"not in {ours}. Use that folder (LOCAL_AWS_STATE={theirs}), or stop it first."
        )
    owner = f"{root} (state in {theirs})" if root else "a folder it does not name"
    raise ForeignLocalAWSError(
        f"the local AWS on {endpoint_url} belongs to {owner}, not to this project "
        f"({PROJECT_ROOT.resolve()}). Stop it (Ctrl-C where `make local-aws` runs, or `make "
        f"airflow-stop` in its project), or give this project another port for every command: "
        f"export LOCAL_AWS_PORT={port + 1}"
    )


@contextlib.contextmanager
def local_aws(state_dir: Path, endpoint_url: str | None = None):
    """This project's local AWS at ``endpoint_url`` if it serves already, else one started here.

    One started here is stopped on exit; its state stays on disk for inspection.
    """
    endpoint_url = endpoint_url or config().env.endpoint_url
    if local_aws_is_ours(endpoint_url, state_dir):
        yield endpoint_url
        return
    process = LocalAWSProcess(
        state_dir=state_dir,
        port=urlparse(endpoint_url).port,
        config=PROJECT_ROOT / "pipeline.toml",
    )
    process.start()
    try:
        yield process.endpoint_url
    finally:
        process.stop()


class AWS:
    """boto3 clients of one endpoint, signed as the account the local AWS plays."""

    def __init__(self, endpoint_url: str):
        self.endpoint_url = endpoint_url
        self.region = config().env.region

    def client(self, service: str):
        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )


def prepare_account(aws: AWS) -> str:
    """Deploy the pipeline's infrastructure and subscribe an inbox queue to its topic.

    Returns the inbox queue URL: the notifications the pipeline publishes land there.
    """
    cfg = config()
    outputs = infrastructure.deploy(aws.client("cloudformation"), cfg)
    sqs, sns = aws.client("sqs"), aws.client("sns")
    inbox = sqs.create_queue(QueueName=cfg.slug + INBOX_QUEUE_SUFFIX)["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=outputs["TopicArn"],
        Protocol="sqs",
        Endpoint=inbox_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    return inbox


def upload_training_data(aws: AWS, source: Path, name: str | None = None) -> str:
    """Put a CSV under the raw-data prefix, where scheduled runs train on it; return its URI."""
    cfg = config()
    bucket, prefix = cfg.raw_data_uri.removeprefix("s3://").split("/", 1)
    key = prefix + (name or source.name)
    aws.client("s3").upload_file(str(source), bucket, key)
    # This run trains on the object right away: the announcement queued for the asset watcher
    # would only start a second run of the same data when Airflow's triggerer next polls.
    consume_announcement(aws, cfg.data.raw_data_queue, key)
    return f"s3://{bucket}/{key}"


def upload_table(aws: AWS, source: Path) -> str:
    """Put a table of one's own under an upload prefix of its own; return its S3 URI.

    ``s3://<bucket>/<slug>/data/uploads/<UTC time>/<file>``: a run given this URI trains on this
    file alone, and nothing that lands here starts a run or joins a scheduled one.
    """
    cfg = config()
    raw, uploads = cfg.data.raw_prefix.strip("/") + "/", UPLOADS_PREFIX + "/"
    if raw.startswith(uploads) or uploads.startswith(raw):
        raise ValueError(
            f"[data] raw_prefix {cfg.data.raw_prefix!r} overlaps {UPLOADS_PREFIX!r}, where "
            "`make demo DATA=` puts tables so that scheduled runs never take them: choose a "
            "raw_prefix beside it, such as data/raw"
        )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    bucket, root = cfg.artifact_root.removeprefix("s3://").split("/", 1)
    key = f"{root}/{uploads}{stamp}/{source.name}"
    aws.client("s3").upload_file(str(source), bucket, key)
    return f"s3://{bucket}/{key}"


def consume_announcement(aws: AWS, queue_name: str, key: str) -> None:
    """Delete the S3 event messages about ``key``; leave any other message to the watcher."""
    sqs = aws.client("sqs")
    queue = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    messages = sqs.receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=2
    ).get("Messages", [])
    for message in messages:
        if quote_plus(key, safe="/") in message["Body"]:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


def generate_sample_data(path: Path, rows: int, seed: int = 0, drift: float = 0.0) -> Path:
    from {{ cookiecutter.package_name }} import sample_data

    cfg = config()
    path.parent.mkdir(parents=True, exist_ok=True)
    sample_data.write_csv(
        path, rows, cfg.data.problem_type, cfg.data.target_column, seed=seed, drift=drift
    )
    return path


@dataclass
class RunOutcome:
    state: str
    run_id: str
    logical_date: datetime
    run_after: datetime
    notification: dict | str | None
    summary: dict | None = None
    seconds: float = 0.0
    failed_tasks: list[str] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.state == "success"


def load_dag(airflow_home: Path, endpoint_url: str, loop: str = "training"):
    """Import the DAG of ``loop`` (training, promotion) with Airflow configured for this
    machine."""
    environment = airflow_environment(airflow_home, endpoint_url)
    os.environ.update(environment)
    migrate_database(environment)
    path = PROJECT_ROOT / "dags" / f"{config().package}_{loop}.py"
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def run_training(
    aws: AWS, inbox: str, airflow_home: Path, conf: dict, rerun: RunOutcome | None = None
) -> RunOutcome:
    """Run the training DAG once with ``conf`` and report how it ended.

    With ``rerun``, the same DAG run is cleared and run again (same run id), as a person clearing
    it in the UI would.
    """
    dag = load_dag(airflow_home, aws.endpoint_url)
    same_run = {"logical_date": rerun.logical_date, "run_after": rerun.run_after} if rerun else {}
    started = time.monotonic()
    dag_run = dag.test(run_conf=conf, **same_run)
    seconds = time.monotonic() - started
    failed = [ti.task_id for ti in dag_run.get_task_instances() if ti.state == "failed"]
    outcome = RunOutcome(
        state=str(dag_run.state),
        run_id=dag_run.run_id,
        logical_date=dag_run.logical_date,
        run_after=dag_run.run_after,
        notification=read_notification(aws, inbox),
        seconds=seconds,
        failed_tasks=failed,
    )
    outcome.summary = read_summary(aws, dag_run.run_id)
    return outcome


def run_promotion(aws: AWS, airflow_home: Path) -> tuple[str, list[str]]:
    """Run the promotion DAG once; its state and the pull requests it opened."""
    dag = load_dag(airflow_home, aws.endpoint_url, "promotion")
    dag_run = dag.test()
    (task,) = dag_run.get_task_instances()
    return str(dag_run.state), task.xcom_pull(task_ids="propose") or []


def run_monitoring(
    aws: AWS, airflow_home: Path, start: datetime | None = None, end: datetime | None = None
):
    """Run the monitoring DAG once, over ``[start, end)`` when given (else its data interval);
    the finished DAG run."""
    dag = load_dag(airflow_home, aws.endpoint_url, "monitoring")
    window = {"start_time": start.isoformat(), "end_time": end.isoformat()} if start else {}
    return dag.test(run_conf=window)


def read_notification(aws: AWS, inbox: str, wait_seconds: int = 5) -> dict | str | None:
    """The latest message the pipeline published to its topic (JSON if it is JSON)."""
    sqs = aws.client("sqs")
    messages = sqs.receive_message(
        QueueUrl=inbox, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds
    ).get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=inbox, ReceiptHandle=message["ReceiptHandle"])
    if not messages:
        return None
    body = messages[-1]["Body"]
    try:
        return json.loads(body)
    except json.JSONDecodeError:
        return body


def read_summary(aws: AWS, run_id: str) -> dict | None:
    """The run's summary.json (written by its last steps; absent when the run failed early)."""
    from {{ cookiecutter.package_name }}_pipeline.runs import RunLayout, run_key

    layout = RunLayout(config().artifact_root, run_key(run_id))
    bucket, key = layout.summary.removeprefix("s3://").split("/", 1)
    try:
        body = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"]
    except aws.client("s3").exceptions.NoSuchKey:
        return None
    return json.loads(body.read())


DEMO_ROWS = 5


def in_account(
    endpoint_url: str, account: str, region: str, role: str = "bootstrap"
) -> boto3.Session:
    """A session of ``role`` in ``account`` (the local AWS plays every account)."""
    credentials = boto3.client(
        "sts",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    ).assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName=f"local-{role}")[
        "Credentials"
    ]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )


def prepare_accounts(endpoint_url: str) -> dict[str, boto3.Session]:
    """dev, staging and prod as ``ci/infrastructure``'s templates leave them: the pipeline
    stack in each, the promotion stack in staging and prod, then in dev (IAM wants the roles
    dev's trusts to exist first). Each account's session, by environment name."""
    cfg = config()
    environments = {name: cfg.environment(name) for name in ("dev", "staging", "prod")}
    targets = {name: environments[name] for name in ("staging", "prod")}
    sessions = {}
    for name in ("staging", "prod", "dev"):
        env = environments[name]
        session = in_account(endpoint_url, env.account_id, env.region)
        cloudformation = session.client("cloudformation", endpoint_url=endpoint_url)
        parameters = None if name == "dev" else infrastructure.stack_parameters(cfg, env)
        outputs = infrastructure.deploy(cloudformation, cfg, parameters=parameters)
        infrastructure.deploy(
            cloudformation,
            cfg,
            name=f"{cfg.slug}-promotion",
            template=infrastructure.PROMOTION_TEMPLATE,
            parameters=infrastructure.promotion_parameters(
                cfg,
                env,
                environments["dev"],
                targets,
                outputs["ArtifactKeyArn"],
                cfg.project.repository,
            ),
        )
        sessions[name] = session
    return sessions


def watching(endpoint_url: str, environment: str = "staging") -> tuple:
    """``environment``'s SageMaker and CloudWatch clients through its watch role, as Airflow
    reads them for the promotion soak."""
    env = config().environment(environment)
    session = in_account(endpoint_url, env.account_id, env.region, env.watch_role_name)
    return tuple(
        session.client(service, endpoint_url=endpoint_url)
        for service in ("sagemaker", "cloudwatch")
    )


def ask_endpoint(runtime, endpoint: str, table: Path) -> dict:
    """``DEMO_ROWS`` rows of ``table`` sent to ``endpoint`` as JSON instances (sensitive
    columns included, as they are captured for bias monitoring): its answers."""
    import pandas as pd

    rows = pd.read_csv(table, nrows=DEMO_ROWS).drop(columns=[config().data.target_column])
    answer = runtime.invoke_endpoint(
        EndpointName=endpoint,
        ContentType="application/json",
        Accept="application/json",
        Body=json.dumps({"instances": json.loads(rows.to_json(orient="records"))}),
    )
    return {
        "endpoint": endpoint,
        "variant": answer["InvokedProductionVariant"],
        "predictions": json.loads(answer["Body"].read())["predictions"],
    }
