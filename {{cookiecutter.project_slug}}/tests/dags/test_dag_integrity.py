"""Every DAG file imports cleanly and cheaply, and every DAG carries what operators rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support import PROJECT_ROOT

DAG_FILES = sorted((PROJECT_ROOT / "dags").glob("*.py"))
#: Libraries the jobs use; a DAG file that imports them slows every scheduler parse.
HEAVY = ("pandas", "sklearn", "xgboost", "great_expectations", "sagemaker", "shap", "mlflow")


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT_ROOT / "dags"))


def test_dag_files_import_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert len(dagbag.dags) == len(DAG_FILES)


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda path: path.name)
def test_every_dag_has_tags_retries_and_docs(dagbag, dag_file):
    dags = [dag for dag in dagbag.dags.values() if dag.fileloc == str(dag_file)]

    assert dags, f"{dag_file.name} defines no DAG"
    for dag in dags:
        assert dag.tags, f"{dag.dag_id} has no tags"
        assert dag.doc_md and len(dag.doc_md) > 200, f"{dag.dag_id} has no doc_md"
        # tasks default to Airflow's 0 retries: the DAG must ask for them
        assert dag.default_args.get("retries", 0) > 0, f"{dag.dag_id} sets no retries"


def test_failures_a_retry_cannot_mend_are_not_retried(dagbag):
    training = next(dag for dag in dagbag.dags.values() if dag.dag_id.endswith("_training"))

    assert training.get_task("gate").retries == 0
    assert training.get_task("train").retries > 0


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda path: path.name)
def test_dag_file_imports_none_of_the_heavy_libraries(dag_file):
    probe = (
        "import json, runpy, sys\n"
        f"runpy.run_path({str(dag_file)!r})\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    assert run_probe(probe) == []


def test_loading_the_plugin_leaves_the_reports_app_to_the_api_server():
    """Every task process loads the plugins: the reports app is built only when it is read."""
    plugin = next((PROJECT_ROOT / "plugins").glob("*_plugin.py"))
    probe = (
        "import json, runpy, sys\n"
        f"module = runpy.run_path({str(plugin)!r})\n"
        "before = 'airflow.api_fastapi.core_api.security' in sys.modules\n"
        "apps = module['PipelineReportsPlugin'].fastapi_apps\n"
        "print(json.dumps([before, apps[0]['url_prefix'], type(apps[0]['app']).__name__]))\n"
    )
    assert run_probe(probe) == [False, "/reports", "FastAPI"]


def run_probe(probe: str):
    """Run ``probe`` in a fresh interpreter; return what its last line prints, as JSON."""
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "plugins")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])
