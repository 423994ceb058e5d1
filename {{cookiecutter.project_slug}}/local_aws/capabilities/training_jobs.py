"""Training jobs, run by SageMaker Training's container contract and its script mode.

``CreateTrainingJob`` keeps moto's bookkeeping, then fixes what moto gets wrong (it replaces
``MetricDefinitions``, drops ``Environment``, marks the job Completed at once and overwrites a
job that already exists) and hands the job to the runner; ``StopTrainingJob`` stops it. Refused,
as not emulated: several instances, ``Pipe``/``FastFile`` input, managed spot, built-in and
marketplace algorithms, manifest files, gzip channels and checkpoints. Accepted and recorded
only: the image, instance type and volume size, network settings, KMS keys and tags.

The sandbox gets ``/opt/ml/input/config/{hyperparameters,inputdataconfig,resourceconfig}.json``
and one folder per channel under ``/opt/ml/input/data``; the container's ``train`` command is the
real SageMaker training toolkit (``sagemaker-training``), which downloads
``sagemaker_submit_directory``, sets the ``SM_*`` variables and runs ``sagemaker_program`` exactly
as in a framework container. Afterwards ``/opt/ml/model`` becomes
``<S3OutputPath>/<job>/output/model.tar.gz`` (and ``/opt/ml/output/data`` ``output.tar.gz``);
``/opt/ml/output/failure`` becomes the ``FailureReason``; the log is searched with the job's
``MetricDefinitions`` for ``FinalMetricDataList``. Status moves through SageMaker's secondary
statuses: Starting, Downloading, Training, Uploading, then Completed, Failed, Stopped or
MaxRuntimeExceeded. A job never ends Completed without its script having run: the toolkit must
have reported success (``/opt/ml/output/success``).
"""

from __future__ import annotations

import re
import sys
import tarfile
import time
from pathlib import Path

from moto.backends import get_backend
from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ResourceInUseException
from moto.sagemaker.responses import SageMakerResponse

from local_aws.capabilities.s3_transfer import S3LocationError
from local_aws.capabilities.sagemaker_job import (
    NOT_EMULATED,
    SageMakerJob,
    run_on_create,
    sagemaker_backends,
    stop_on_request,
)
from local_aws.capability import Capability, Context, patch
from local_aws.jobs.runner import INTERRUPTED, JobError
from local_aws.validation import compile_pattern

#: The container command when the request names none: the SageMaker training toolkit.
TOOLKIT_COMMAND = [sys.executable, "-m", "sagemaker_training.cli.train"]
ENDED = ("Completed", "Failed", "Stopped", "MaxRuntimeExceeded")
STATUS_MESSAGES = {
    "Starting": "Preparing the instances for training",
    "Downloading": "Downloading input data",
    "Training": "Training image download completed. Training in progress.",
    "Uploading": "Uploading generated training model",
    "Completed": "Training job completed",
    "Stopped": "Training job stopped by user request",
    "MaxRuntimeExceeded": "Training job runtime exceeded MaxRuntimeInSeconds provided",
}


