"""The end-to-end tier, for one bake with the default answers.

Runs the baked project's slow tests (the training DAG against its local AWS, the real Airflow
with a browser) and its `make demo`, exactly as a user runs them; then, in a bake of its own,
the README's "Use your own data" with a public table nobody here wrote. The answers and contract
tiers of the same answers run in test_bake.py and test_contract.py.
"""

from __future__ import annotations

import json
import os
import re
import socket

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


def make_env() -> dict[str, str]:
    """The environment `make` runs in: the shared environment, the local AWS on a free port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = project_env_vars(
        {"UV": uv(), "UV_PROJECT_ENVIRONMENT": str(PROJECT_ENV), "LOCAL_AWS_PORT": str(port)}
    )
    env.pop("PYTHONPATH", None)
    return env


def test_baked_project_make_demo_trains_registers_and_promotes_a_model(project):
    result = run_group(["make", "demo"], project, make_env(), timeout=900)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "succeeded" in output and "approval status: PendingManualApproval" in output
    summary = json.loads((project / "build" / "demo-summary.json").read_text())
    assert summary["state"] == "success"
    assert summary["summary"]["approval_status"] == "PendingManualApproval"
    promotion = summary["promotion"]
    assert "promoted by pull request" in output, promotion
    assert [url.rsplit("/", 2)[1:] for url in promotion["pull_requests"]] == [
        ["pull", "1"],
        ["pull", "2"],
    ]
    for environment, account in (("staging", "222222222222"), ("prod", "333333333333")):
        served = promotion[environment]
        assert served["account"] == account
        assert len(served["predictions"]) == 5
        assert all(0 <= p <= 1 for p in served["predictions"]), served
    assert promotion["staging"]["predictions"] == promotion["prod"]["predictions"]
    assert os.path.isdir(project / ".local-aws"), "the demo's local AWS state should stay on disk"


def test_use_your_own_data_takes_a_public_table_to_a_registered_version(tmp_path_factory):
    """The README's walk: pipeline.toml's [data], `make expectations`, `make demo DATA=`."""
    project = bake(tmp_path_factory.mktemp("own-data"))
    table = project / "breast_cancer.csv"  # 30 numeric columns, a 0/1 label named "target"
    export = "from sklearn.datasets import load_breast_cancer as t; "
    export += f"t(as_frame=True).frame.to_csv({str(table)!r}, index=False)"
    run_group([str(PROJECT_ENV / "bin" / "python"), "-c", export], project, make_env())
    config = project / "pipeline.toml"
    text = config.read_text()
    text = re.sub(r'(?m)^target_column = ".*"$', 'target_column = "target"', text)
    text = re.sub(r"(?m)^sensitive_columns = .*$", "sensitive_columns = []", text)
    config.write_text(text)
    env = make_env()

    drafted = run_group(["make", "expectations", f"DATA={table}"], project, env, timeout=600)
    demo = run_group(["make", "demo", f"DATA={table}"], project, env, timeout=900)

    assert drafted.returncode == 0, drafted.stdout + drafted.stderr
    assert "Drafted expectations/raw.json: 64 expectations" in drafted.stdout
    output = demo.stdout + demo.stderr
    assert demo.returncode == 0, output[-6000:]
    summary = json.loads((project / "build" / "demo-summary.json").read_text())["summary"]
    assert summary["data_checks"]["raw"]["successful_expectations"] == 64
    assert summary["approval_status"] == "PendingManualApproval"
    assert "/data/uploads/" in summary["training_data"]
    assert summary["training_data"].endswith("/breast_cancer.csv")
