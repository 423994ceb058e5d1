"""The amazon provider's SageMaker operators, made idempotent per DAG run.

Thin subclasses that add what a production pipeline needs and the provider leaves out:

- the job request is built when the task runs, from the run's context (run key, inputs), by a
  function from ``jobs``; job names are deterministic per run and step;
- a retried task re-attaches to the job its run already started instead of starting another;
- a job that ends ``Failed`` or ``Stopped`` fails the task at once with the job's reason and no
  retry (retrying cannot mend it: the retry would find the same job), while errors on the Airflow
  side (a lost connection, a killed worker) are retried;
- the job's CloudWatch log is copied into the task log when it ends, so what a data check
  found or why training failed is one click away;
- the reports a job writes get a button on the task (``reports``: label → path below the run);
- a waiting task polls its job from a short first interval, doubling up to the environment's
  ``check_interval``: a job that ends in seconds is seen ended within a fraction of one, a long
  one is polled as before;
- in deferrable mode the triggerer polls until the job can have ended (its stopping condition),
  and the resumed task applies the same checks as a waiting one;
- registering a model version happens once per run, however often the task is cleared.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.amazon.aws.hooks.logs import AwsLogsHook
from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook
from airflow.providers.amazon.aws.operators.sagemaker import (
    SageMakerProcessingOperator,
    SageMakerRegisterModelVersionOperator,
    SageMakerTrainingOperator,
    serialize,
)
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from botocore.exceptions import ClientError

from . import monitoring
from .registry import ModelKindError, check_model_package_group
from .reports import PushedReportLink, ReportLink
from .runs import Run

#: The XCom a monitoring task pushes its report's URI as (in dev, below the run).
MONITORING_REPORT_KEY = "monitoring_report"
#: Builds a job request (or a model package request) for one run.
RequestBuilder = Callable[[Run], dict]
#: Time a job may spend starting (instances, image) on top of its own maximum runtime.
STARTUP_ALLOWANCE_SECONDS = 30 * 60
#: SageMaker's maximum runtime of a job whose request sets none.
DEFAULT_MAX_RUNTIME_SECONDS = 24 * 60 * 60


#: Seconds before a waiting task first polls its job; each wait after doubles, up to the
#: operator's ``check_interval``.
FIRST_POLL_SECONDS = 0.1


class BackingOffSageMakerHook(SageMakerHook):
    """The provider's hook, polling a job's status from ``FIRST_POLL_SECONDS`` up.

    The provider's own waits a whole ``check_interval`` (30 s on AWS) before its first look, so
    each short job costs up to an interval more than it runs. Failures and the maximum
    ingestion time are reported as the provider reports them.
    """

    def check_status(
        self,
        job_name: str,
        key: str,
        describe_function: Callable,
        check_interval: int,
        max_ingestion_time: int | None = None,
        non_terminal_states: set | None = None,
    ) -> dict:
        non_terminal_states = non_terminal_states or self.non_terminal_states
        pause, waited = min(FIRST_POLL_SECONDS, check_interval), 0.0
        while True:
            time.sleep(pause)
            waited += pause
            try:
                response = describe_function(job_name)
                status = response[key]
            except KeyError:
                raise AirflowException("Could not get status of the SageMaker resource") from None
            except ClientError as error:
                raise AirflowException("AWS request failed, check logs for more info") from error
            if status in self.failed_states:
                raise AirflowException(
                    f"SageMaker resource failed because {response['FailureReason']}"
                )
            if status not in non_terminal_states:
                self.log.info("SageMaker resource %s is %s after %.1f s", job_name, status, waited)
                return response
            if max_ingestion_time and waited > max_ingestion_time:
                raise AirflowException(
                    f"SageMaker resource took more than {max_ingestion_time} seconds"
                )
            if pause >= check_interval:  # as the provider's: what a long job is doing
                self.log.info("%s still running after %.0f s: %s", job_name, waited, status)
            pause = min(pause * 2, check_interval)


def _missing(error: ClientError) -> bool:
    return error.response["Error"]["Code"] == "ValidationException"


class _RunScopedJob:
    """Shared behaviour of the processing and training operators below.

    Each operator class defines its own ``__init__``: Airflow applies default arguments only to
    an ``__init__`` defined on the operator class itself.
    """

    kind = ""
    name_key = ""
    status_key = ""
    log_group = ""

    def describe(self, name: str) -> dict | None:
        try:
            return getattr(self.hook, f"describe_{self.kind}_job")(name)
        except ClientError as error:
            if _missing(error):
                return None
            raise

    def execute(self, context):
        name = self.prepare(context)
        existing = self.describe(name)
        with self.failing_at_once_if_the_job_failed(name):
            if existing is None:
                result = super().execute(context)
            else:
                self.log.info(
                    "Re-attaching to %s job %s (%s), started by an earlier try of this run.",
                    self.kind,
                    name,
                    existing[self.status_key],
                )
                result = self.wait_for(name)
        return self.completed(name, result)

    def execute_complete(self, context, event=None):
        """Resumed after the triggerer saw the job end: the same checks as ``execute``."""
        name = self.prepare(context)
        with self.failing_at_once_if_the_job_failed(name):
            result = super().execute_complete(context, event)
        return self.completed(name, result)

    def prepare(self, context) -> str:
        """Build this run's request; return the job name.

        A resumed task is a fresh operator, so ``execute_complete`` builds it again (the request
        is deterministic per run). The trigger polls for as long as the job may run.
        """
        self.config = self.build(Run.from_context(context))
        max_runtime = self.config.get("StoppingCondition", {}).get(
            "MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME_SECONDS
        )
        self.max_attempts = math.ceil(
            (max_runtime + STARTUP_ALLOWANCE_SECONDS) / max(self.check_interval, 1)
        )
        return self.config[self.name_key]

    @contextlib.contextmanager
    def failing_at_once_if_the_job_failed(self, name: str):
        """Turn the provider's error for a failed job into a failure that is not retried."""
        try:
            yield
        except AirflowException as error:
            self.fail_if_job_ended_badly(name, cause=error)
            raise

    def completed(self, name: str, result: dict) -> dict:
        self.fail_if_job_ended_badly(name)
        return result

    def fail_if_job_ended_badly(self, name: str, cause: Exception | None = None) -> None:
        job = self.describe(name)
        if job is None:
            return
        self.print_job_log(name)
        status = job[self.status_key]
        if status in ("Failed", "Stopped"):
            # SageMaker's reason, and the container's own word on it (a processing job's
            # ExitMessage) when it adds something
            reason = job.get("FailureReason") or ""
            exit_message = job.get("ExitMessage") or ""
            if exit_message not in reason:
                reason = f"{reason}; {exit_message}" if reason else exit_message
            reason = reason or job.get("SecondaryStatus")
            raise AirflowFailException(
                f"SageMaker {self.kind} job {name} ended {status}: {reason} "
                "(a retry of this run finds this same job: fix the cause, then start a new run)"
            ) from cause

    def wait_for(self, name: str) -> dict:
        raise NotImplementedError

    def print_job_log(self, name: str) -> None:
        """Copy the job's CloudWatch log into the task log once the job has ended.

        A convenience: a log that cannot be read (no ``logs:`` rights, not yet ingested) is
        reported, never allowed to fail the task in place of the job's own outcome.
        """
        logs = AwsLogsHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name)
        try:
            streams = logs.conn.describe_log_streams(
                logGroupName=self.log_group, logStreamNamePrefix=f"{name}/"
            ).get("logStreams", [])
            for stream in streams:
                self.log.info("---- log of %s (%s) ----", name, stream["logStreamName"])
                for event in logs.get_log_events(self.log_group, stream["logStreamName"]):
                    self.log.info("%s", event["message"])
        except ClientError as error:
            self.log.warning("Cannot copy the log of %s from %s: %s", name, self.log_group, error)


