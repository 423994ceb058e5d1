"""Running jobs on this machine, in the background, several at once.

A job kind (a capability: processing, training; later transform, monitoring) subclasses
``JobExecution`` and says how to prepare its sandbox, which command to run, where its log goes
and how it records its status. This module owns what every kind shares: a thread per job, the
job's process in its own process group and sandbox, its maximum runtime, stopping it, its output
streamed to its log, and, after a crash, ending the processes of jobs that were running.
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
import uuid
from pathlib import Path
from typing import Protocol

import psutil

from local_aws.jobs.sandbox import NAMESPACE, Isolation, Sandbox, detect_isolation
from local_aws.state import StateStore

log = logging.getLogger(__name__)

#: A failure reason holds at most 1024 characters (SageMaker's FailureReason does).
MAX_REASON = 1024
#: Seconds between SIGTERM and SIGKILL when a job is stopped. SageMaker waits 120 s; a local run
#: has nothing worth that wait, so the grace period is shorter (and configurable).
STOP_GRACE_SECONDS = float(os.environ.get("LOCAL_AWS_STOP_GRACE_SECONDS", "5"))
#: Set LOCAL_AWS_KEEP_SANDBOXES=1 to keep completed jobs' folders for inspection.
KEEP_SANDBOXES = os.environ.get("LOCAL_AWS_KEEP_SANDBOXES", "") not in ("", "0")


#: Set in the environment of every process the local AWS starts (jobs, model servers), to a
#: value of its own: after a crash, that is how its processes are told from any others.
PROCESS_MARKER = "LOCAL_AWS_PROCESS"

#: Why a job that was running when the local AWS stopped (or died) ended.
INTERRUPTED = (
    "InternalServerError: the local AWS stopped while this job was running, and the job stopped "
    "with it. Start it again under a new name."
)


class JobError(Exception):
    """The job failed for a reason that becomes its ``FailureReason``."""


class JobLogLike(Protocol):
    """Where a job's output goes, line by line (CloudWatch Logs for SageMaker's jobs)."""

    lines: list[str]

    def write(self, line: str) -> None: ...

    def flush_if_due(self) -> None: ...

    def flush(self) -> None: ...


class JobExecution:
    """One run of one job. Subclasses fill in the contract of their kind."""

    #: The kind's name: its sandboxes live in ``<state>/jobs/<account>/<region>/<kind>/<name>``.
    kind = ""

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
        self.log: JobLogLike | None = None
        self.started = time.monotonic()

    # --- what subclasses provide --------------------------------------------------------------

    def open_log(self) -> JobLogLike:
        """Start the job's log and return it."""
        raise NotImplementedError

    def run(self) -> None:
        """Prepare, run and finish the job; raise ``JobError`` to fail it."""
        raise NotImplementedError

    def on_failed(self, reason: str) -> None:
        """Record that the job failed, with all the details of its kind."""
        raise NotImplementedError

    def on_stopped(self, stopped_by: str) -> None:
        """Record that the job was stopped: by ``request``, or at its ``max_runtime``."""
        raise NotImplementedError

    def record_failed_only(self, reason: str) -> None:
        """Record Failed and nothing else: the last resort when ``on_failed`` itself fails."""
        raise NotImplementedError

    @property
    def completed(self) -> bool:
        raise NotImplementedError

    @property
    def max_runtime(self) -> float:
        """Seconds the job may run before it is stopped."""
        raise NotImplementedError

    # --- shared machinery ---------------------------------------------------------------------

    def execute(self) -> None:
        """Thread body: run the job and record how it ended, whatever happens."""
        try:
            self.log = self.open_log()
            self.log.write(self.sandbox.isolation.describe())
            self.run()
        except JobStopped as stop:
            if self.runner.shutting_down:
                self.record_failure(INTERRUPTED)
            else:
                self.on_stopped(stop.stopped_by)
        except JobError as error:
            self.record_failure(str(error))
        except Exception as error:  # a defect in the local AWS must not leave a job running
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
        reason = truncate_reason(self.sandbox.shown(reason))
        try:
            self.on_failed(reason)
        except Exception:
            log.exception("job %s: recording its failure failed", self.name)
            self.record_failed_only(reason)

    def discard_sandbox(self) -> None:
        """A completed job's sandbox holds nothing its outputs do not; a failed one is kept."""
        if self.completed and not KEEP_SANDBOXES:
            shutil.rmtree(self.sandbox.root, ignore_errors=True)

    def run_process(self, argv: list[str], env: dict[str, str], workdir: str | None = None) -> int:
        """Run the container command ``argv`` (in ``workdir``, a container path) in the sandbox.

        Streams its output to the log; enforces stop and max runtime.
        """
        deadline = self.started + self.max_runtime
        command, cwd = self.sandbox.command(argv, workdir)
        marker = new_marker()
        env = {**env, PROCESS_MARKER: marker}
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
        self.runner.track(self.name, process, marker, self.sandbox.root)
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

    def __init__(self, store: StateStore, endpoint_url: str, isolation: Isolation | None = None):
        self.store = store
        #: Where the jobs reach the local AWS.
        self.endpoint_url = endpoint_url
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

    # --- processes that outlive a crash -------------------------------------------------------

    def track(self, label: str, process: subprocess.Popen, marker: str, folder: Path) -> None:
        """Record a process group (a job's, a model server's) on disk, so that a restart after
        a crash can end it; ``label`` says whose it is, ``marker`` is the value of
        ``PROCESS_MARKER`` in its environment (``new_marker``), ``folder`` its sandbox."""
        record = {
            "pid": process.pid,
            "start": _process_start(process.pid),
            "job": label,
            "marker": marker,
            "folder": str(folder),
        }
        path = self._pids_dir / f"{process.pid}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path)

    def untrack(self, process: subprocess.Popen) -> None:
        (self._pids_dir / f"{process.pid}.json").unlink(missing_ok=True)

    def reap_orphans(self) -> int:
        """After a crash: end the process groups of the jobs that were running; return how many.

        Each kind then fails its own interrupted jobs (a capability's ``recover``).
        """
        reaped = 0
        for path in self._pids_dir.glob("*.json"):
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                record = {"start": None}  # unreadable: no process can be identified safely
            if record["start"] is not None:
                reaped += _kill_group(
                    record["pid"], record["start"], record.get("marker"), record.get("folder")
                )
            path.unlink(missing_ok=True)
        return reaped


def new_marker() -> str:
    """A value for ``PROCESS_MARKER``: what tells a tracked process's family from others."""
    return uuid.uuid4().hex


def _kill_group(leader: int, started: float, marker: str | None, folder: str | None) -> int:
    """SIGKILL what is left of a tracked process group; 1 if anything was.

    The leader is ended only if it is the same process (its start time); the rest of its family
    only where positively identified, by the marker in their environment or by a working folder
    in their sandbox (a process that rewrites its title, as gunicorn's workers do, overwrites its
    environment as /proc shows it). The leader may be gone while its children live on (a
    sandboxed process whose bubblewrap died with the local AWS), and a PID or process group id
    reused since by another program must never be touched.
    """
    killed = 0
    if _process_start(leader) == started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(leader, signal.SIGKILL)
            killed = 1
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if (marker and process.environ().get(PROCESS_MARKER) == marker) or (
                folder and Path(process.cwd()).is_relative_to(folder)
            ):
                process.kill()
                killed = 1
    return killed


def _process_start(pid: int) -> float | None:
    """The process's start time: tells a live job process from a reused PID."""
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None
