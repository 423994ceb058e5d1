"""What the end-to-end tests share: the running stack as they see it, and waiting."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from {{ cookiecutter.package_name }}_pipeline.config import PipelineConfig

from tools.local_airflow import AirflowAPI, LocalAirflow
from tools.local_run import AWS

#: How far ahead of the session's start the scheduled run is due: after the stack is up, and
#: before the runs the tests start are done, so that it queues among them (runs of the DAG
#: never overlap) and nobody waits for the clock.
SCHEDULED_AFTER = timedelta(minutes=3)
#: Longest wait for one run: it may queue behind two others, each about a minute long.
RUN_TIMEOUT = 360


def wait_for(condition: Callable, timeout: float, what: str, interval: float = 1.0):
    """``condition()``'s first truthy value, polled until ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
    return value


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass
class Airflow:
    """The running stack as the tests use it: REST API, local AWS and the training DAG."""

    stack: LocalAirflow
    aws: AWS
    config: PipelineConfig
    seed_uri: str
    scheduled_at: datetime

    @property
    def url(self) -> str:
        return self.stack.url

    @property
    def api(self) -> AirflowAPI:
        return self.stack.api

    @property
    def dag_id(self) -> str:
        return self.config.training_dag_id

    def runs(self, run_type: str | None = None, dag_id: str | None = None) -> list[dict]:
        """The runs of the training DAG (or of ``dag_id``), oldest first."""
        path = f"/dags/{dag_id or self.dag_id}/dagRuns"
        listed = self.api.get(path, limit=100, order_by="run_after")
        return [run for run in listed["dag_runs"] if run_type in (None, run["run_type"])]

    def wait_until_succeeded(
        self, run_id: str, timeout: float = RUN_TIMEOUT, dag_id: str | None = None
    ) -> dict:
        """The run once it has ended, which must be in success; a failure names its tasks."""
        dag_id = dag_id or self.dag_id

        def ended() -> dict | None:
            run = self.api.dag_run(dag_id, run_id)
            return run if run["state"] in ("success", "failed") else None

        run = wait_for(ended, timeout, f"run {run_id} to end", interval=2)
        assert run["state"] == "success", (
            f"run {run_id} failed: {self.failed_tasks(run_id, dag_id)}"
        )
        return run

    def failed_tasks(self, run_id: str, dag_id: str | None = None) -> str:
        path = f"/dags/{dag_id or self.dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances"
        failed = [
            f"{task['task_id']} (try {task['try_number']})"
            for task in self.api.get(path)["task_instances"]
            if task["state"] in ("failed", "upstream_failed")
        ]
        return f"{', '.join(failed) or 'none'}; task logs under {self.stack.home / 'logs'}"

    def run_inputs(self, run_id: str) -> dict:
        """What the run's first task fixed: training data, run key, threshold."""
        return self.api.xcom(self.dag_id, run_id, "resolve_run_inputs")


def configure(path: Path, endpoint_url: str, schedule: str) -> PipelineConfig:
    """Edit the bundle's ``pipeline.toml`` for this session (see the module's docstring)."""
    text = path.read_text()
    text, endpoints = re.subn(
        r'(?m)^endpoint_url = ".*"$', f'endpoint_url = "{endpoint_url}"', text
    )
    text, schedules = re.subn(
        r'(?ms)^(\[training\]$.*?^schedule = )".*?"$', rf'\g<1>"{schedule}"', text, count=1
    )
    text = text.replace("[environments.local]\n", "[environments.local]\ndeferrable = true\n", 1)
    path.write_text(text)
    config = PipelineConfig.load(path, environment="local")
    assert (endpoints, schedules) == (1, 1)
    assert config.env.endpoint_url == endpoint_url and config.env.deferrable
    assert config.training.schedule == schedule
    return config