def report_links(reports: Mapping[str, str] | None) -> tuple[ReportLink, ...]:
    """One button per report: its label, and its path below the run's prefix."""
    return tuple(ReportLink(name, path) for name, path in (reports or {}).items())


class RunScopedProcessingOperator(_RunScopedJob, SageMakerProcessingOperator):
    """``SageMakerProcessingOperator`` for one step of one run."""

    aws_hook_class = BackingOffSageMakerHook

    kind = "processing"
    name_key = "ProcessingJobName"
    status_key = "ProcessingJobStatus"
    log_group = "/aws/sagemaker/ProcessingJobs"

    def __init__(
        self, *, build: RequestBuilder, reports: Mapping[str, str] | None = None, **kwargs: Any
    ):
        super().__init__(config={}, action_if_job_exists="fail", **kwargs)
        self.build = build
        self.operator_extra_links = report_links(reports)

    def wait_for(self, name: str) -> dict:
        self.hook.check_status(
            name, self.status_key, self.hook.describe_processing_job, self.check_interval
        )
        return {"Processing": serialize(self.hook.describe_processing_job(name))}


class RunScopedTrainingOperator(_RunScopedJob, SageMakerTrainingOperator):
    """``SageMakerTrainingOperator`` for one step of one run.

    The provider's live log tail checks the job's status only every 30 s; polling the status at
    the environment's interval and copying the log at the end keeps short jobs short.
    """

    aws_hook_class = BackingOffSageMakerHook

    kind = "training"
    name_key = "TrainingJobName"
    status_key = "TrainingJobStatus"
    log_group = "/aws/sagemaker/TrainingJobs"

    def __init__(
        self, *, build: RequestBuilder, reports: Mapping[str, str] | None = None, **kwargs: Any
    ):
        super().__init__(config={}, action_if_job_exists="fail", print_log=False, **kwargs)
        self.build = build
        self.operator_extra_links = report_links(reports)

    def wait_for(self, name: str) -> dict:
        self.hook.check_status(
            name, self.status_key, self.hook.describe_training_job, self.check_interval
        )
        return self.serialize_result(name)


