"""A job's output lines written to CloudWatch Logs, where SageMaker writes them.

Groups and streams follow SageMaker's names (``/aws/sagemaker/TrainingJobs``,
``<job-name>/algo-1-<epoch>``), so the Airflow provider's operators and the AWS console tail them
the same way.
"""

from __future__ import annotations

import threading
import time

from moto.backends import get_backend


class JobLog:
    """Buffers lines and writes them in batches, at least once a second while the job runs."""

    FLUSH_SECONDS = 1.0
    MAX_BATCH = 500

    def __init__(self, account_id: str, region: str, group: str, stream: str, lock, on_flush):
        self.account_id = account_id
        self.region = region
        self.group = group
        self.stream = stream
        self.lock = lock
        self.on_flush = on_flush
        self._pending: list[dict] = []
        self._pending_lock = threading.Lock()
        self._last_flush = time.monotonic()
        self.lines: list[str] = []
        with self.lock:
            backend = self._backend
            if group not in backend.groups:
                backend.create_log_group(group, tags={})
            backend.ensure_log_stream(group, stream)

    @property
    def _backend(self):
        return get_backend("logs")[self.account_id][self.region]

    def write(self, line: str) -> None:
        line = line.rstrip("\n")
        self.lines.append(line)
        with self._pending_lock:
            self._pending.append({"timestamp": int(time.time() * 1000), "message": line})
        self.flush_if_due()

    def flush_if_due(self) -> None:
        """Flush a full batch, or lines that have waited a second (called while the job runs)."""
        with self._pending_lock:
            due = self._pending and (
                len(self._pending) >= self.MAX_BATCH
                or time.monotonic() - self._last_flush >= self.FLUSH_SECONDS
            )
        if due:
            self.flush()

    def flush(self) -> None:
        with self._pending_lock:
            batch, self._pending = self._pending, []
            self._last_flush = time.monotonic()
        if not batch:
            return
        with self.lock:
            self._backend.put_log_events(self.group, self.stream, batch)
        self.on_flush()
