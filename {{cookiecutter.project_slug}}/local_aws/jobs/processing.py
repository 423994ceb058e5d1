"""Processing jobs, run by SageMaker Processing's container contract.

Before the command starts, each ``ProcessingInputs[].S3Input`` is downloaded to its ``LocalPath``;
the command is ``AppSpecification.ContainerEntrypoint`` + ``ContainerArguments`` with
``Environment`` set; when it exits 0, each ``ProcessingOutputConfig.Outputs[].S3Output`` folder is
uploaded to its ``S3Uri``. Whatever the ending, ``/opt/ml/output/message`` becomes ``ExitMessage``.
``/opt/ml/config/processingjobconfig.json`` and ``resourceconfig.json`` are written as SageMaker
writes them.
"""

from __future__ import annotations

from moto.backends import get_backend
from moto.core.utils import utcnow

from local_aws.jobs.runner import JobError, JobExecution, truncate_reason
from local_aws.jobs.s3_transfer import S3LocationError

#: What the container writes there becomes the job's ExitMessage (its first 1 KB), whatever the
#: ending; text that is not UTF-8 fails the job.
EXIT_MESSAGE_FILE = "/opt/ml/output/message"
MAX_EXIT_MESSAGE = 1024


class ProcessingExecution(JobExecution):
    kind = "processing"
    log_group = "/aws/sagemaker/ProcessingJobs"

    def fake(self):
        return get_backend("sagemaker")[self.account_id][self.region].processing_jobs[self.name]

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
            processing_job_status="Failed",
            failure_reason=truncate_reason(reason),
            processing_end_time=utcnow(),
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

    @classmethod
    def fail_interrupted(cls, account_id: str, region: str, backend, reason: str) -> list[str]:
        failed = []
        for job in backend.processing_jobs.values():
            if job.processing_job_status in ("InProgress", "Stopping"):
                job.processing_job_status = "Failed"
                job.failure_reason = reason
                job.processing_end_time = job.last_modified_time = utcnow()
                failed.append(job.processing_job_name)
        return failed
