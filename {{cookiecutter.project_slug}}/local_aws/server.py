"""The local AWS server: moto's server mode plus request checks, persistence and capabilities.

Requests pass through these layers before moto answers them:

1. the health route, ``/_local_aws/health``: who this local AWS is, and that it is ready;
2. capabilities' own routes, each served under the state lock;
3. ``ValidatingMiddleware`` refuses what AWS would refuse (constraints from the service model);
4. ``PersistingMiddleware`` serves each request under the state lock and saves what it changed;
5. moto's ``DomainDispatcherApplication``, as the capabilities have patched it.

What each service needs beyond moto comes from the capabilities (``local_aws.capabilities``):
this module names none.
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


class ObservingMiddleware:
    """Shows each request to the capabilities that observe requests, then serves it."""

    def __init__(self, app, context, observers):
        self.app = app
        self.context = context
        self.observers = observers

    def __call__(self, environ, start_response):
        for observe in self.observers:
            try:
                observe(self.context, environ)
            except Exception:  # an observer's fault must not fail the request
                log.exception("a request observer failed")
        return self.app(environ, start_response)


class PersistingMiddleware:
    """Runs each changing request under the state lock and saves what it touched.

    Reads of the control planes take the lock too, so nothing is seen before it is saved;
    GET and HEAD requests (object downloads, which stream) do not. Operations a capability
    declares ``unlocked`` (long polls) take the lock themselves while they change something.
    """

    def __init__(self, app, store, identify, capabilities):
        self.app = app
        self.store = store
        self.identify = identify
        self.unlocked = {pair for c in capabilities for pair in c.unlocked}
        self.unidentified = [s for c in capabilities for s in c.changed_by_unidentified_requests]

    def __call__(self, environ, start_response):
        if environ["REQUEST_METHOD"] in ("GET", "HEAD", "OPTIONS"):
            return self.app(environ, start_response)
        info = self.identify(environ)
        if info is not None and info.is_read_only:
            # under the lock all the same: what a reader sees (a job just Completed) is on disk
            with self.store.lock:
                return _consume(self.app(environ, start_response))
        changed = [info.service] if info else self.unidentified
        save = self.store.save
        if info is not None and self.store.saved_periodically(info.service, info.operation):
            save = self.store.save_soon
        if info is not None and (info.service, info.operation) in self.unlocked:
            body = _consume(self.app(environ, start_response))
            save(changed)
            return body
        with self.store.lock:
            body = _consume(self.app(environ, start_response))
            save(changed)
        return body


class Routes:
    """Capabilities' own routes (path prefix → app), each request under the state lock."""

    def __init__(self, app, store, routes):
        self.app = app
        self.store = store
        self.routes = routes  # prefix → (app, services it changes)

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        for prefix, (route, persists) in self.routes.items():
            if path.startswith(prefix):
                with self.store.lock:
                    body = _consume(route(environ, start_response))
                    self.store.save(persists)
                return body
        return self.app(environ, start_response)


def _consume(response) -> list[bytes]:
    try:
        return list(response)
    finally:
        close = getattr(response, "close", None)
        if close:
            close()


class LocalAWS:
    """Owns the state, the job runner, the capabilities and the HTTP server of one local AWS."""

    def __init__(
        self,
        state_dir: Path,
        host: str = "127.0.0.1",
        port: int = 4566,
        account_id: str = "123456789012",
        project: dict[str, str] | None = None,
        image_commands: dict[str, list[str]] | None = None,
    ):
        # Absolute whatever the server was started with: jobs run in other working folders.
        self.state_dir = Path(state_dir).resolve()
        self.host = host
        self.port = port
        self.account_id = account_id
        #: Which project this local AWS serves (its name and folder), told on the health route
        #: so that tools refuse another project's server on their port.
        self.project = project or {}
        #: What the jobs' image runs for ``serve`` (see ``Context.image_commands``).
        self.image_commands = image_commands or {}
        self._server = None
        self._thread: threading.Thread | None = None
        self._started_with: list[str] = []
        self.isolation = None
        self.capabilities = []
        self.context = None
        self.runner = None
        self.store = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> LocalAWS:
        """Restore the state, let each capability recover, and serve in a background thread."""
        started = time.monotonic()
        from moto.moto_server.werkzeug_app import MotoRequestHandler

        from local_aws.capabilities import capabilities
        from local_aws.capability import check_requirements
        from local_aws.jobs.sandbox import detect_isolation

        # refuses an impossible LOCAL_AWS_JOB_ISOLATION before anything else
        self.isolation = isolation = detect_isolation()
        self.capabilities = capabilities()
        check_requirements(self.capabilities)

        # The socket first: the port (0 picks one) is part of what jobs are told.
        dispatch = _Deferred()
        try:
            self._server = make_server(
                self.host, self.port, dispatch, threaded=True, request_handler=MotoRequestHandler
            )
        except SystemExit:  # werkzeug's own way to give up on a port in use
            raise OSError(errno.EADDRINUSE, "the port is in use by another program") from None
        self.port = self._server.server_port
        try:
            self._prepare(dispatch)
        except BaseException:
            self._server.server_close()
            raise
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        log.info(
            "local AWS ready on %s in %.2f s (state %s; %s)",
            self.endpoint_url,
            time.monotonic() - started,
            self.state_dir,
            "; ".join(self._started_with),
        )
        log.info("jobs: %s", isolation.describe())
        return self

    def _prepare(self, dispatch: _Deferred) -> None:
        """State restored, capabilities installed and recovered, the app built."""
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        from local_aws.capability import Context, unpatch_all
        from local_aws.jobs.runner import JobRunner
        from local_aws.state import StateStore
        from local_aws.validation import ValidatingMiddleware, identify

        self.store = StateStore(self.state_dir, self.capabilities)
        self.store.open()
        self.runner = JobRunner(self.store, self.endpoint_url, self.isolation)
        self.context = Context(
            self.store, self.runner, self.endpoint_url, self.account_id, self.image_commands
        )
        unpatch_all()  # moto as it comes, then every capability's patches in the list's order
        for capability in self.capabilities:
            if capability.install:
                capability.install(self.context)
        restored = self.store.load()
        reaped = self.runner.reap_orphans()
        recovered = [
            line
            for capability in self.capabilities
            if capability.recover
            for line in capability.recover(self.context)
        ]

        app = DomainDispatcherApplication(create_backend_app)
        app = PersistingMiddleware(app, self.store, identify, self.capabilities)
        observers = [c.observe for c in self.capabilities if c.observe]
        if observers:
            app = ObservingMiddleware(app, self.context, observers)
        app = ValidatingMiddleware(app)
        routes = {
            prefix: (factory(self.context), capability.persists)
            for capability in self.capabilities
            for prefix, factory in capability.routes.items()
        }
        app = Routes(app, self.store, routes)
        dispatch.app = _HealthCheck(app, self)
        self.store.start_periodic_saves()
        self._started_with = [
            f"restored {', '.join(restored) or 'nothing'}",
            f"ended {reaped} orphaned job processes",
            *recovered,
        ]

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
        for capability in self.capabilities:
            if capability.stop and self.context is not None:
                capability.stop(self.context)
        if self.store is not None:
            self.store.stop_periodic_saves()
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
            "state_saving": (self.store.save_error if self.store else None) or "ok",
            "capabilities": [capability.name for capability in self.capabilities],
        }


class _Deferred:
    """The server's app until the real one is built (nothing is served before that)."""

    app = None

    def __call__(self, environ, start_response):
        if self.app is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"the local AWS is starting"]
        return self.app(environ, start_response)


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
