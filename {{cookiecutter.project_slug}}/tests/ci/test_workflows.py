"""The GitHub workflows: valid by GitHub's schema, and the promotion rules they must keep.

The schema check runs check-jsonschema (with SchemaStore's workflow schema, which it vendors)
in an environment of its own, as the other tools with their own pins do.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from tests.support import PROJECT_ROOT

WORKFLOWS = sorted((PROJECT_ROOT / ".github" / "workflows").glob("*.yml"))
CHECK_JSONSCHEMA = "check-jsonschema==0.33.3"


def load(name: str) -> dict:
    return yaml.safe_load((PROJECT_ROOT / ".github" / "workflows" / name).read_text())


def test_every_workflow_passes_githubs_workflow_schema():
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "uv runs the schema check: run the tests through make"
    result = subprocess.run(
        [uv, "tool", "run", "--from", CHECK_JSONSCHEMA, "check-jsonschema"]
        + ["--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert {path.name for path in WORKFLOWS} >= {"ci.yml", "promote.yml", "deploy-dags.yml"}


def test_no_workflow_holds_aws_keys():
    for path in WORKFLOWS:
        text = path.read_text()
        assert not re.search(r"aws-access-key-id|aws-secret-access-key|AWS_SECRET", text), path


def test_only_jobs_that_sign_in_to_aws_may_ask_for_an_oidc_token():
    for path in WORKFLOWS:
        workflow = yaml.safe_load(path.read_text())
        assert workflow.get("permissions") == {"contents": "read"}, path.name
        for name, job in workflow["jobs"].items():
            signs_in = any(
                "configure-aws-credentials" in step.get("uses", "") for step in job["steps"]
            )
            token = job.get("permissions", {}).get("id-token")
            assert (token == "write") == signs_in, f"{path.name}: {name}"


def test_promotion_plans_pull_requests_and_applies_staging_then_prod():
    workflow = load("promote.yml")
    triggers = workflow[True]  # YAML reads the key `on` as true
    assert triggers["pull_request"]["paths"] == ["ci/environments/**"]
    assert triggers["push"] == {"branches": ["main"], "paths": ["ci/environments/**"]}
    jobs = workflow["jobs"]
    # Forks get no credentials: their pull requests are not planned.
    assert "head.repo.full_name == github.repository" in jobs["plan"]["if"]
    assert "environment" not in jobs["plan"]
    assert jobs["apply-staging"]["environment"] == "staging"
    assert jobs["apply-prod"]["environment"] == "prod"
    # Each environment is applied when the push changed its pin, not otherwise.
    for name, environment in (("apply-staging", "staging"), ("apply-prod", "prod")):
        assert jobs[name]["needs"] == "changes"
        assert jobs[name]["if"] == f"needs.changes.outputs.{environment} == 'true'"
    for name, environment in (("apply-staging", "staging"), ("apply-prod", "prod")):
        assert jobs[name]["concurrency"] == {
            "group": f"promote-{environment}",
            "cancel-in-progress": False,
        }


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_the_roles_a_workflow_signs_in_as_come_from_pipeline_toml(path):
    """Each `make promote ARGS="role ..."` step names a role pipeline.toml defines."""
    for job in yaml.safe_load(path.read_text())["jobs"].values():
        matrix = job.get("strategy", {}).get("matrix", {}).get("environment", [None])
        for step in job["steps"]:
            found = re.search(r'ARGS="(role [^"]+)"', step.get("run", ""))
            if not found:
                continue
            for environment in matrix:
                args = re.sub(
                    r"\$\{\{ *matrix\.environment *\}\}", str(environment), found.group(1)
                )
                result = subprocess.run(
                    [sys.executable, "-m", "ci.promote", *args.split()],
                    cwd=PROJECT_ROOT,
                    env={**os.environ, "PYTHONPATH": f"{PROJECT_ROOT / 'plugins'}:{PROJECT_ROOT}"},
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                assert result.returncode == 0, result.stderr
                assert re.search(r"^arn=arn:aws[\w-]*:iam::\d{12}:role/", result.stdout, re.M)
