"""What every kind of SageMaker job shares when the local AWS runs it.

moto records processing and training jobs but marks them Completed at once and runs nothing. A
job kind (``processing_jobs``, ``training_jobs``) keeps moto's bookkeeping for ``Create*Job``,
fixes what moto gets wrong, and hands the job to the runner as a :class:`SageMakerJob`: the
job's record in the SageMaker backend (changed and saved at once), its log in CloudWatch Logs
where SageMaker writes it, its data moved between the local S3 and its sandbox, and its execution
role's credentials, as in a container.

The local AWS runs a job's command in this project's Python environment on this machine. What it
cannot reproduce is refused at creation with a message saying so (:data:`NOT_EMULATED`), rather
than run differently; see each kind for the list.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable

import boto3
from botocore.config import Config
from moto.backends import get_backend
from moto.core.responses import EmptyResult
from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.responses import SageMakerResponse

from local_aws.capabilities.job_logs import JobLog
from local_aws.capabilities.s3_storage import blob_store
from local_aws.capabilities.s3_transfer import S3Transfer
from local_aws.capability import Context
from local_aws.jobs.runner import INTERRUPTED, JobExecution

NOT_EMULATED = "is not emulated by the local AWS, which runs one instance on this machine"
_ROLE_ARN = re.compile(r"^arn:(aws[\w-]*):iam::(\d{12}):role/(?:.+/)?([\w+=,.@-]+)$")
#: SageMaker's maximum runtime of a job whose request sets none.
DEFAULT_MAX_RUNTIME_SECONDS = 86400


class SageMakerJob(JobExecution):
    """A SageMaker job the runner runs; a kind says which record it has and what it runs."""

    #: Its CloudWatch log group, e.g. ``/aws/sagemaker/ProcessingJobs``.
    log_group = ""
    #: The request member that names it, e.g. ``ProcessingJobName``.
    name_key = ""
    #: The attribute of its record that holds its status, e.g. ``processing_job_status``.
    status_attribute = ""

    def __init__(self, context: Context, account_id: str, region: str, name: str, request: dict):
        super().__init__(context.runner, account_id, region, name, request)
        self.context = context
        self.s3 = S3Transfer(account_id, region, context.store, blob_store(context))

    def record(self):
        """The job's record in the SageMaker backend."""
        raise NotImplementedError

    @property
    def max_runtime(self) -> float:
        stopping = self.request.get("StoppingCondition", {})
        return float(stopping.get("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME_SECONDS))

    @property
    def completed(self) -> bool:
        return getattr(self.record(), self.status_attribute, None) == "Completed"

    def update(self, **attributes) -> None:
        """Change the job's record and persist it at once."""
        with self.context.lock:
            record = self.record()
            for key, value in attributes.items():
                setattr(record, key, value)
            record.last_modified_time = utcnow()
            self.context.store.save(["sagemaker"])

    def record_failed_only(self, reason: str) -> None:
        self.update(**{self.status_attribute: "Failed", "failure_reason": reason})

    def open_log(self) -> JobLog:
        return JobLog(
            self.account_id,
            self.region,
            self.log_group,
            f"{self.name}/algo-1-{int(time.time())}",
            self.context.lock,
            on_flush=lambda: self.context.store.save_soon(["logs"]),
        )

    def credentials(self) -> dict[str, str]:
        """The job's AWS environment: its execution role's credentials, as in a container."""
        return role_credentials(self.context, self.region, self.request["RoleArn"])


def role_credentials(context: Context, region: str, role_arn: str) -> dict[str, str]:
    """A container's AWS environment: the role's credentials, from the local AWS's STS."""
    sts = boto3.client(
        "sts",
        endpoint_url=context.endpoint_url,
        region_name=region,
        aws_access_key_id="local-aws-runner",
        aws_secret_access_key="local-aws-runner",
        config=Config(retries={"max_attempts": 2}),
    )
    session = sts.assume_role(RoleArn=role_arn, RoleSessionName="SageMaker")
    credentials = session["Credentials"]
    return {
        "AWS_ENDPOINT_URL": context.endpoint_url,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def run_on_create(
    context: Context,
    execution: type[SageMakerJob],
    refusals: Callable[[dict], list[str]],
    name_taken: Callable[[str], Exception],
    running: Callable[[object, dict], None],
):
    """A patch of ``Create<Kind>Job``: checked as SageMaker checks it, then run by the runner.

    A name already taken is refused (``name_taken(arn)``: moto would overwrite the job), what
    the local AWS cannot run is refused (``refusals(request)``), and so is a role SageMaker could
    not assume; after moto's bookkeeping, ``running(record, request)`` fixes the record moto made
    (it marks jobs Completed at once and drops members), and the runner starts the job.
    """

    def make(original):
        def create_job(self: SageMakerResponse):
            request = json.loads(self.body)
            name = request[execution.name_key]
            jobs = getattr(self.sagemaker_backend, f"{execution.kind}_jobs")
            if name in jobs:
                raise name_taken(jobs[name].arn)
            refuse_unsupported(refusals(request))
            if "RoleArn" in request:  # a transform job runs with its model's role instead
                check_role(request["RoleArn"])
            result = original(self)
            running(jobs[name], request)
            context.runner.submit(
                execution(context, self.current_account, self.region, name, request)
            )
            return result

        return create_job

    return make


def stop_on_request(context: Context, execution: type[SageMakerJob], stopping=None):
    """A patch of ``Stop<Kind>Job``: mark the job Stopping and tell the runner to stop it."""

    def make(_original):
        def stop_job(self: SageMakerResponse):
            name = json.loads(self.body)[execution.name_key]
            kind = execution.kind
            jobs = getattr(self.sagemaker_backend, f"{kind}_jobs")
            if name not in jobs:
                raise ValidationError(f"Could not find {kind} job '{name}'.")
            job = jobs[name]
            status = getattr(job, execution.status_attribute)
            if status != "InProgress":
                raise ValidationError(
                    f"The request was rejected because the {kind} job is in status {status}."
                )
            setattr(job, execution.status_attribute, "Stopping")
            if stopping:
                stopping(job)
            context.runner.stop(kind, self.current_account, self.region, name)
            return EmptyResult()

        return stop_job

    return make


def fail_interrupted(context: Context, kind: str) -> list[str]:
    """Fail the ``kind`` jobs (processing, transform) that were running when the local AWS
    stopped or died: ``Failed``, the reason, an end time. Returns what it did, in words."""
    failed = []
    with context.lock:
        for _account, _region, backend in sagemaker_backends():
            for job in getattr(backend, f"{kind}_jobs").values():
                if getattr(job, f"{kind}_job_status") in ("InProgress", "Stopping"):
                    setattr(job, f"{kind}_job_status", "Failed")
                    job.failure_reason = INTERRUPTED
                    now = utcnow()
                    setattr(job, f"{kind}_end_time", now)
                    job.last_modified_time = now
                    failed.append(getattr(job, f"{kind}_job_name"))
        if failed:
            context.store.save(["sagemaker"])
    return [f"failed interrupted {kind} job {name}" for name in failed]


def job_name_taken(arn: str) -> Exception:
    """SageMaker's refusal of a processing or transform job name already used."""
    return ValidationError(
        "Job name must be unique within an AWS account and region, and a job with this name "
        f"already exists ({arn})"
    )


def refuse_unsupported(problems: list[str]) -> None:
    if problems:
        raise ValidationError("; ".join(problems))


def sagemaker_backends():
    """Every account's and region's SageMaker backend: ``(account, region, backend)``."""
    return get_backend("sagemaker").iter_backends()


def check_role(role_arn: str) -> None:
    """SageMaker assumes the execution role at creation; a role it cannot assume is refused."""
    refusal = ValidationError(
        f"Could not assume role {role_arn}. Please ensure that the role exists and allows "
        "principal 'sagemaker.amazonaws.com' to assume the role."
    )
    match = _ROLE_ARN.match(role_arn)
    if not match:
        raise refusal
    iam = get_backend("iam")[match.group(2)][match.group(1)]
    try:
        role = iam.get_role_by_arn(role_arn)
    except Exception as error:  # moto raises IAMNotFoundException
        raise refusal from error
    if "sagemaker.amazonaws.com" not in (role.assume_role_policy_document or ""):
        raise refusal
