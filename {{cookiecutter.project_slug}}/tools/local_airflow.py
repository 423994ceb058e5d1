"""``make airflow``: Airflow 3 on this machine, driving the local AWS, until ``make airflow-stop``.

    make airflow        # python -m tools.local_airflow start [--port 8080] (AIRFLOW_PORT=n)
    make airflow-stop   # python -m tools.local_airflow stop

``start`` runs in the background what any Airflow deployment runs — the API server (UI and REST
API), the scheduler (LocalExecutor), the DAG processor and the triggerer — against:

- this project's local AWS serving on the config's endpoint (``[environments.local]
  endpoint_url``, whose port ``LOCAL_AWS_PORT`` moves), or, when none serves there, one started
  here with its state in ``.local-aws/`` (another project's is refused);
- the pipeline's infrastructure deployed to it (``tools.infrastructure``), and the sample data
  ``make demo`` uses under the raw-data prefix while that prefix is empty, so the first run has
  something to train on;
- this project's DAGs and plugins, with ``PIPELINE_ENV=local`` and the AWS connection pointing
  at the local AWS (``tools.airflow_env``);
- a stand-in for GitHub's API (``tools.local_github``) serving a scratch repository of the pins
  (``.airflow/github/repository``), whose GitHub App the promotion DAG signs in as: approving a
  version opens a pull request there.

Scheduled runs, runs started by new raw data (S3 event → SQS → asset watcher in the triggerer) and
runs triggered by hand all work from there. Airflow's home is ``.airflow/``: its database, logs
(``logs/stack/`` holds each process's output), generated secrets and ``stack.json``, the record
of every process started here. ``stop`` stops those process groups and nothing else.

Database: SQLite by default. For PostgreSQL, set Airflow's own setting before starting (its
drivers, psycopg2 and asyncpg, are in the lock file's ``postgres`` group)::

    export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=postgresql+psycopg2://user:password@localhost/airflow
    make airflow
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote, urlencode, urlparse

import psutil

from local_aws.process import LocalAWSProcess
from tools import infrastructure
from tools.airflow_env import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    migrate_database,
    service_environment,
)
from tools.local_github import new_app_key, scratch_repository, store_app_connection
from tools.local_run import (
    AWS,
    generate_sample_data,
    local_aws_is_ours,
    prepare_accounts,
    upload_training_data,
)
from tools.project import PROJECT_ROOT, config

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
SHUT_DOWN_FIRST = {"scheduler", "dag-processor", "triggerer"}
#: The GitHub App the promotion DAG signs in to the stand-in as.
GITHUB_APP_ID = "1"
RECORD = "stack.json"


class StackError(RuntimeError):
    """The stack did not start; the message says why and where the logs are."""


@dataclass(frozen=True)
class Started:
    """A process started here: the leader of its own process group."""

    name: str
    pid: int
    created: float

    def members(self) -> list[psutil.Process]:
        """Its group's live processes, none older than the leader (so never a recycled id)."""
        found = []
        for process in psutil.process_iter(["create_time", "status"]):
            try:
                if (
                    os.getpgid(process.pid) == self.pid
                    and process.info["create_time"] >= self.created - 1
                    and process.info["status"] != psutil.STATUS_ZOMBIE
                ):
                    found.append(process)
            except (ProcessLookupError, psutil.Error):
                continue
        return found

    def signal(self, number: int) -> None:
        if self.members():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, number)


