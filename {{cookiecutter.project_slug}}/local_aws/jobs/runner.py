"""Running SageMaker jobs on this machine, in the background, several at once.

A job kind (processing, training; later transform, monitoring) subclasses ``JobExecution`` and
says how to prepare its sandbox, which command to run and what to do with the results. This
module owns what every kind shares: a thread per job, the job's process in its own process group,
``StoppingCondition.MaxRuntimeInSeconds``, ``Stop*Job``, its output streamed to CloudWatch Logs,
status changes written to the moto backend and persisted at once, and the recovery of jobs that
were running when the local AWS died.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
import traceback

import boto3
import psutil
from botocore.config import Config
from moto.backends import get_backend
from moto.core.utils import utcnow

from local_aws.jobs.logs import JobLog
from local_aws.jobs.s3_transfer import S3Transfer
from local_aws.jobs.sandbox import NAMESPACE, Isolation, Sandbox, detect_isolation
from local_aws.state import StateStore

log = logging.getLogger(__name__)

#: AWS's FailureReason holds at most 1024 characters.
MAX_REASON = 1024
#: Seconds between SIGTERM and SIGKILL when a job is stopped. SageMaker waits 120 s; a local run
#: has nothing worth that wait, so the grace period is shorter (and configurable).
STOP_GRACE_SECONDS = float(os.environ.get("LOCAL_AWS_STOP_GRACE_SECONDS", "5"))
#: Set LOCAL_AWS_KEEP_SANDBOXES=1 to keep completed jobs' folders for inspection.
KEEP_SANDBOXES = os.environ.get("LOCAL_AWS_KEEP_SANDBOXES", "") not in ("", "0")


#: Why a job that was running when the local AWS stopped (or died) ended.
INTERRUPTED = (
    "InternalServerError: the local AWS stopped while this job was running, and the job stopped "
    "with it. Start it again under a new name."
)


class JobError(Exception):
    """The job failed for a reason that becomes its ``FailureReason``."""


class JobExecution:
    """One run of one job. Subclasses fill in the SageMaker contract of their kind."""

    kind = ""
    log_group = ""

    def __init__(self, runner: JobRunner, account_id: str, region: str, name: str, request: dict):
        self.runner = runner
        self.account_id = account_id
        self.region = region
        self.name = name
        self.request = request
        self.stop_requested = threading.Event()
        self.sandbox = Sandbox(
            runner.store.jobs_dir / account_id / region / self.kind / name, runner.isolation
        )
        self.s3 = S3Transfer(account_id, region, runner.store)
        self.log: JobLog | None = None
        self.started = time.monotonic()

    # --- what subclasses provide --------------------------------------------------------------

    def fake(self):
        """moto's record of this job."""
        raise NotImplementedError

    def run(self) -> None:
        """Prepare, run and finish the job; raise ``JobError`` to fail it."""
        raise NotImplementedError

    def on_failed(self, reason: str) -> None:
        raise NotImplementedError

    def on_stopped(self, stopped_by: str) -> None:
        raise NotImplementedError

    @classmethod
    def fail_interrupted(cls, account_id: str, region: str, backend, reason: str) -> list[str]:
        """Fail this kind's jobs that were running when the local AWS died; return their names."""
        raise NotImplementedError

    # --- shared machinery ---------------------------------------------------------------------

    @property
    def max_runtime(self) -> float:
        return float(self.request.get("StoppingCondition", {}).get("MaxRuntimeInSeconds", 86400))

    def update(self, **attributes) -> None:
        """Change moto's record of the job and persist it at once."""
        with self.runner.store.lock:
            fake = self.fake()
            for key, value in attributes.items():
                setattr(fake, key, value)
            fake.last_modified_time = utcnow()
            self.runner.store.save(["sagemaker"])

    def open_log(self) -> JobLog:
        stream = f"{self.name}/algo-1-{int(time.time())}"
        self.log = JobLog(
            self.account_id,
            self.region,
            self.log_group,
            stream,
            self.runner.store.lock,
            on_flush=lambda: self.runner.store.save(["logs"]),
        )
        return self.log

    def credentials(self) -> dict[str, str]:
        """The job's AWS environment: its execution role's credentials, as in a container."""
        return self.runner.role_environment(self.account_id, self.region, self.request["RoleArn"])

    def execute(self) -> None:
        """Thread body: run the job and record how it ended, whatever happens."""
        try:
            self.open_log().write(self.sandbox.isolation.describe())
            self.run()
        except JobStopped as stop:
            if self.runner.shutting_down:
                self.record_failure(INTERRUPTED)
            else:
                self.on_stopped(stop.stopped_by)
        except JobError as error:
            self.record_failure(str(error))
        except Exception as error:  # a defect in the local AWS must not leave a job InProgress
            log.exception("job %s crashed", self.name)
            if self.log:
                self.log.write(traceback.format_exc())
            self.record_failure(
                f"InternalServerError: the local AWS failed to run the job: {error!r}"
            )
        finally:
            if self.log:
                self.log.flush()
            self.runner.finished(self)
            self.discard_sandbox()

    def record_failure(self, reason: str) -> None:
        """Record Failed even when recording the usual details (metrics, secondary status) fails."""
        reason = self.sandbox.shown(reason)
        try:
            self.on_failed(reason)
        except Exception:
            log.exception("job %s: recording its failure failed", self.name)
            self.update(
                **{
                    f"{self.kind}_job_status": "Failed",
                    "failure_reason": truncate_reason(reason),
                }
            )

    def discard_sandbox(self) -> None:
        """A completed job's sandbox holds nothing S3 does not; a failed one is kept to debug."""
        completed = self.fake().__dict__.get(f"{self.kind}_job_status") == "Completed"
        if completed and not KEEP_SANDBOXES:
            shutil.rmtree(self.sandbox.root, ignore_errors=True)

    def run_process(self, argv: list[str], env: dict[str, str], workdir: str | None = None) -> int:
        """Run the container command ``argv`` (in ``workdir``, a container path) in the sandbox.

        Streams its output to the log; enforces stop and max runtime.
        """
        deadline = self.started + self.max_runtime
        command, cwd = self.sandbox.command(argv, workdir)
        try:
            process = subprocess.Popen(
                command,
                env=env,
                cwd=cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                text=True,
                errors="replace",
                bufsize=1,
            )
        except OSError as error:
            raise JobError(
                f"ClientError: cannot start the container command {argv[0]!r}: {error}"
            ) from error
        self.runner.track(self, process)
        reader = threading.Thread(target=self._pump, args=(process,), daemon=True)
        reader.start()
        stopped_by = None
        try:
            while process.poll() is None:
                self.log.flush_if_due()  # a job that prints, then computes quietly, is seen
                if self.stop_requested.wait(timeout=0.05):
                    stopped_by = "request"
                elif time.monotonic() >= deadline:
                    stopped_by = "max_runtime"
                if stopped_by:
                    _terminate(process, wrapped=self.sandbox.isolation.mode == NAMESPACE)
                    break
            process.wait()
        finally:
            reader.join(timeout=5)
            self.runner.untrack(process)
        if stopped_by:
            raise JobStopped(stopped_by)
        return process.returncode

    def _pump(self, process: subprocess.Popen) -> None:
        for line in process.stdout:
            self.log.write(self.sandbox.shown(line))

    def last_error_line(self) -> str:
        """The script's own error: the last non-empty line it printed (a traceback's last line)."""
        for line in reversed(self.log.lines if self.log else []):
            if line.strip():
                return line.strip()
        return "the job's command exited with an error and printed nothing"


