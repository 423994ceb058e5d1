"""The answers tier: every bake of the matrix, checked and its fast tests run.

Each bake of ``matrix.bakes()`` (derived from ``cookiecutter.json``) is rendered completely (no
template expression left), holds exactly the files the template lays out for its answers, is
ruff clean, has a lock file valid offline, and passes its own tests that depend on the answers:
the ML package's unit tests, the config, the job requests, the DAG's integrity. The suites that
are the same in every bake (the local AWS, the operators against it) run in the contract tier,
once per problem type (test_contract.py); the whole loop in the end-to-end tier.
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
    rendered_files,
    run_in_project,
    uv,
)
from matrix import bakes

pytestmark = pytest.mark.answers

MATRIX = bakes()
#: The project's tests that depend on the answers, run in every bake.
ANSWER_TESTS = (
    "tests/unit",
    "tests/plugins/test_config.py",
    "tests/plugins/test_gate.py",
    "tests/plugins/test_requests.py",
    "tests/plugins/test_runs.py",
    "tests/dags/test_dag_integrity.py",
    "tests/test_dependencies.py",
)
#: Fewest of them a bake must actually run (not skip).
MIN_ANSWER_TESTS = 120

# Folders copied without rendering (cookiecutter.json's _copy_without_render) are checked too:
# code that needs no answer must not hold a cookiecutter expression either.
UNRENDERED = re.compile(r"{{\s*cookiecutter|{%-?\s|cookiecutter\.")
# cruft's record of the bake holds the template's context, its unrendered patterns included.
RECORD_OF_THE_BAKE = ".cruft.json"


@pytest.fixture(scope="module", params=list(MATRIX))
def baked(request, tmp_path_factory) -> tuple[str, Path]:
    name = request.param
    if request.config.getoption("fast") and name != next(iter(MATRIX)):
        pytest.skip("--fast bakes the default answers only")
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


def test_bake_holds_exactly_the_files_the_template_lays_out(baked):
    """No file missing, none extra: no cache leaked from the template, nothing left by a hook."""
    name, project = baked
    found = {path.relative_to(project).as_posix() for path in project.rglob("*") if path.is_file()}

    assert found == rendered_files(MATRIX[name])


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


def test_baked_project_tests_of_its_answers_pass(baked, project_env):
    _, project = baked
    assert_project_tests_pass(project, MIN_ANSWER_TESTS, *ANSWER_TESTS, "-q")


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
