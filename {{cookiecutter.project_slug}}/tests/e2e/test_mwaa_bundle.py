"""The MWAA bundle has the layout MWAA expects, and its DAGs load the way MWAA loads them.

MWAA unpacks ``plugins.zip`` into its plugins folder (on the Python path) and syncs ``dags/``
into its DAGs folder; nothing of the repository is there. The last test rebuilds exactly that,
with ``PIPELINE_ENV=dev`` as the deployment sets it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.support import CONFIG, PROJECT_ROOT
from tools import mwaa_bundle

PACKAGE = CONFIG["project"]["package"]
#: ``name==version`` with optional extras and environment markers, as ``uv export`` writes it.
PINNED = re.compile(r"^[A-Za-z0-9._-]+(\[[A-Za-z0-9,._-]+\])?==[^\s;]+( ; .+)?$")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return mwaa_bundle.build(tmp_path_factory.mktemp("build") / "mwaa")


def requirement_names(lines: list[str]) -> set[str]:
    return {re.split(r"[\[=]", line, maxsplit=1)[0].lower() for line in lines}


def test_plugins_zip_holds_the_plugin_module_and_the_package_at_its_root(bundle):
    names = zipfile.ZipFile(bundle / "plugins.zip").namelist()

    assert f"{PACKAGE}_plugin.py" in names
    assert f"{PACKAGE}_pipeline/__init__.py" in names
    assert f"{PACKAGE}_pipeline/reports.py" in names
    assert ".airflowignore" in names
    folders = {name.split("/")[0] for name in names if "/" in name}
    assert folders == {f"{PACKAGE}_pipeline"}, "the zip must not nest everything in a folder"
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


def test_requirements_pin_the_locks_airflow_group_and_constrain_themselves(bundle):
    lines = (bundle / "requirements.txt").read_text().splitlines()
    entries = [line for line in lines if line and not line.startswith("#")]
    constraint, requirements = entries[0], entries[1:]

    assert constraint == f'--constraint "{mwaa_bundle.MWAA_DAGS_FOLDER}/constraints.txt"'
    assert [line for line in requirements if not PINNED.match(line)] == []
    names = requirement_names(requirements)
    assert {"apache-airflow-providers-amazon", "apache-airflow-providers-common-messaging"} <= names
    # The environment must run the Airflow the tests ran; nothing only local goes to MWAA.
    assert f"apache-airflow=={version('apache-airflow')}" in {
        line.split(" ;")[0] for line in requirements
    }
    assert names.isdisjoint({"moto", "pytest", "ruff", "playwright", "psycopg2-binary", "asyncpg"})
    constraints = (bundle / "dags" / "constraints.txt").read_text().splitlines()
    assert constraints == requirements


def test_dags_folder_holds_what_the_dags_read_at_run_time(bundle):
    dags = bundle / "dags"

    for dag_file in (PROJECT_ROOT / "dags").glob("*.py"):
        assert (dags / dag_file.name).read_text() == dag_file.read_text()
    assert (dags / "pipeline.toml").read_text() == (PROJECT_ROOT / "pipeline.toml").read_text()
    for suite in (PROJECT_ROOT / "expectations").glob("*.json"):
        assert (dags / "expectations" / suite.name).read_text() == suite.read_text()
    for module in ("__init__.py", "train.py", "preprocess.py", "evaluate.py", "data_checks.py"):
        assert (dags / PACKAGE / module).is_file(), module
    assert (dags / "uv.lock").read_text() == (PROJECT_ROOT / "uv.lock").read_text()
    for pin in (PROJECT_ROOT / "ci" / "environments").glob("*.toml"):
        assert (dags / "ci" / "environments" / pin.name).read_text() == pin.read_text()
    assert (dags / ".airflowignore").read_text().split() == [
        f"{PACKAGE}/",
        "expectations/",
        "ci/",
    ]


def test_dags_folder_parses_with_the_plugins_as_mwaa_loads_them(bundle, tmp_path):
    plugins = tmp_path / "plugins"
    with zipfile.ZipFile(bundle / "plugins.zip") as archive:
        archive.extractall(plugins)
    probe = (
        "import json\n"
        "from airflow import plugins_manager\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        # Every Python file counts, not only those mentioning DAGs: .airflowignore must work.
        f"bag = DagBag(dag_folder={str(bundle / 'dags')!r}, safe_mode=False)\n"
        "apps, _ = plugins_manager.get_fastapi_plugins()\n"
        "print(json.dumps({'dags': sorted(bag.dag_ids), 'errors': bag.import_errors,\n"
        "    'files': sorted(stat.file for stat in bag.dagbag_stats),\n"
        "    'plugin_errors': plugins_manager.get_import_errors(),\n"
        "    'apps': [app['url_prefix'] for app in apps]}))\n"
    )
    environment = {key: value for key, value in os.environ.items() if key != "PIPELINE_CONFIG"}
    environment.update(
        PYTHONPATH=str(plugins),
        PIPELINE_ENV="dev",
        AIRFLOW__CORE__DAGS_FOLDER=str(bundle / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(plugins),
    )

    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["errors"] == {} and loaded["plugin_errors"] == {}
    loops = sorted(path.stem for path in (PROJECT_ROOT / "dags").glob("*.py"))
    assert loops == [f"{PACKAGE}_monitoring", f"{PACKAGE}_promotion", f"{PACKAGE}_training"]
    assert loaded["dags"] == loops
    assert sorted(Path(file).name for file in loaded["files"]) == [f"{loop}.py" for loop in loops]
    assert loaded["apps"] == ["/reports"]
