"""Processing jobs, run by SageMaker Processing's container contract.

``CreateProcessingJob`` keeps moto's bookkeeping, then fixes what moto gets wrong (it drops
``Environment`` and ``ProcessingResources``, marks the job Completed at once and overwrites a job
that already exists) and hands the job to the runner; ``StopProcessingJob`` stops it. Refused,
as not emulated: several instances, ``Pipe`` input, manifest files, gzip input, Athena/Redshift
datasets, feature-store outputs, and a ``LocalPath`` outside ``/opt/ml/processing/`` (as AWS).
Accepted and recorded only: the image, instance type and volume size, network settings, KMS keys
and tags.

Before the command starts, each ``ProcessingInputs[].S3Input`` is downloaded to its ``LocalPath``;
the command is ``AppSpecification.ContainerEntrypoint`` + ``ContainerArguments`` with
``Environment`` set; when it exits 0, each ``ProcessingOutputConfig.Outputs[].S3Output`` folder is
uploaded to its ``S3Uri``. Whatever the ending, ``/opt/ml/output/message`` becomes ``ExitMessage``.
``/opt/ml/config/processingjobconfig.json`` and ``resourceconfig.json`` are written as SageMaker
writes them.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from moto.core.utils import utcnow
from moto.sagemaker.responses import SageMakerResponse

from local_aws.capabilities.s3_transfer import S3LocationError
from local_aws.capabilities.sagemaker_job import (
    NOT_EMULATED,
    SageMakerJob,
    fail_interrupted,
    job_name_taken,
    run_on_create,
    stop_on_request,
)
from local_aws.capability import Capability, Context, patch
from local_aws.jobs.runner import JobError

#: What the container writes there becomes the job's ExitMessage (its first 1 KB), whatever the
#: ending; text that is not UTF-8 fails the job.
EXIT_MESSAGE_FILE = "/opt/ml/output/message"
MAX_EXIT_MESSAGE = 1024


class ProcessingExecution(SageMakerJob):
    kind = "processing"
    log_group = "/aws/sagemaker/ProcessingJobs"
    name_key = "ProcessingJobName"
    status_attribute = "processing_job_status"

    def record(self):
        backend = self.context.store.backend("sagemaker")[self.account_id][self.region]
        return backend.processing_jobs[self.name]

    def run(self) -> None:
        self.update(processing_start_time=utcnow())
        sandbox = self.sandbox.create()
        cluster = self.request["ProcessingResources"]["ClusterConfig"]
        sandbox.write_json("/opt/ml/config/processingjobconfig.json", self.request)
        sandbox.write_json(
            "/opt/ml/config/resourceconfig.json",
            {
                "current_host": "algo-1",
                "hosts": ["algo-1"],
                "current_instance_type": cluster["InstanceType"],
            },
        )
        for item in self.request.get("ProcessingInputs", []):
            s3_input = item["S3Input"]
            try:
                count = self.s3.download(
                    s3_input["S3Uri"], sandbox.host_path(s3_input["LocalPath"])
                )
            except S3LocationError as error:
                raise JobError(f"ClientError: input {item['InputName']!r}: {error}") from error
            self.log.write(f"Downloaded {count} object(s) for input {item['InputName']}")
        outputs = self.request.get("ProcessingOutputConfig", {}).get("Outputs", [])
        for item in outputs:
            sandbox.host_path(item["S3Output"]["LocalPath"]).mkdir(parents=True, exist_ok=True)

        app = self.request["AppSpecification"]
        argv = app["ContainerEntrypoint"] + app.get("ContainerArguments", [])
        env = sandbox.environment({**self.credentials(), **self.request.get("Environment", {})})
        sandbox.host_path(EXIT_MESSAGE_FILE).parent.mkdir(parents=True, exist_ok=True)
        try:
            exit_code = self.run_process(argv, env)
        finally:
            problem = self.read_exit_message()
        if problem:
            raise JobError(problem)
        if exit_code != 0:
            raise JobError(
                f"AlgorithmError: {self.last_error_line()} (exit code {exit_code}). "
                f"See the job's log stream in {self.log_group} for more information."
            )

        for item in outputs:
            count = self.s3.upload_folder(
                sandbox.host_path(item["S3Output"]["LocalPath"]), item["S3Output"]["S3Uri"]
            )
            self.log.write(f"Uploaded {count} file(s) for output {item['OutputName']}")
        self.update(processing_job_status="Completed", processing_end_time=utcnow())

    def read_exit_message(self) -> str | None:
        """Record ``ExitMessage``: the first 1 KB the container wrote to its message file.

        Returns why the job must fail instead (the text is not UTF-8), else None.
        """
        path = self.sandbox.host_path(EXIT_MESSAGE_FILE)
        if not path.is_file():
            return None
        data = path.read_bytes()
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as error:
            return f"ClientError: {EXIT_MESSAGE_FILE} is not UTF-8 encoded text ({error.reason})"
        message = data[:MAX_EXIT_MESSAGE].decode("utf-8", errors="ignore")
        self.update(exit_message=self.sandbox.shown(message))
        return None

    def on_failed(self, reason: str) -> None:
        self.update(
            processing_job_status="Failed", failure_reason=reason, processing_end_time=utcnow()
        )

    def on_stopped(self, stopped_by: str) -> None:
        message = None
        if stopped_by == "max_runtime":
            message = (
                "Processing job runtime exceeded MaxRuntimeInSeconds provided "
                f"({int(self.max_runtime)} s)"
            )
        details = {"exit_message": message} if message else {}
        self.update(processing_job_status="Stopped", processing_end_time=utcnow(), **details)


def install(context: Context) -> None:
    """Route ``CreateProcessingJob`` and ``StopProcessingJob`` to the runner."""
    create = run_on_create(context, ProcessingExecution, refusals, job_name_taken, _running)
    patch(SageMakerResponse, "create_processing_job", create)
    patch(SageMakerResponse, "stop_processing_job", stop_on_request(context, ProcessingExecution))


def _running(job, request: dict) -> None:
    job.processing_job_status = "InProgress"
    job.processing_end_time = None
    job.processing_resources = request["ProcessingResources"]
    job.environment = request.get("Environment")


def recover(context: Context) -> list[str]:
    """Fail the jobs that were running when the local AWS stopped or died."""
    return fail_interrupted(context, "processing")


def refusals(request: dict) -> list[str]:
    problems = []
    cluster = request["ProcessingResources"]["ClusterConfig"]
    if cluster.get("InstanceCount", 1) != 1:
        problems.append(f"ProcessingResources.ClusterConfig.InstanceCount > 1 {NOT_EMULATED}")
    if not request["AppSpecification"].get("ContainerEntrypoint"):
        problems.append(
            "AppSpecification.ContainerEntrypoint is required by the local AWS: it runs the "
            "job's command in the project environment and cannot read an image's entrypoint"
        )
    for item in request.get("ProcessingInputs", []):
        name = item.get("InputName")
        if "DatasetDefinition" in item:
            problems.append(f"ProcessingInputs {name!r}: DatasetDefinition {NOT_EMULATED}")
        s3_input = item.get("S3Input", {})
        if s3_input.get("S3InputMode", "File") != "File":
            problems.append(f"ProcessingInputs {name!r}: S3InputMode Pipe {NOT_EMULATED}")
        if s3_input.get("S3DataType", "S3Prefix") != "S3Prefix":
            problems.append(f"ProcessingInputs {name!r}: S3DataType ManifestFile {NOT_EMULATED}")
        if s3_input.get("S3CompressionType", "None") != "None":
            problems.append(f"ProcessingInputs {name!r}: S3CompressionType Gzip {NOT_EMULATED}")
        problems += local_path_problems(f"ProcessingInputs {name!r}", s3_input)
    for item in request.get("ProcessingOutputConfig", {}).get("Outputs", []):
        problems += local_path_problems(
            f"Outputs {item.get('OutputName')!r}", item.get("S3Output", {})
        )
        if "FeatureStoreOutput" in item:
            problems.append(
                f"Outputs {item.get('OutputName')!r}: FeatureStoreOutput {NOT_EMULATED}"
            )
    return problems


def local_path_problems(subject: str, location: dict) -> list[str]:
    """SageMaker requires each LocalPath to be an absolute path under /opt/ml/processing/."""
    local_path = location.get("LocalPath")
    if local_path is None:
        return []
    parts = PurePosixPath(local_path).parts
    if parts[:4] != ("/", "opt", "ml", "processing") or len(parts) < 5 or ".." in parts:
        return [f"{subject}: LocalPath {local_path!r} must be a path under /opt/ml/processing/"]
    return []


CAPABILITY = Capability(
    name="processing jobs",
    persists=("sagemaker",),
    # its jobs' data comes from S3's blob store; their logs are CloudWatch Logs
    requires=("AWS services", "S3 storage"),
    install=install,
    recover=recover,
)
