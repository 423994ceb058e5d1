"""One real Airflow for the end-to-end tests, started by ``tools.local_airflow`` as `make airflow`.

For the whole session: API server, scheduler, DAG processor and triggerer on free ports with a
throwaway home, driving a local AWS of their own (temporary state, free port). They serve the
DAGs and plugins from the MWAA bundle (``tools.mwaa_bundle``), the layout deployed to AWS, whose
``pipeline.toml`` copy differs from the repository's in three settings only:

- ``endpoint_url``: this session's local AWS;
- ``deferrable = true``: the SageMaker jobs are polled by the triggerer, not by worker slots
  (the DAG tests under ``tests/dags`` cover the waiting mode);
- ``[training] schedule``: daily at a minute a few minutes ahead, so that one scheduled run falls
  inside the session. (Airflow also starts a run for the schedule's latest past time as soon as
  the DAG appears, as on any first deployment with catchup off.)

Every process started here is stopped by process group at the end, whatever happened.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from local_aws.process import LocalAWSProcess
from tests.e2e.support import SCHEDULED_AFTER, Airflow, configure
from tests.support import PROJECT_ROOT
from tools import mwaa_bundle
from tools.airflow_env import free_port
from tools.local_airflow import LocalAirflow
from tools.local_run import AWS, generate_sample_data, prepare_account, upload_training_data


@pytest.fixture(scope="session")
def airflow(tmp_path_factory) -> Iterator[Airflow]:
    tmp = tmp_path_factory.mktemp("e2e")
    due = datetime.now(UTC) + SCHEDULED_AFTER
    scheduled_at = due.replace(second=0, microsecond=0) + timedelta(minutes=1)
    aws_process = LocalAWSProcess(
        state_dir=tmp / "local-aws", port=0, config=PROJECT_ROOT / "pipeline.toml"
    )
    stack = None
    try:
        aws_process.start()
        aws = AWS(aws_process.endpoint_url)
        prepare_account(aws)
        seed_uri = upload_training_data(aws, generate_sample_data(tmp / "seed.csv", rows=3000))

        bundle = tmp / "mwaa"
        mwaa_bundle.build_dags_folder(bundle / "dags")
        with zipfile.ZipFile(mwaa_bundle.build_plugins_zip(tmp / "plugins.zip")) as archive:
            archive.extractall(bundle / "plugins")
        config = configure(
            bundle / "dags" / "pipeline.toml",
            aws_process.endpoint_url,
            f"{scheduled_at.minute} {scheduled_at.hour} * * *",
        )

        stack = LocalAirflow(
            tmp / "airflow-home",
            port=free_port(),
            endpoint_url=aws_process.endpoint_url,
            state_dir=aws_process.state_dir,
            dags_folder=bundle / "dags",
            plugins_folder=bundle / "plugins",
        )
        stack.start()
        yield Airflow(stack, aws, config, seed_uri, scheduled_at)
    finally:
        if stack is not None:
            stack.stop()
        aws_process.stop()
