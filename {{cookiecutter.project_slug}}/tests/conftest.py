"""Shared test setup: no real AWS account is ever reachable from a test.

Every test runs with dummy credentials, no instance metadata lookups and Great Expectations'
analytics off. Tests that need AWS get a local AWS on a free port with a fresh state folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import boto3
import pytest

from tests.support import PROJECT_ROOT, REGION, SAGEMAKER_TRUST
from tools.airflow_env import airflow_environment

for _variable in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE"):
    os.environ.pop(_variable, None)
# Airflow reads its settings when first imported: point it at a throwaway home before that.
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="airflow-home-"))
os.environ.update(airflow_environment(AIRFLOW_HOME, endpoint_url="http://127.0.0.1:1"))
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION=REGION,
    AWS_EC2_METADATA_DISABLED="true",
    AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    GX_ANALYTICS_ENABLED="false",
)


@pytest.fixture(scope="session")
def local_aws(tmp_path_factory):
    """A local AWS for the whole session (each test uses its own bucket or names)."""
    from local_aws.process import LocalAWSProcess

    folder = tmp_path_factory.mktemp("local-aws")
    # The OIDC issuers' keys it trusts (none yet): tests that sign tokens add theirs.
    (folder / "jwks.json").write_text("{}")
    process = LocalAWSProcess(
        state_dir=folder / "state",
        config=PROJECT_ROOT / "pipeline.toml",
        env={"LOCAL_AWS_OIDC_JWKS": str(folder / "jwks.json")},
    )
    process.oidc_keys = folder / "jwks.json"
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def aws_client(local_aws):
    """``aws_client("s3")``: a boto3 client of the local AWS, signed as the dev account."""

    def make(service: str, **kwargs):
        return boto3.client(
            service, endpoint_url=local_aws.endpoint_url, region_name=REGION, **kwargs
        )

    return make


@pytest.fixture(scope="session")
def execution_role(aws_client) -> str:
    """An execution role SageMaker may assume, as the infrastructure template creates it."""
    iam = aws_client("iam")
    name = "tests-sagemaker-execution"
    try:
        return iam.create_role(RoleName=name, AssumeRolePolicyDocument=SAGEMAKER_TRUST)["Role"][
            "Arn"
        ]
    except iam.exceptions.EntityAlreadyExistsException:
        return iam.get_role(RoleName=name)["Role"]["Arn"]


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)
