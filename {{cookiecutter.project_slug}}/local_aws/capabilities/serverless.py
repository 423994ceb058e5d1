"""Serverless variants: a model server that exists only while requests come.

As on SageMaker Serverless Inference, a variant with ``ServerlessConfig`` has no server until
its first request (a cold start, which that request waits for), serves at most
``MaxConcurrency`` requests at once (more are refused with ``ThrottlingException``), takes bodies
of at most 4 MB, and has its server stopped once idle for ``IDLE_SECONDS`` (SageMaker scales to
zero after a few idle minutes; ``LOCAL_AWS_SERVERLESS_IDLE_SECONDS`` sets it here).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from local_aws.capabilities.model_servers import INVOCATION_TIMEOUT, ModelServer

IDLE_SECONDS = float(os.environ.get("LOCAL_AWS_SERVERLESS_IDLE_SECONDS", "300"))
MAX_BODY_BYTES = 4 * 1024 * 1024


class Throttled(Exception):
    """More concurrent requests than the variant's MaxConcurrency."""


class ServerlessVariant:
    """Looks like a ModelServer to the runtime; starts one on demand, stops it when idle."""

    def __init__(self, make_server: Callable[[], ModelServer], config: dict, container):
        self.make_server = make_server
        self.config = config
        self.container = container
        self.max_concurrency = int(config.get("MaxConcurrency", 1))
        self.workers = 1
        self.server: ModelServer | None = None
        self._slots = threading.BoundedSemaphore(self.max_concurrency)
        self._start_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._in_flight = 0
        self._last_used = time.monotonic()
        self._stopped = threading.Event()
        threading.Thread(target=self._stop_when_idle, daemon=True).start()

    @property
    def log_stream(self) -> str:
        return self.server.log_stream if self.server else ""

    def invoke(self, body: bytes, headers: dict[str, str], timeout: float = INVOCATION_TIMEOUT):
        if not self._slots.acquire(blocking=False):
            raise Throttled()
        try:
            with self._count_lock:
                self._in_flight += 1
            server = self._running_server()  # may raise ServerError: the cold start failed
            return server.invoke(body, headers, timeout)
        finally:
            with self._count_lock:
                self._in_flight -= 1
                self._last_used = time.monotonic()
            self._slots.release()

    def _running_server(self) -> ModelServer:
        with self._start_lock:
            if self.server is None:
                server = self.make_server()
                server.start()  # the cold start: this request waits for /ping
                self.server = server
            return self.server

    def _stop_when_idle(self) -> None:
        while not self._stopped.wait(min(1.0, IDLE_SECONDS / 2)):
            with self._start_lock, self._count_lock:
                idle = time.monotonic() - self._last_used
                if self.server is None or self._in_flight or idle < IDLE_SECONDS:
                    continue
                server, self.server = self.server, None
            server.stop()

    def stop(self) -> None:
        self._stopped.set()
        with self._start_lock:
            if self.server is not None:
                self.server.stop()
                self.server = None