class AirflowAPI:
    """Airflow's REST API (``/api/v2``) as the admin user, with a token from ``/auth/token``."""

    def __init__(self, url: str, user: str = ADMIN_USER, password: str = ADMIN_PASSWORD):
        self.url = url
        self.user = user
        self.password = password
        self._token: str | None = None

    def token(self) -> str:
        if self._token is None:
            self._token = self._request(
                "POST", "/auth/token", {"username": self.user, "password": self.password}
            )["access_token"]
        return self._token

    def get(self, path: str, **params) -> dict:
        query = f"?{urlencode(params, doseq=True)}" if params else ""
        return self._request("GET", f"/api/v2{path}{query}", token=self.token())

    def post(self, path: str, body: dict) -> dict:
        return self._request("POST", f"/api/v2{path}", body, token=self.token())

    def _request(self, method: str, path: str, body=None, token: str | None = None) -> dict:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers=headers,
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def dag_run(self, dag_id: str, run_id: str) -> dict:
        return self.get(f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value"):
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"
        return self.get(f"{path}/xcomEntries/{key}", deserialize=True)["value"]


class LocalAirflow:
    """Airflow's four components and, when needed, the local AWS, started and stopped together."""

    def __init__(
        self,
        home: Path = PROJECT_ROOT / ".airflow",
        *,
        port: int = 8080,
        endpoint_url: str | None = None,
        state_dir: Path = PROJECT_ROOT / ".local-aws",
        dags_folder: Path = PROJECT_ROOT / "dags",
        plugins_folder: Path = PROJECT_ROOT / "plugins",
        database_url: str | None = None,
    ):
        self.home = home.resolve()
        self.port = port
        self.endpoint_url = endpoint_url or config().env.endpoint_url
        self.state_dir = state_dir
        self.dags_folder = dags_folder
        self.plugins_folder = plugins_folder
        self.database_url = database_url
        self.log_dir = self.home / "logs" / "stack"
        self.url = f"http://127.0.0.1:{port}"
        self.api = AirflowAPI(self.url)
        self.dag_ids: list[str] = []
        self._children: dict[int, subprocess.Popen] = {}

    # --- the record of what runs ----------------------------------------------------------

    @property
    def record_file(self) -> Path:
        return self.home / RECORD

    def recorded(self) -> tuple[dict, list[Started]]:
        if not self.record_file.exists():
            return {}, []
        record = json.loads(self.record_file.read_text())
        return record, [Started(**process) for process in record["processes"]]

    def _record(self, started: Started) -> None:
        record, processes = self.recorded()
        record.update(url=self.url, endpoint_url=self.endpoint_url)
        record["processes"] = [asdict(process) for process in [*processes, started]]
        self.record_file.write_text(json.dumps(record, indent=2) + "\n")

    def running(self) -> bool:
        """Whether every recorded process is still alive (a stack started earlier is up)."""
        _, processes = self.recorded()
        return bool(processes) and all(process.members() for process in processes)

    # --- start and stop -------------------------------------------------------------------

    def start(self, timeout: float = 300) -> None:
        """Start everything, wait until the DAGs are loaded; on failure stop what was started."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if self.recorded()[1]:  # what is left of a stack that did not stop cleanly
            self.stop()
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                raise StackError(f"port {self.port} is taken: choose another with --port")
        try:
            self._start_local_aws()
            self._prepare_account()
            self._start_github()
            environment = service_environment(
                self.home,
                self.endpoint_url,
                self.port,
                database_url=self.database_url,
                dags_folder=self.dags_folder,
                plugins_folder=self.plugins_folder,
            )
            migrate_database(environment)
            for component in COMPONENTS:
                self._spawn(component, [sys.executable, "-m", "airflow", component], environment)
            self._wait_until_ready(time.monotonic() + timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 30) -> list[str]:
        """Stop every recorded process group, in an order that lets each finish cleanly.

        The scheduler (with its running tasks), triggerer and DAG processor go first, while the
        API server they report to still answers; then the API server; the local AWS, which
        saves its state, last.
        """
        _, processes = self.recorded()
        for names in (SHUT_DOWN_FIRST, {"api-server", "github"}, {"local-aws"}):
            self._terminate([process for process in processes if process.name in names], timeout)
        self.record_file.unlink(missing_ok=True)
        return [process.name for process in processes]

    def _terminate(self, processes: list[Started], timeout: float) -> None:
        for process in processes:
            process.signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(process.members() for process in processes):
            time.sleep(0.2)
        for process in processes:
            process.signal(signal.SIGKILL)
            child = self._children.pop(process.pid, None)
            if child is not None:
                child.wait()

    def _spawn(self, name: str, command: list[str], environment: dict[str, str]) -> None:
        with open(self.log_dir / f"{name}.log", "ab") as log:
            child = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env={**os.environ, **environment},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._children[child.pid] = child
        self._record(Started(name, child.pid, psutil.Process(child.pid).create_time()))

    def _start_local_aws(self) -> None:
        if local_aws_is_ours(self.endpoint_url, self.state_dir):
            return
        process = LocalAWSProcess(
            state_dir=self.state_dir,
            port=urlparse(self.endpoint_url).port,
            config=PROJECT_ROOT / "pipeline.toml",
            log_file=self.log_dir / "local-aws.log",
        ).start()
        self._record(Started("local-aws", process.pid, psutil.Process(process.pid).create_time()))

    def _prepare_account(self) -> None:
        """Deploy the infrastructure (dev's, staging's and prod's); seed sample data under an
        empty raw-data prefix.

        The seed's S3 event is consumed before the triggerer starts: data present from the
        start is there to train on, it does not start a run by itself.
        """
        cfg = config()
        aws = AWS(self.endpoint_url)
        infrastructure.deploy(aws.client("cloudformation"), cfg)
        prepare_accounts(self.endpoint_url)
        bucket, prefix = cfg.raw_data_uri.removeprefix("s3://").split("/", 1)
        listed = aws.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
        if listed.get("KeyCount"):
            return
        sample = PROJECT_ROOT / "build" / "sample-data.csv"
        if not sample.exists():
            generate_sample_data(sample, cfg.data.sample_rows)
        upload_training_data(aws, sample)

    def _start_github(self, timeout: float = 30) -> None:
        """Serve the pins' scratch repository as GitHub would, and keep the App's key where the
        promotion DAG reads it (Secrets Manager, through Airflow's secrets backend)."""
        cfg = config()
        folder = self.home / "github"
        repository = folder / "repository"
        if not (repository / ".git").exists():
            pins = PROJECT_ROOT / "ci" / "environments"
            files = {f"ci/environments/{p.name}": p.read_text() for p in pins.glob("*.toml")}
            scratch_repository(repository, files)
        private_key, public_key = folder / "app.pem", folder / "app.pub"
        if not private_key.exists():
            private, public = new_app_key()
            public_key.write_text(public)
            with os.fdopen(os.open(private_key, os.O_WRONLY | os.O_CREAT, 0o600), "w") as key:
                key.write(private)
        url_file = folder / "url"
        url_file.unlink(missing_ok=True)
        command = [sys.executable, "-m", "tools.local_github", "serve", "--url-file", str(url_file)]
        command += ["--repository", str(repository), "--full-name", cfg.project.repository]
        command += ["--app-id", GITHUB_APP_ID, "--public-key", str(public_key)]
        self._spawn("github", command, {})
        self._wait(url_file.exists, time.monotonic() + timeout, "GitHub's stand-in to serve")
        url = url_file.read_text()
        record, _ = self.recorded()
        record["github_url"] = url
        self.record_file.write_text(json.dumps(record, indent=2) + "\n")
        store_app_connection(
            AWS(self.endpoint_url).client("secretsmanager"),
            cfg.promotion.github_conn_id,
            GITHUB_APP_ID,
            private_key.read_text(),
            url,
        )

    # --- readiness ------------------------------------------------------------------------

    def _wait_until_ready(self, deadline: float) -> None:
        self._wait(self._healthy, deadline, "Airflow's components to report healthy")
        self._wait(self._dags_loaded, deadline, f"the DAGs in {self.dags_folder} to be loaded")

    def _wait(self, condition: Callable[[], bool], deadline: float, what: str) -> None:
        while not condition():
            for started in self.recorded()[1]:
                if not started.members():
                    raise StackError(f"{started.name} exited:\n{self._log_tail(started.name)}")
            if time.monotonic() > deadline:
                raise StackError(f"gave up waiting for {what}; logs in {self.log_dir}")
            time.sleep(0.5)

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/api/v2/monitor/health", timeout=5) as reply:
                health = json.load(reply)
        except (OSError, ValueError):
            return False
        parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        return all((health.get(part) or {}).get("status") == "healthy" for part in parts)

    def _dags_loaded(self) -> bool:
        """Every DAG file has been parsed: it defines DAGs, or it has an import error."""
        dags = self.api.get("/dags", limit=1000)["dags"]
        errors = self.api.get("/importErrors")["import_errors"]
        parsed = {Path(dag["fileloc"]).name for dag in dags}
        parsed |= {Path(error["filename"]).name for error in errors}
        if not {path.name for path in self.dags_folder.glob("*.py")} <= parsed:
            return False
        self.dag_ids = sorted(dag["dag_id"] for dag in dags)
        for error in errors:
            print(f"warning: {error['filename']} does not load:\n{error['stack_trace']}")
        return True

    def _log_tail(self, name: str, characters: int = 3000) -> str:
        try:
            return (self.log_dir / f"{name}.log").read_text(errors="replace")[-characters:]
        except OSError:
            return "(no log)"

    def describe(self) -> str:
        record, processes = self.recorded()
        local_aws = (
            f"started here, state in {self.state_dir}"
            if any(process.name == "local-aws" for process in processes)
            else "already serving, reused"
        )
        return "\n".join(
            [
                f"Airflow is up: {record['url']}  (login {ADMIN_USER} / {ADMIN_PASSWORD})",
                f"  DAGs:       {', '.join(self.dag_ids) or '(none yet)'}",
                f"  local AWS:  {record['endpoint_url']} ({local_aws})",
                f"  GitHub:     {record.get('github_url')} (stand-in; repository "
                f"{self.home / 'github' / 'repository'})",
                f"  home:       {self.home} (each process's output in logs/stack/)",
                "Stop it with `make airflow-stop`.",
            ]
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.local_airflow", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("command", choices=["start", "stop"])
    parser.add_argument("--home", type=Path, default=PROJECT_ROOT / ".airflow")
    parser.add_argument("--port", type=int, default=8080, help="the UI's and API's port")
    parser.add_argument("--state-dir", type=Path, default=PROJECT_ROOT / ".local-aws")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stack = LocalAirflow(
        args.home,
        port=args.port,
        state_dir=args.state_dir,
        database_url=os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"),
    )
    if args.command == "stop":
        stopped = stack.stop()
        print(f"Stopped: {', '.join(stopped)}." if stopped else "Nothing was running.")
        return 0
    if stack.running():
        record, _ = stack.recorded()
        print(f"Airflow is already running: {record['url']} (make airflow-stop stops it)")
        return 0
    try:
        stack.start()
    except RuntimeError as error:  # StackError, LocalAWSError, a failed database migration
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(stack.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
