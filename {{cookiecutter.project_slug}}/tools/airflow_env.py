"""An Airflow installation for this project on this machine: folders, database, AWS connection.

Used by ``make demo`` (one DAG run with ``dag.test()``), ``make airflow`` (the real scheduler and
UI, see ``tools.local_airflow``) and the tests. Everything lives under one ``AIRFLOW_HOME`` with a
SQLite database; the AWS connection points at the local AWS. On AWS (MWAA), none of this is used:
the environment's own settings and connection take its place.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from tools.project import PROJECT_ROOT, config

#: The login of the local Airflow UI and REST API (SimpleAuthManager; local use only).
ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin"
#: Where Airflow reads connections first, here as on AWS (the amazon provider's backend).
SECRETS_BACKEND = "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"


def airflow_environment(
    home: Path,
    endpoint_url: str,
    dags_folder: Path = PROJECT_ROOT / "dags",
    plugins_folder: Path = PROJECT_ROOT / "plugins",
) -> dict[str, str]:
    """Environment variables that make Airflow use ``home``, this project and ``endpoint_url``.

    The DAGs read ``pipeline.toml`` from the DAGs folder when it holds one (a deployment bundle,
    as on MWAA), else from the project root. Each environment Airflow watches (a
    ``watch_role_name``) gets its connection, assuming that role in its account; other
    connections come from the local Secrets Manager, as on AWS through the same secrets backend.
    """
    env = config().env
    home = home.resolve()
    config_file = dags_folder / "pipeline.toml"
    local_keys = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
    watched = [config().environment(name) for name in config().section("environments")]
    connections = {
        f"AIRFLOW_CONN_{other.aws_conn_id.upper()}": json.dumps(
            {
                "conn_type": "aws",
                "login": "local",
                "password": "local",
                "extra": {
                    "endpoint_url": endpoint_url,
                    "region_name": other.region,
                    "role_arn": other.arn_of_role(other.watch_role_name),
                    # the provider assumes roles through STS's own endpoint setting
                    "service_config": {"sts": {"endpoint_url": endpoint_url}},
                },
            }
        )
        for other in watched
        if other.watch_role_name
    }
    return {
        **connections,
        "AIRFLOW__SECRETS__BACKEND": SECRETS_BACKEND,
        "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps(
            {
                "connections_prefix": "airflow/connections",
                "variables_prefix": None,
                "config_prefix": None,
                "endpoint_url": endpoint_url,
                "region_name": env.region,
                **local_keys,
            }
        ),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "PIPELINE_ENV": "local",
        "PIPELINE_CONFIG": str(
            config_file if config_file.is_file() else PROJECT_ROOT / "pipeline.toml"
        ),
        f"AIRFLOW_CONN_{env.aws_conn_id.upper()}": json.dumps(
            {
                "conn_type": "aws",
                "login": "local",
                "password": "local",
                "extra": {"endpoint_url": endpoint_url, "region_name": env.region},
            }
        ),
        "AWS_EC2_METADATA_DISABLED": "true",
        "GX_ANALYTICS_ENABLED": "false",
        "NO_PROXY": "*",
    }


def migrate_database(environment: dict[str, str]) -> None:
    """Create or upgrade the metadata database, unless this Airflow already migrated it.

    ``airflow db migrate`` is idempotent but takes seconds even with nothing to do; a stamp in the
    Airflow home, naming the Airflow version and the database, skips it on later runs.
    """
    home = Path(environment["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    database = {**os.environ, **environment}.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    stamp = home / "migrated"
    expected = f"{version('apache-airflow')} {hashlib.sha256(database.encode()).hexdigest()}"
    if stamp.exists() and stamp.read_text() == expected and _sqlite_file_exists(database):
        return
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"airflow db migrate failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    stamp.write_text(expected)


def _sqlite_file_exists(database: str) -> bool:
    """False when a SQLite database file was deleted since the stamp was written."""
    prefix = "sqlite:///"
    return not database.startswith(prefix) or Path(database.removeprefix(prefix)).exists()


def service_environment(
    home: Path,
    endpoint_url: str,
    api_port: int,
    database_url: str | None = None,
    **folders: Path,
) -> dict[str, str]:
    """``airflow_environment`` plus what the long-running components need to work together.

    The API server, scheduler, DAG processor and triggerer share one login, one JWT secret and
    one API URL; the LocalExecutor runs up to four tasks at once. ``database_url`` replaces the
    SQLite database (PostgreSQL, say). Creates the login and the secrets in ``home`` on first
    use and keeps them, so tokens and sessions survive a restart.
    """
    home = home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    api_url = f"http://127.0.0.1:{api_port}"
    keys = _home_secrets(home)
    base = airflow_environment(home, endpoint_url, **folders)
    environment = {
        **base,
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",  # user:role
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(_passwords_file(home)),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": api_url,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt_secret"],
        "AIRFLOW__API__SECRET_KEY": keys["secret_key"],
        # The scheduler's and triggerer's log servers default to 8793 and 8794: free ones let
        # two stacks (yours and the tests') run side by side.
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        # New DAG files show up within seconds instead of the default five minutes.
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
        # The pipeline package comes from the plugins folder served, whatever the caller's path.
        "PYTHONPATH": base["AIRFLOW__CORE__PLUGINS_FOLDER"],
    }
    if database_url:
        environment["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = database_url
    return environment


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _passwords_file(home: Path) -> Path:
    path = home / "passwords.json"
    if not path.exists():
        path.write_text(json.dumps({ADMIN_USER: ADMIN_PASSWORD}) + "\n")
    return path


def _home_secrets(home: Path) -> dict[str, str]:
    """The API's JWT and session secrets: generated on first use, then read back."""
    path = home / "secrets.json"
    if not path.exists():
        keys = {"jwt_secret": secrets.token_urlsafe(64), "secret_key": secrets.token_urlsafe(32)}
        path.touch(mode=0o600)
        path.write_text(json.dumps(keys) + "\n")
    return json.loads(path.read_text())
