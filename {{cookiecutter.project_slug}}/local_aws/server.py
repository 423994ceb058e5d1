"""The local AWS server: moto's server mode plus request checks, persistence and real jobs.

Requests pass through three layers before moto answers them:

1. ``ValidatingMiddleware`` refuses what AWS would refuse (constraints from the service model);
2. ``PersistingMiddleware`` snapshots the services a request changed, under one lock;
3. moto's ``DomainDispatcherApplication``, with the SageMaker job operations routed to the runner.

Each later capability (endpoints, monitoring jobs, feature store runtime) installs itself the way
``sagemaker_jobs`` does: one module hooking the operations it serves.
"""

from __future__ import annotations

import errno
import json
import logging
import threading
import time
from importlib.metadata import version
from pathlib import Path

from werkzeug.serving import make_server

from local_aws import __version__

log = logging.getLogger(__name__)

HEALTH_PATH = "/_local_aws/health"
#: Operations that wait for data (long polling): they take the state lock only while they change
#: something (see ``sqs_polling``), never while they wait.
_BLOCKING = {("sqs", "ReceiveMessage")}


class PersistingMiddleware:
    """Runs each changing request under the state lock and snapshots what it touched.

    Reads of the control planes take the lock too, so nothing is seen before it is saved; S3
    reads (GET, HEAD), which stream objects, do not.
    """

    def __init__(self, app, store, identify):
        self.app = app
        self.store = store
        self.identify = identify

    def __call__(self, environ, start_response):
        if environ["REQUEST_METHOD"] in ("GET", "HEAD", "OPTIONS"):
            return self.app(environ, start_response)
        info = self.identify(environ)
        if info is not None and info.is_read_only:
            # under the lock all the same: what a reader sees (a job just Completed) is on disk
            with self.store.lock:
                return _consume(self.app(environ, start_response))
        # Every service served but S3 speaks JSON or query and is identified; S3 (REST) is not,
        # and moto serves an unsigned write (a browser form, a public bucket) as S3 too.
        service, operation = (info.service, info.operation) if info else ("s3", None)
        if (service, operation) in _BLOCKING:
            body = _consume(self.app(environ, start_response))
            self.store.save([service])
            return body
        with self.store.lock:
            body = _consume(self.app(environ, start_response))
            self.store.save([service])
        return body


def _consume(response) -> list[bytes]:
    try:
        return list(response)
    finally:
        close = getattr(response, "close", None)
        if close:
            close()


class LocalAWS:
    """Owns the state, the job runner and the HTTP server of one local AWS."""

    def __init__(
        self,
        state_dir: Path,
        host: str = "127.0.0.1",
        port: int = 4566,
        account_id: str = "123456789012",
        project: dict[str, str] | None = None,
    ):
        # Absolute whatever the server was started with: jobs run in other working folders.
        self.state_dir = Path(state_dir).resolve()
        self.host = host
        self.port = port
        self.account_id = account_id
        #: Which project this local AWS serves (its name and folder), told on the health route
        #: so that tools refuse another project's server on their port.
        self.project = project or {}
        self._server = None
        self._thread: threading.Thread | None = None
        self.runner = None
        self.store = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> LocalAWS:
        """Restore the state, recover interrupted jobs and start serving in a background thread."""
        started = time.monotonic()
        import moto.iam.models
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )

        from local_aws import (
            cloudformation,
            model_registry,
            s3_storage,
            sagemaker_jobs,
            sqs_polling,
        )
        from local_aws.jobs.processing import ProcessingExecution
        from local_aws.jobs.runner import JobRunner
        from local_aws.jobs.sandbox import detect_isolation
        from local_aws.jobs.training import TrainingExecution
        from local_aws.state import StateStore
        from local_aws.validation import ValidatingMiddleware, identify

        isolation = detect_isolation()  # refuses an impossible LOCAL_AWS_JOB_ISOLATION first
        # Requests signed with unknown keys act in the dev account; assumed roles act in theirs.
        moto.iam.models.DEFAULT_ACCOUNT_ID = self.account_id

        self.store = StateStore(self.state_dir)
        self.store.open()
        s3_storage.install(self.store.blobs)
        restored = self.store.load()

        app = DomainDispatcherApplication(create_backend_app)
        app = PersistingMiddleware(app, self.store, identify)
        app = ValidatingMiddleware(app)
        app = _HealthCheck(app, self)
        try:
            self._server = make_server(
                self.host, self.port, app, threaded=True, request_handler=MotoRequestHandler
            )
        except SystemExit:  # werkzeug's own way to give up on a port in use
            raise OSError(errno.EADDRINUSE, "the port is in use by another program") from None
        self.port = self._server.server_port  # resolves port 0 to the one the OS chose

        self.runner = JobRunner(
            self.store,
            self.endpoint_url,
            kinds=(ProcessingExecution, TrainingExecution),
            isolation=isolation,
        )
        sagemaker_jobs.install(self.runner)
        model_registry.install()
        cloudformation.install()
        sqs_polling.install(self.store.lock)
        interrupted = self.runner.recover()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        log.info(
            "local AWS ready on %s in %.2f s (state %s; restored %s; failed %d interrupted jobs)",
            self.endpoint_url,
            time.monotonic() - started,
            self.state_dir,
            ", ".join(restored) or "nothing",
            len(interrupted),
        )
        log.info("jobs: %s", self.runner.isolation.describe())
        return self

    def stop(self, wait_for_jobs: float = 0.0) -> None:
        """Stop serving. Running jobs are stopped (or given ``wait_for_jobs`` seconds to end)."""
        if self.runner is not None and not self.runner.wait_idle(wait_for_jobs):
            self.runner.stop_all()
            self.runner.wait_idle(30)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.store is not None:
            self.store.save_all()

    def health(self) -> dict:
        """Readiness, and who this is: the project, its state folder and the versions."""
        return {
            "status": "ready",
            "endpoint_url": self.endpoint_url,
            "account_id": self.account_id,
            "project": self.project.get("name"),
            "project_root": self.project.get("root"),
            "state_dir": str(self.state_dir),
            "version": __version__,
            "moto": version("moto"),
            "job_isolation": self.runner.isolation.mode if self.runner else None,
        }


class _HealthCheck:
    """``GET /_local_aws/health``: readiness for scripts and tests."""

    def __init__(self, app, local_aws: LocalAWS):
        self.app = app
        self.local_aws = local_aws

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == HEALTH_PATH:
            body = json.dumps(self.local_aws.health()).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        return self.app(environ, start_response)
