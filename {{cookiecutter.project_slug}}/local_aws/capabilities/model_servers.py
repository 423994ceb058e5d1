"""Model servers: the processes behind an endpoint's production variants.

SageMaker runs a variant as its image's ``serve`` command, with the model unpacked at
``/opt/ml/model``, the model's ``Environment`` set and the container listening on port 8080. The
local AWS does the same on this machine: the image's ``serve`` is the command the project names
(``[tool.local-aws] serve`` in its ``pyproject.toml``: the file its Dockerfile copies to
``/usr/local/bin/serve``), run in this project's environment, in its own sandbox and process group,
on a free port of 127.0.0.1 given as ``SAGEMAKER_BIND_TO_PORT``. Its output goes to CloudWatch
Logs under ``/aws/sagemaker/Endpoints/<endpoint>``, one stream per variant and instance, as on AWS.

A server that exits while it should serve is started again; its process group is recorded like a
job's, so that a local AWS killed with ``kill -9`` ends it when it starts again.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from local_aws.capabilities.job_logs import JobLog
from local_aws.capabilities.s3_storage import blob_store
from local_aws.capabilities.s3_transfer import S3LocationError, S3Transfer
from local_aws.capabilities.sagemaker_job import role_credentials
from local_aws.capability import Context
from local_aws.jobs.runner import PROCESS_MARKER, new_marker
from local_aws.jobs.sandbox import Sandbox

log = logging.getLogger(__name__)

LOG_GROUP = "/aws/sagemaker/Endpoints"
#: How long a new server may take to answer ``/ping`` with 200 (SageMaker's default
#: ``ContainerStartupHealthCheckTimeoutInSeconds`` is longer; a local model loads in seconds).
STARTUP_SECONDS = float(os.environ.get("LOCAL_AWS_MODEL_SERVER_STARTUP_SECONDS", "120"))
#: SageMaker gives a container 60 s to answer an invocation.
INVOCATION_TIMEOUT = 60.0
STOP_GRACE_SECONDS = 5.0


class ServerError(Exception):
    """A variant's server could not start: the reason becomes the endpoint's FailureReason."""


@dataclass(frozen=True)
class Container:
    """What a variant runs: its image, model artifact and environment, resolved from its model."""

    image: str
    model_data_url: str | None
    environment: dict[str, str]
    role_arn: str


class ModelServer:
    """One model server process, from its sandbox to its health checks and restarts.

    An endpoint variant runs one (``for_variant``), a transform job another.
    """

    def __init__(
        self,
        context: Context,
        account_id: str,
        region: str,
        container: Container,
        workers: int,
        *,
        sandbox_root: Path,
        log_group: str,
        log_stream: str,
        ping_failure: str,
        label: str,
    ):
        self.context = context
        self.account_id = account_id
        self.region = region
        self.container = container
        self.workers = workers
        self.sandbox = Sandbox(sandbox_root, context.runner.isolation)
        self.log_group = log_group
        self.log_stream = log_stream
        self.ping_failure = ping_failure
        self.label = label
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self.log: JobLog | None = None
        self.restarts = 0
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._launch_error: ServerError | None = None
        self._serving = threading.Event()

    @classmethod
    def for_variant(
        cls,
        context: Context,
        account_id: str,
        region: str,
        endpoint: str,
        variant: str,
        container: Container,
        instance_count: int,
    ) -> ModelServer:
        """A production variant's server: logs in ``/aws/sagemaker/Endpoints/<endpoint>``."""
        instance = f"i-{uuid.uuid4().hex[:17]}"
        return cls(
            context,
            account_id,
            region,
            container,
            instance_count,
            sandbox_root=context.state_dir
            / "endpoints"
            / account_id
            / region
            / endpoint
            / instance,
            log_group=f"{LOG_GROUP}/{endpoint}",
            log_stream=f"{variant}/{instance}",
            ping_failure=(
                f"The primary container for production variant {variant} did not pass the ping "
                "health check. Please check CloudWatch logs for this endpoint."
            ),
            label=f"{endpoint}/{instance}",
        )

    # --- starting -----------------------------------------------------------------------------

    def start(self) -> None:
        """Prepare the sandbox, start the server and wait for ``/ping``; raise ServerError."""
        self.log = JobLog(
            self.account_id,
            self.region,
            self.log_group,
            self.log_stream,
            self.context.lock,
            on_flush=lambda: self.context.store.save_soon(["logs"]),
        )
        try:
            self.sandbox.create()
            self._unpack_model()
            # One thread starts the server and lives as long as it should serve: a process
            # started with bubblewrap's --die-with-parent dies when the thread that started it
            # ends.
            launched = threading.Event()
            threading.Thread(
                target=self._serve, args=(launched,), name=f"serve-{self.label}", daemon=True
            ).start()
            launched.wait()
            if self._launch_error is not None:
                raise self._launch_error
            self._wait_healthy()
        except BaseException:
            self.stop()  # nothing of a server that did not start is left: process, sandbox
            raise
        self._serving.set()

    def _unpack_model(self) -> None:
        url = self.container.model_data_url
        model_dir = self.sandbox.host_path("/opt/ml/model")
        model_dir.mkdir(parents=True, exist_ok=True)
        if not url:
            return
        transfer = S3Transfer(
            self.account_id, self.region, self.context.store, blob_store(self.context)
        )
        archive = self.sandbox.tmp / "model.tar.gz"
        try:
            transfer.download_object(url, archive)
        except S3LocationError as error:
            raise ServerError(
                f'Failed to download model data for container "primary" from URL: '
                f'"{url}". Please ensure that there is an object located at the URL and that '
                "the role passed to CreateModel has permissions to download the object."
            ) from error
        try:
            with tarfile.open(archive, "r:*") as tar:
                tar.extractall(model_dir, filter="data")
        except (tarfile.TarError, OSError) as error:
            raise ServerError(
                f'Failed to extract model data archive from URL "{url}". Please ensure that '
                f"the object located at the URL is a valid tar.gz archive: {error}"
            ) from error
        finally:
            archive.unlink(missing_ok=True)

    def _serve(self, launched: threading.Event) -> None:
        """Thread body: start the server, and start it again whenever it exits unasked."""
        try:
            with self._lock:
                self._launch()
        except Exception as error:  # no credentials, no command: the server cannot start
            self._launch_error = (
                error if isinstance(error, ServerError) else ServerError(f"{error}")
            )
            return
        finally:
            launched.set()
        while True:
            process = self.process
            process.wait()
            self._forget_process()
            if self._stopping.is_set() or not self._serving.is_set():
                return  # stopped, or never healthy: start() reports that
            self.restarts += 1
            self.log.write(
                f"[local AWS] the model server exited with status {process.returncode}; "
                f"starting it again (restart {self.restarts})"
            )
            if self._stopping.wait(min(30, 2 ** (self.restarts - 1))):
                return
            try:
                with self._lock:
                    if self._stopping.is_set():
                        return
                    self._launch()
                self._wait_healthy()
                self.restarts = 0
            except Exception as error:  # tried again, after a longer wait, until stopped
                self.log.write(f"[local AWS] the model server did not come back: {error}")
                if self.process is not None and self.process.poll() is None:
                    _terminate_group(self.process)

    def _launch(self) -> None:
        command = self.context.image_commands.get("serve")
        if not command:
            raise ServerError(
                "The local AWS does not know the image's serve command: name it in pyproject.toml "
                '[tool.local-aws] serve = "<package>/serve.py"'
            )
        self.port = _free_port()
        environment = {
            **role_credentials(self.context, self.region, self.container.role_arn),
            **self.container.environment,
            "SAGEMAKER_BIND_TO_PORT": str(self.port),
            "MODEL_SERVER_HOST": "127.0.0.1",
            "SM_MODEL_DIR": "/opt/ml/model",
        }
        environment.setdefault("SAGEMAKER_MODEL_SERVER_WORKERS", str(self.workers))
        marker = environment[PROCESS_MARKER] = new_marker()
        argv, cwd = self.sandbox.command([*command, "serve"])
        self.process = subprocess.Popen(
            argv,
            env=self.sandbox.environment(environment),
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            text=True,
            errors="replace",
            bufsize=1,
        )
        self.context.runner.track(self.label, self.process, marker, self.sandbox.root)
        threading.Thread(target=self._pump, args=(self.process,), daemon=True).start()

    def _pump(self, process: subprocess.Popen) -> None:
        for line in process.stdout:
            self.log.write(self.sandbox.shown(line))
        self.log.flush()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(self.ping_failure)
            if self.ping():
                return
            time.sleep(0.05)
        raise ServerError(self.ping_failure)

    def ping(self) -> bool:
        try:
            status, _headers, _body = self.request("GET", "/ping", b"", {}, timeout=2)
        except OSError:
            return False
        return status == 200

    # --- serving ------------------------------------------------------------------------------

    def request(self, method: str, path: str, body: bytes, headers: dict, timeout: float):
        """One HTTP exchange with the server: ``(status, headers, body)``; OSError if none."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def invoke(self, body: bytes, headers: dict[str, str], timeout: float = INVOCATION_TIMEOUT):
        return self.request("POST", "/invocations", body, headers, timeout=timeout)

    # --- stopping -----------------------------------------------------------------------------

    def _forget_process(self) -> None:
        if self.process is not None:
            self.context.runner.untrack(self.process)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL of its group) and drop its sandbox."""
        self._stopping.set()
        with self._lock:
            process = self.process
            if process is not None:
                _terminate_group(process)
                self._forget_process()
        if self.log is not None:
            self.log.flush()
        shutil.rmtree(self.sandbox.root, ignore_errors=True)


def _terminate_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    # the server's workers are in its group: make sure none is left
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
