"""The jobs' image gets exactly the lock file's `jobs` group: no Airflow, no moto, all pinned."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from tests.support import PROJECT_ROOT

FORBIDDEN_IN_JOBS = ("apache-airflow", "moto", "playwright", "pytest")


def export(*group_args: str) -> list[str]:
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "uv is needed to read the lock file: run the tests through make"
    result = subprocess.run(
        [uv, "export", "--frozen", "--no-hashes", "--no-emit-project", *group_args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return [line for line in result.stdout.splitlines() if line and not line.startswith(("#", " "))]


def test_jobs_group_resolves_without_airflow_or_moto():
    requirements = export("--only-group", "jobs")
    names = {re.split(r"[=<>;\[ ]", line, maxsplit=1)[0].lower() for line in requirements}

    assert {"pandas", "xgboost", "great-expectations", "sagemaker-training"} <= names
    assert [name for name in names if name.startswith(FORBIDDEN_IN_JOBS)] == []


def test_every_exported_requirement_is_pinned():
    requirements = export("--only-group", "jobs")

    assert requirements
    assert [line for line in requirements if "==" not in line] == []
