"""The end-to-end tier, for one bake with the default answers.

Runs the baked project's slow tests (the training DAG against its local AWS, the real Airflow
with a browser) and its `make demo`, exactly as a user runs them. The fast tier of the same bake
runs in test_bake.py.
"""

from __future__ import annotations

import json
import os

import pytest
from baking import (
    PROJECT_ENV,
    assert_project_tests_pass,
    bake,
    project_env_vars,
    run_group,
    uv,
)

pytestmark = pytest.mark.slow

#: Fewest slow tests the baked project must actually run (not skip).
MIN_SLOW_TESTS = 8


@pytest.fixture(scope="module")
def project(tmp_path_factory, project_env):
    project = bake(tmp_path_factory.mktemp("e2e"))
    # The browser test needs Chromium: the project's own setup installs it when missing.
    result = run_group(["make", "browser"], project, project_env_vars(), timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return project


def test_baked_project_slow_tests_pass(project):
    assert_project_tests_pass(project, MIN_SLOW_TESTS, "-m", "slow", "-q")


def test_baked_project_make_demo_trains_and_registers_a_model(project):
    env = project_env_vars({"UV": uv(), "UV_PROJECT_ENVIRONMENT": str(PROJECT_ENV)})
    env.pop("PYTHONPATH", None)
    result = run_group(["make", "demo"], project, env, timeout=900)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "succeeded" in output and "approval status: PendingManualApproval" in output
    summary = json.loads((project / "build" / "demo-summary.json").read_text())
    assert summary["state"] == "success"
    assert summary["summary"]["approval_status"] == "PendingManualApproval"
    assert os.path.isdir(project / ".local-aws"), "the demo's local AWS state should stay on disk"
