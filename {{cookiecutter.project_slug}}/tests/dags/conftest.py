"""A local AWS with the pipeline's infrastructure deployed, and a way to run the training DAG."""

from __future__ import annotations

import pytest

from tests.conftest import AIRFLOW_HOME
from tools.local_run import (
    AWS,
    generate_sample_data,
    prepare_account,
    run_training,
    upload_training_data,
)


@pytest.fixture(scope="session")
def account(local_aws):
    """The dev account as the infrastructure template leaves it, plus an inbox for notifications."""
    aws = AWS(local_aws.endpoint_url)
    return aws, prepare_account(aws)


@pytest.fixture(scope="session")
def sample_data_uri(account, tmp_path_factory) -> str:
    aws, _ = account
    path = generate_sample_data(tmp_path_factory.mktemp("data") / "sample.csv", rows=3000)
    return upload_training_data(aws, path)


@pytest.fixture(scope="session")
def run_dag(account):
    """``run_dag(conf, logical_date=None)``: one dag.test() run of the training DAG."""
    aws, inbox = account

    def run(conf: dict, **test_kwargs):
        return run_training(aws, inbox, AIRFLOW_HOME, conf, **test_kwargs)

    return run