class TrainingExecution(SageMakerJob):
    kind = "training"
    log_group = "/aws/sagemaker/TrainingJobs"
    name_key = "TrainingJobName"
    status_attribute = "training_job_status"

    def record(self):
        return get_backend("sagemaker")[self.account_id][self.region].training_jobs[self.name]

    def secondary(self, status: str, message: str | None = None, **attributes) -> None:
        """Move to a secondary status, closing the previous transition as SageMaker does."""
        transitions = _transitions_to(self.record(), status, message)
        self.update(secondary_status=status, secondary_status_transitions=transitions, **attributes)

    def run(self) -> None:
        sandbox = self.sandbox.create()
        self.update(training_start_time=utcnow())
        self.secondary("Downloading")
        channels = {}
        for channel in self.request.get("InputDataConfig", []):
            name = channel["ChannelName"]
            uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
            try:
                count = self.s3.download(uri, sandbox.host_path(f"/opt/ml/input/data/{name}"))
            except S3LocationError as error:
                raise JobError(f"ClientError: channel {name!r}: {error}") from error
            self.log.write(f"Downloaded {count} object(s) for channel {name}")
            channels[name] = {
                "TrainingInputMode": "File",
                "S3DistributionType": channel["DataSource"]["S3DataSource"].get(
                    "S3DataDistributionType", "FullyReplicated"
                ),
                "RecordWrapperType": channel.get("RecordWrapperType", "None"),
            }
        resources = self.request["ResourceConfig"]
        sandbox.write_json(
            "/opt/ml/input/config/hyperparameters.json", self.request.get("HyperParameters", {})
        )
        sandbox.write_json("/opt/ml/input/config/inputdataconfig.json", channels)
        sandbox.write_json(
            "/opt/ml/input/config/resourceconfig.json",
            {
                "current_host": "algo-1",
                "current_instance_type": resources["InstanceType"],
                "current_group_name": "homogeneousCluster",
                "hosts": ["algo-1"],
                "instance_groups": [
                    {
                        "instance_group_name": "homogeneousCluster",
                        "instance_type": resources["InstanceType"],
                        "hosts": ["algo-1"],
                    }
                ],
                "network_interface_name": "eth0",
            },
        )
        sandbox.write_json("/opt/ml/input/config/trainingjobconfig.json", self.request)
        for folder in ("/opt/ml/model", "/opt/ml/output/data", "/opt/ml/code"):
            sandbox.host_path(folder).mkdir(parents=True, exist_ok=True)

        self.secondary("Training")
        algorithm = self.request["AlgorithmSpecification"]
        uses_toolkit = not algorithm.get("ContainerEntrypoint")
        command = TOOLKIT_COMMAND if uses_toolkit else algorithm["ContainerEntrypoint"]
        argv = command + algorithm.get("ContainerArguments", [])
        env = sandbox.environment(
            {
                **self.credentials(),
                **self.request.get("Environment", {}),
                "SAGEMAKER_BASE_DIR": "/opt/ml",
                "TRAINING_JOB_NAME": self.name,
                "TRAINING_JOB_ARN": self.record().arn,
                # The toolkit waits until every host in resourceconfig.json resolves; "algo-1"
                # only resolves inside SageMaker's network, and one host needs no peers.
                "SM_STUDIO_LOCAL_MODE": "true",
            }
        )
        exit_code = self.run_process(argv, env, workdir="/opt/ml/code")
        metrics = self.final_metrics()
        if exit_code != 0:
            raise JobError(f"AlgorithmError: {self.failure_detail()}, exit code: {exit_code}")
        success = sandbox.host_path("/opt/ml/output/success")
        if uses_toolkit and not success.exists():
            # The toolkit exits 0 even when it cannot read its own configuration (it exits from
            # a `finally`); in a container that cannot happen, so it must not pass here either.
            raise JobError(
                "AlgorithmError: the training toolkit exited without running the training script "
                f"or reporting success (no /opt/ml/output/success): {self.last_error_line()}"
            )

        self.secondary("Uploading")
        output_path = self.request["OutputDataConfig"]["S3OutputPath"].rstrip("/")
        model_uri = f"{output_path}/{self.name}/output/model.tar.gz"
        self._upload_tarball(sandbox.host_path("/opt/ml/model"), model_uri)
        data_dir = sandbox.host_path("/opt/ml/output/data")
        if any(data_dir.iterdir()):
            self._upload_tarball(data_dir, f"{output_path}/{self.name}/output/output.tar.gz")
        seconds = int(time.monotonic() - self.started)
        self.secondary(
            "Completed",
            training_job_status="Completed",
            training_end_time=utcnow(),
            model_artifacts={"S3ModelArtifacts": model_uri},
            final_metric_data_list=metrics,
            training_time_in_seconds=seconds,
            billable_time_in_seconds=seconds,
        )

    def failure_detail(self) -> str:
        """The toolkit's ``/opt/ml/output/failure``, with the script's own error filled in.

        Framework containers run the toolkit with ``capture_error`` so that the failure names
        the exception; the bare toolkit leaves ``ErrorMessage ""``, so the log supplies it.
        """
        failure = self.sandbox.host_path("/opt/ml/output/failure")
        if not failure.exists():
            return self.last_error_line()
        detail = failure.read_text().strip()
        return detail.replace('ErrorMessage ""', f'ErrorMessage "{self.last_script_error()}"')

    def last_script_error(self) -> str:
        """The last line of the script's traceback, skipping the toolkit's own log lines."""
        lines = self.log.lines
        for index in range(len(lines) - 1, -1, -1):
            if lines[index].startswith("Traceback (most recent call last)"):
                for line in lines[index + 1 :]:
                    if line and not line.startswith((" ", "\t")):
                        return line.strip()
        return self.last_error_line()

    def _upload_tarball(self, folder: Path, uri: str) -> None:
        tarball = self.sandbox.tmp / Path(uri).name
        with tarfile.open(tarball, "w:gz") as tar:
            for path in sorted(folder.iterdir()):
                tar.add(path, arcname=path.name)
        self.s3.upload_file(tarball, uri, content_type="application/x-tar")
        self.log.write(f"Uploaded {uri}")

    def final_metrics(self) -> list[dict]:
        """The last value each ``MetricDefinitions`` regex found in the log."""
        definitions = self.request["AlgorithmSpecification"].get("MetricDefinitions", [])
        return final_metrics(definitions, self.log.lines, report=self.log.write)

    def on_failed(self, reason: str) -> None:
        self.secondary(
            "Failed",
            message=f"Training job failed. Reason: {reason}"[:1024],
            training_job_status="Failed",
            failure_reason=reason,
            training_end_time=utcnow(),
            final_metric_data_list=self.final_metrics() if self.log else [],
        )

    def on_stopped(self, stopped_by: str) -> None:
        status = "MaxRuntimeExceeded" if stopped_by == "max_runtime" else "Stopped"
        self.secondary(
            status,
            training_job_status="Stopped",
            training_end_time=utcnow(),
            final_metric_data_list=self.final_metrics(),
        )


