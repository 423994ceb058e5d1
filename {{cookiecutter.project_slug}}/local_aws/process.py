"""Starting and stopping a local AWS in its own process, for the demo, Airflow and tests.

    with LocalAWSProcess(state_dir=".local-aws") as aws:
        boto3.client("s3", endpoint_url=aws.endpoint_url)

The process gets its own process group, so stopping it also stops the jobs it runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from local_aws.server import HEALTH_PATH


class LocalAWSError(RuntimeError):
    """The local AWS did not start."""


class LocalAWSProcess:
    def __init__(
        self,
        state_dir: Path | str,
        port: int = 0,
        config: Path | str = "pipeline.toml",
        log_file: Path | str | None = None,
        env: dict[str, str] | None = None,
    ):
        self.state_dir = Path(state_dir)
        self.port = port
        self.config = Path(config)
        self.log_file = Path(log_file) if log_file else self.state_dir.with_suffix(".log")
        self.env = env
        self.endpoint_url: str | None = None
        self._process: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> LocalAWSProcess:
        self.state_dir.parent.mkdir(parents=True, exist_ok=True)
        ready = Path(tempfile.mkdtemp()) / "endpoint"
        command = [
            sys.executable,
            "-m",
            "local_aws",
            "--config",
            str(self.config),
            "--state-dir",
            str(self.state_dir),
            "--port",
            str(self.port),
            "--ready-file",
            str(ready),
        ]
        with open(self.log_file, "ab") as log:
            self._process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **(self.env or {})},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise LocalAWSError(
                    f"the local AWS exited with status {self._process.returncode}: "
                    f"{self._tail_log()}"
                )
            if ready.exists() and ready.read_text().strip():
                self.endpoint_url = ready.read_text().strip()
                if self._healthy():
                    # Later restarts reuse the port, as a client configured once expects.
                    self.port = int(self.endpoint_url.rsplit(":", 1)[1])
                    return self
            time.sleep(0.05)
        self.kill()
        raise LocalAWSError(f"the local AWS was not ready within {timeout} s: {self._tail_log()}")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.endpoint_url + HEALTH_PATH, timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def _tail_log(self) -> str:
        try:
            return self.log_file.read_text()[-2000:]
        except OSError:
            return "(no log)"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def stop(self, timeout: float = 30) -> None:
        """Stop gracefully (running jobs are stopped), then make sure the group is gone."""
        if self._process is None:
            return
        try:
            os.killpg(self._process.pid, signal.SIGTERM)
            self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        except ProcessLookupError:
            pass
        self.kill()

    def kill(self) -> None:
        """``kill -9`` the whole process group, as a crash would."""
        if self._process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()
        self._process = None

    def __enter__(self) -> LocalAWSProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
