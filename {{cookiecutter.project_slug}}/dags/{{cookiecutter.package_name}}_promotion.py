"""
# {{ cookiecutter.project_name }}: promotion proposals

Proposes, as pull requests, the pin changes that move approved model versions to staging and
then to prod; merging a proposal is what deploys it (`.github/workflows/promote.yml`).

    propose

- A version **approved** in the Model Registry (newer than staging's pin): a pull request
  bumping `ci/environments/staging.toml`.
- Staging's version, once staging has served it `InService` for `[promotion]
  staging_soak_hours` with no rollback alarm: the same for `prod.toml`.
- A pinned version later **rejected**: a pull request back to the newest approved one before it.

**Runs** on every approval change (SageMaker's state-change event → EventBridge rule → the SQS
queue `[registry] approval_events_queue` → asset watcher) and hourly, for the end of a soak.
Each proposal has its own branch (`promote/<env>/v<N>`, `revert/<env>/v<N>`), so runs seeing
the same approval open one pull request between them.

**Needs** the GitHub App connection `[promotion] github_conn_id` (on AWS, a Secrets Manager
secret read through Airflow's secrets backend) and staging's connection, which assumes its
watch role (docs/runbooks.md).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, AssetOrTimeSchedule, CronTriggerTimetable, task

from {{ cookiecutter.package_name }}_pipeline.assets import queue_asset
from {{ cookiecutter.package_name }}_pipeline.config import load_config
from {{ cookiecutter.package_name }}_pipeline.notifications import notify_failure

config = load_config()
env = config.env

# Every approval change of the group's versions, as EventBridge delivers it to the queue.
approvals = queue_asset(
    config,
    "approvals",
    env.queue_url(config.registry.approval_events_queue),
    config.registry.approval_events_queue,
)

with DAG(
    dag_id=f"{config.package}_promotion",
    description="Proposes approved versions to staging, then prod, as pull requests",
    doc_md=__doc__,
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("@hourly", timezone="UTC"), assets=approvals
    ),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # proposals read what the last one opened
    tags=[config.slug, "promotion", "gitops"],
    default_args={
        "owner": config.project.owner_email,
        "retries": 2,
        "retry_delay": timedelta(seconds=env.retry_delay_seconds),
        "on_failure_callback": notify_failure,
    },
) as dag:

    @task
    def propose() -> list[str]:
        """Open the pull requests that are due; their URLs."""
        from airflow.sdk import Connection

        from {{ cookiecutter.package_name }}_pipeline import proposals
        from {{ cookiecutter.package_name }}_pipeline.github import AppCredentials, GitHub
        from {{ cookiecutter.package_name }}_pipeline.hooks import aws_client

        app = AppCredentials.from_connection(Connection.get(config.promotion.github_conn_id))
        return proposals.propose(
            config,
            registry=aws_client(config, "sagemaker"),
            watch=(
                aws_client(config, "sagemaker", "staging"),
                aws_client(config, "cloudwatch", "staging"),
            ),
            github=GitHub.as_app(config.project.repository, app),
            log=print,
        )

    propose()