def install(context: Context) -> None:
    """Route ``CreateTrainingJob`` and ``StopTrainingJob`` to the runner."""
    create = run_on_create(context, TrainingExecution, refusals, _name_taken, _running)
    patch(SageMakerResponse, "create_training_job", create)
    stop = stop_on_request(context, TrainingExecution, stopping=_stopping)
    patch(SageMakerResponse, "stop_training_job", stop)


def _name_taken(arn: str) -> Exception:
    return ResourceInUseException(
        "Training job names must be unique within an AWS account and region, and a training "
        f"job with this name already exists ({arn})"
    )


def _running(job, request: dict) -> None:
    job.algorithm_specification = request["AlgorithmSpecification"]  # moto replaces its metrics
    job.environment = request.get("Environment")
    job.training_job_status = "InProgress"
    job.secondary_status = "Starting"
    job.secondary_status_transitions = [
        {
            "Status": "Starting",
            "StartTime": job.creation_time,
            "StatusMessage": STATUS_MESSAGES["Starting"],
        }
    ]
    job.final_metric_data_list = []
    job.training_start_time = job.training_end_time = job.model_artifacts = None


def _stopping(job) -> None:
    job.secondary_status = "Stopping"


def recover(context: Context) -> list[str]:
    """Fail the jobs that were running when the local AWS stopped or died, as after any failure:
    a Failed transition, an end time and the metrics they had logged."""
    failed = []
    with context.lock:
        for account_id, region, backend in sagemaker_backends():
            logs = get_backend("logs")[account_id][region].groups.get(TrainingExecution.log_group)
            for job in backend.training_jobs.values():
                if job.training_job_status in ("InProgress", "Stopping"):
                    _fail_interrupted(job, logs)
                    failed.append(job.training_job_name)
        if failed:
            context.store.save(["sagemaker"])
    return [f"failed interrupted training job {name}" for name in failed]