class RegisterModelVersionOnceOperator(SageMakerRegisterModelVersionOperator):
    """Registers one model package version per run; a cleared task returns the same version.

    ``request`` is the whole ``CreateModelPackage`` request (usually an upstream task's output).
    Its ``CustomerMetadataProperties["run_key"]`` identifies the run: before registering, the
    newest versions of the group are searched for it. ``model_kind`` (``registry.model_kind``)
    is checked against the group's tags once more: nothing is registered into a group of
    another kind of model.
    """

    template_fields = (*SageMakerRegisterModelVersionOperator.template_fields, "request")
    SEARCH_DEPTH = 50

    def __init__(
        self, *, request: dict, package_group_name: str, model_kind: dict[str, str], **kwargs: Any
    ):
        super().__init__(
            image_uri="", model_url="", package_group_name=package_group_name, **kwargs
        )
        self.request = request
        self.model_kind = model_kind

    def execute(self, context):
        request = self.request
        run_key = request["CustomerMetadataProperties"]["run_key"]
        existing = self.find_version(run_key)
        if existing:
            self.log.info("Run %s already registered %s; not registering again.", run_key, existing)
            return existing
        try:
            check_model_package_group(self.hook.conn, self.package_group_name, self.model_kind)
        except ModelKindError as error:
            raise AirflowFailException(str(error)) from error
        container = request["InferenceSpecification"]["Containers"][0]
        self.image_uri = container["Image"]
        self.model_url = container["ModelDataUrl"]
        # the provider describes a group it creates with this; the version's own description
        # comes with the request
        self.package_desc = f"Model versions registered by {self.package_group_name}'s pipeline"
        self.extras = request
        arn = super().execute(context)
        self.log.info("Registered %s (%s).", arn, request["ModelApprovalStatus"])
        return arn

    def find_version(self, run_key: str) -> str | None:
        sagemaker = self.hook.conn
        try:
            listed = sagemaker.list_model_packages(
                ModelPackageGroupName=self.package_group_name,
                SortBy="CreationTime",
                SortOrder="Descending",
                MaxResults=self.SEARCH_DEPTH,
            )
        except ClientError as error:
            if _missing(error):
                return None
            raise
        for summary in listed["ModelPackageSummaryList"]:
            arn = summary["ModelPackageArn"]
            package = sagemaker.describe_model_package(ModelPackageName=arn)
            if package.get("CustomerMetadataProperties", {}).get("run_key") == run_key:
                return arn
        return None


class MonitorEndpointOperator(BaseOperator):
    """The monitor over one endpoint variant's capture of the run's interval, in the variant's
    account (``monitoring.run_monitor``), with a button to its report.

    ``target`` is one of ``monitoring.targets``' (a mapped task group's argument). The report is
    copied beside the run's other artifacts in dev, where the reports app serves it. A scheduled
    run waits (deferred) ``[monitoring] capture_delay_minutes`` past its interval's end, for
    SageMaker to have written the interval's capture.
    """

    template_fields = ("target",)
    operator_extra_links = (PushedReportLink("Monitoring report", MONITORING_REPORT_KEY),)

    def __init__(self, *, target: dict | Any, **kwargs):
        super().__init__(**kwargs)
        self.target = target

    def execute(self, context, event=None) -> dict:
        from .config import load_config
        from .hooks import aws_client
        from .runs import RunLayout, run_key

        config = load_config()
        start, end = monitoring.interval(context)
        ready = end + timedelta(minutes=config.monitoring.capture_delay_minutes)
        if not context["params"].get("end_time") and datetime.now(UTC) < ready:
            # SageMaker writes capture minutes after the requests: the triggerer waits
            from airflow.providers.standard.triggers.temporal import DateTimeTrigger

            self.log.info("waiting until %s for the interval's capture", ready.isoformat())
            self.defer(trigger=DateTimeTrigger(moment=ready), method_name="execute")
        key = run_key(context["run_id"])
        environment = self.target["environment"]
        try:
            found = monitoring.run_monitor(
                config,
                self.target,
                start,
                end,
                key,
                lambda service: aws_client(config, service, environment),
                log=self.log.info,
            )
        except (monitoring.MonitoringFailed, ValueError) as error:
            # a retry would find the same failed job (its name is the run's), or the same
            # missing baseline or too long a window: fail at once, saying which
            raise AirflowFailException(str(error)) from error
        if found.get("report"):
            copy = RunLayout(config.artifact_root, key).uri(
                "monitoring",
                environment,
                found["target"]["endpoint"],
                found["target"]["variant"],
                monitoring.REPORT,
            )
            monitoring.copy_object(
                aws_client(config, "s3", environment),
                aws_client(config, "s3"),
                found["report"],
                copy,
            )
            context["ti"].xcom_push(key=MONITORING_REPORT_KEY, value=copy)
        return found
