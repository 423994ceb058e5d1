"""An Airflow installation for this project on this machine: folders, database, AWS connection.

Used by ``make demo`` (one DAG run with ``dag.test()``), ``make airflow`` (the real scheduler and
UI) and the tests. Everything lives under one ``AIRFLOW_HOME`` with a SQLite database; the AWS
connection points at the local AWS. On AWS (MWAA), none of this is used: the environment's own
settings and connection take its place.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tools.project import PROJECT_ROOT, config


def airflow_environment(home: Path, endpoint_url: str) -> dict[str, str]:
    """Environment variables that make Airflow use ``home``, this project and ``endpoint_url``."""
    env = config().env
    home = home.resolve()
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "PIPELINE_ENV": "local",
        "PIPELINE_CONFIG": str(PROJECT_ROOT / "pipeline.toml"),
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
    """Create or upgrade the SQLite metadata database (idempotent)."""
    Path(environment["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
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