class JobStopped(Exception):
    def __init__(self, stopped_by: str):
        super().__init__(stopped_by)
        self.stopped_by = stopped_by


def _terminate(process: subprocess.Popen, wrapped: bool) -> None:
    """SIGTERM the job's processes, then SIGKILL its process group after the grace period.

    A job run through bubblewrap (``wrapped``) gets the signal in its own processes only:
    bubblewrap itself would die at once and take them with it, with no time to end cleanly.
    """
    try:
        if wrapped:
            for child in psutil.Process(process.pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    child.send_signal(signal.SIGTERM)
        else:
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, psutil.NoSuchProcess):
        pass


def truncate_reason(reason: str) -> str:
    return reason if len(reason) <= MAX_REASON else reason[: MAX_REASON - 3] + "..."


class JobRunner:
    """Starts job executions in threads and keeps track of their processes."""

    def __init__(
        self,
        store: StateStore,
        endpoint_url: str,
        kinds: tuple[type[JobExecution], ...],
        isolation: Isolation | None = None,
    ):
        self.store = store
        self.endpoint_url = endpoint_url
        self.kinds = kinds
        #: How jobs see /opt/ml on this machine (a private mount namespace, or path mapping).
        self.isolation = isolation or detect_isolation()
        self._running: dict[tuple[str, str, str, str], JobExecution] = {}
        self._lock = threading.Lock()
        self.shutting_down = False
        self._pids_dir = store.root / "running"
        self._pids_dir.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(kind: str, account_id: str, region: str, name: str) -> tuple[str, str, str, str]:
        return (kind, account_id, region, name)

    def submit(self, execution: JobExecution) -> None:
        key = self.key(execution.kind, execution.account_id, execution.region, execution.name)
        with self._lock:
            self._running[key] = execution
        threading.Thread(
            target=execution.execute, name=f"job-{execution.name}", daemon=True
        ).start()

    def stop(self, kind: str, account_id: str, region: str, name: str) -> bool:
        with self._lock:
            execution = self._running.get(self.key(kind, account_id, region, name))
        if execution is None:
            return False
        execution.stop_requested.set()
        return True

    def finished(self, execution: JobExecution) -> None:
        key = self.key(execution.kind, execution.account_id, execution.region, execution.name)
        with self._lock:
            self._running.pop(key, None)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no job runs (used at shutdown and in tests)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                if not self._running:
                    return True
            time.sleep(0.05)
        return False

    def stop_all(self) -> None:
        """Stop every running job because the local AWS itself is stopping: they end Failed."""
        self.shutting_down = True
        with self._lock:
            executions = list(self._running.values())
        for execution in executions:
            execution.stop_requested.set()

    # --- credentials --------------------------------------------------------------------------

    def role_environment(self, account_id: str, region: str, role_arn: str) -> dict[str, str]:
        sts = boto3.client(
            "sts",
            endpoint_url=self.endpoint_url,
            region_name=region,
            aws_access_key_id="local-aws-runner",
            aws_secret_access_key="local-aws-runner",
            config=Config(retries={"max_attempts": 2}),
        )
        session = sts.assume_role(RoleArn=role_arn, RoleSessionName="SageMaker")["Credentials"]
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ACCESS_KEY_ID": session["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": session["SecretAccessKey"],
            "AWS_SESSION_TOKEN": session["SessionToken"],
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    # --- processes that outlive a crash -------------------------------------------------------

    def track(self, execution: JobExecution, process: subprocess.Popen) -> None:
        """Record a job's process group on disk, so that a restart after a crash can end it."""
        record = {"pid": process.pid, "start": _process_start(process.pid), "job": execution.name}
        path = self._pids_dir / f"{process.pid}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path)

    def untrack(self, process: subprocess.Popen) -> None:
        (self._pids_dir / f"{process.pid}.json").unlink(missing_ok=True)

    def recover(self) -> list[str]:
        """After a crash: kill orphaned job processes and fail the jobs they belonged to."""
        for path in self._pids_dir.glob("*.json"):
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                record = {"start": None}  # unreadable: no process can be identified safely
            if record["start"] is not None and _process_start(record["pid"]) == record["start"]:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(record["pid"], signal.SIGKILL)
            path.unlink(missing_ok=True)
        failed = []
        with self.store.lock:
            for account_id, region, backend in get_backend("sagemaker").iter_backends():
                for kind in self.kinds:
                    failed += kind.fail_interrupted(account_id, region, backend, INTERRUPTED)
            if failed:
                self.store.save(["sagemaker", "logs"])
        return failed


def _process_start(pid: int) -> float | None:
    """The process's start time: tells a live job process from a reused PID."""
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None
