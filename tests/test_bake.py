"""Bake the template over an option matrix; check each project and run its own test suite.

Every bake gets the fast checks (rendering, layout, lint, lock, the project's fast tests); one
bake also gets the end-to-end tier (see test_end_to_end.py).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
from baking import (
    PROJECT_ENV,
    TEMPLATE,
    assert_project_tests_pass,
    bake,
    run_in_project,
    uv,
)

# Options that interact (problem type decides metric, target and threshold) are crossed;
# the others vary along with them so every value is baked at least once.
MATRIX = {
    "binary-defaults": {},
    "regression-renamed": {
        "project_name": "Wine Quality",
        "problem_type": "regression",
        "primary_metric": "rmse",
        "metric_threshold": "900",
        "aws_region": "eu-west-1",
        "training_schedule": "0 3 * * 1",
        "monitoring_schedule": "@hourly",
    },
    "binary-f1-custom-names": {
        "project_name": "Fraud Signals",
        "package_name": "fraud_model",
        "problem_type": "binary_classification",
        "target_column": "is_fraud",
        "primary_metric": "f1",
        "metric_threshold": "0.6",
        "artifact_bucket": "fraud-signals-ml-artifacts",
        "model_package_group_name": "FraudSignals",
        "aws_region": "ap-southeast-2",
    },
}

# Folders copied without rendering (cookiecutter.json's _copy_without_render) are checked too:
# code that needs no answer must not hold a cookiecutter expression either.
UNRENDERED = re.compile(r"{{\s*cookiecutter|{%-?\s|cookiecutter\.")
# cruft's record of the bake holds the template's context, its unrendered patterns included.
RECORD_OF_THE_BAKE = ".cruft.json"
#: Fewest tests the fast tier of a baked project must actually run (not skip).
MIN_FAST_TESTS = 40


@pytest.fixture(scope="module", params=sorted(MATRIX))
def baked(request, tmp_path_factory) -> tuple[str, Path]:
    name = request.param
    return name, bake(tmp_path_factory.mktemp(name), **MATRIX[name])


def test_bake_leaves_no_cookiecutter_expression(baked):
    _, project = baked
    leftovers = []
    for path in project.rglob("*"):
        if not path.is_file() or path.name == RECORD_OF_THE_BAKE:
            continue
        data = path.read_bytes()
        if b"\0" in data:  # binary files (screenshots) are copied as they are
            continue
        text = data.decode(errors="ignore")
        if UNRENDERED.search(text) or UNRENDERED.search(str(path.relative_to(project))):
            leftovers.append(str(path.relative_to(project)))
    assert leftovers == []


def test_bake_lays_out_the_repository_as_designed(baked):
    name, project = baked
    package = MATRIX[name].get("package_name") or project.name.replace("-", "_")
    for expected in (
        f"{package}/preprocess.py",
        f"{package}/train.py",
        f"{package}/evaluate.py",
        f"{package}/inference.py",
        f"{package}/sample_data.py",
        "dags",
        "plugins",
        "expectations/raw.json",
        "expectations/features.json",
        "ci",
        "tests",
        "local_aws/server.py",
        "README.md",
        "Makefile",
        "pyproject.toml",
        "uv.lock",
        "pipeline.toml",
        "Dockerfile",
    ):
        assert (project / expected).exists(), expected


def test_baked_lock_file_is_valid_offline(baked):
    _, project = baked
    result = subprocess.run(
        [uv(), "lock", "--check", "--offline"], cwd=project, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_baked_project_is_ruff_clean(baked, project_env):
    _, project = baked
    for command in (["ruff", "check", "."], ["ruff", "format", "--check", "."]):
        result = run_in_project(project, str(PROJECT_ENV / "bin" / command[0]), *command[1:])
        assert result.returncode == 0, result.stdout + result.stderr


def test_baked_project_fast_tests_pass(baked, project_env):
    _, project = baked
    assert_project_tests_pass(project, MIN_FAST_TESTS, "-m", "not slow", "-q")


def test_the_hook_refuses_a_package_name_that_would_shadow_an_import(baked):
    """Every top-level module the project imports is in the hook's list of names to refuse."""
    name, project = baked
    package = MATRIX[name].get("package_name") or project.name.replace("-", "_")
    hook = ast.parse((TEMPLATE / "hooks" / "pre_gen_project.py").read_text())
    (refused,) = [
        ast.literal_eval(node.value.args[0])
        for node in hook.body
        if isinstance(node, ast.Assign) and node.targets[0].id == "PROJECT_MODULES"
    ]
    imported = set()
    for path in project.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    own = {package, f"{package}_pipeline", f"{package}_plugin"}
    assert imported - own - set(sys.stdlib_module_names) - refused == set()