def _fail_interrupted(job, logs) -> None:
    lines = []
    for name, stream in sorted(logs.streams.items() if logs else []):
        if name.startswith(f"{job.training_job_name}/"):
            lines += [event.message for event in stream.events]
    definitions = (job.algorithm_specification or {}).get("MetricDefinitions", [])
    job.secondary_status_transitions = _transitions_to(
        job, "Failed", f"Training job failed. Reason: {INTERRUPTED}"[:1024]
    )
    job.secondary_status = job.training_job_status = "Failed"
    job.failure_reason = INTERRUPTED
    job.final_metric_data_list = final_metrics(definitions, lines)
    job.training_end_time = job.last_modified_time = utcnow()


def _transitions_to(job, status: str, message: str | None = None) -> list[dict]:
    """``job``'s secondary status transitions, the last one closed and ``status`` added."""
    now = utcnow()
    transitions = [dict(t) for t in job.secondary_status_transitions or []]
    if transitions and "EndTime" not in transitions[-1]:
        transitions[-1]["EndTime"] = now
    entry = {
        "Status": status,
        "StartTime": now,
        "StatusMessage": message or STATUS_MESSAGES[status],
    }
    if status in ENDED:
        entry["EndTime"] = now
    return [*transitions, entry]


def final_metrics(definitions: list[dict], lines: list[str], report=None) -> list[dict]:
    """``FinalMetricDataList``: the last value each definition's regex finds in ``lines``."""
    patterns = []
    for definition in definitions:
        pattern = _metric_pattern(definition["Regex"])
        if pattern is None:
            if report:
                report(f"Metric {definition['Name']!r}: regex not understood, not parsed")
        else:
            patterns.append((definition["Name"], pattern))
    found = {}
    for line in lines:
        for name, pattern in patterns:
            match = pattern.search(line)
            if match:
                try:
                    found[name] = float(match.group(1))
                except (IndexError, ValueError):
                    continue
    now = utcnow()
    return [{"MetricName": name, "Value": value, "Timestamp": now} for name, value in found.items()]


def _metric_pattern(text: str):
    """A metric regex as Python's ``re`` reads it, else as a Java pattern; None if neither."""
    try:
        return re.compile(text)
    except re.error:
        return compile_pattern(text)


def refusals(request: dict) -> list[str]:
    problems = []
    algorithm = request["AlgorithmSpecification"]
    if "AlgorithmName" in algorithm:
        problems.append(
            "AlgorithmSpecification.AlgorithmName: built-in and marketplace algorithms are not "
            "emulated by the local AWS; use a TrainingImage with script mode"
        )
    if algorithm.get("TrainingInputMode", "File") != "File":
        problems.append(f"TrainingInputMode {algorithm['TrainingInputMode']} {NOT_EMULATED}")
    resources = request["ResourceConfig"]
    if resources.get("InstanceCount", 1) != 1 or "InstanceGroups" in resources:
        problems.append(f"ResourceConfig with more than one instance {NOT_EMULATED}")
    if request.get("EnableManagedSpotTraining"):
        problems.append(f"EnableManagedSpotTraining {NOT_EMULATED}")
    if "CheckpointConfig" in request:
        problems.append(f"CheckpointConfig {NOT_EMULATED}")
    for channel in request.get("InputDataConfig", []):
        name = channel.get("ChannelName")
        source = channel.get("DataSource", {})
        if "S3DataSource" not in source:
            problems.append(
                f"Channel {name!r}: only S3DataSource {NOT_EMULATED.replace('is not', 'is')}"
            )
            continue
        if source["S3DataSource"].get("S3DataType", "S3Prefix") != "S3Prefix":
            problems.append(f"Channel {name!r}: S3DataType other than S3Prefix {NOT_EMULATED}")
        if channel.get("InputMode", "File") != "File":
            problems.append(f"Channel {name!r}: InputMode {channel['InputMode']} {NOT_EMULATED}")
        if channel.get("CompressionType", "None") != "None":
            problems.append(f"Channel {name!r}: CompressionType Gzip {NOT_EMULATED}")
    return problems


CAPABILITY = Capability(
    name="training jobs",
    persists=("sagemaker",),
    # its jobs' data comes from S3's blob store; their logs are CloudWatch Logs
    requires=("AWS services", "S3 storage"),
    install=install,
    recover=recover,
)
