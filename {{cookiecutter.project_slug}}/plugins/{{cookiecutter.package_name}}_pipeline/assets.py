"""The assets that start the DAGs.

AWS announces some on queues: S3 a new raw-data object, EventBridge a model version's approval
change; an asset watcher turns each message into an asset event. Drift is announced by the
monitoring DAG itself.
"""

from __future__ import annotations

from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger
from airflow.sdk import Asset, AssetWatcher

from .config import PipelineConfig


def queue_asset(config: PipelineConfig, name: str, uri: str, queue: str, **filters) -> Asset:
    """The asset ``<slug>_<name>`` at ``uri``, one event per message of ``queue`` (in the
    environment's account) that ``filters`` (MessageQueueTrigger's) let through."""
    env = config.env
    return Asset(
        name=f"{config.slug}_{name}",
        uri=uri,
        watchers=[
            AssetWatcher(
                name=f"{config.slug}_{name}_queue",
                trigger=MessageQueueTrigger(
                    scheme="sqs",
                    sqs_queue=env.queue_url(queue),
                    aws_conn_id=env.aws_conn_id,
                    region_name=env.region,
                    waiter_delay=env.poll_interval_seconds,
                    max_messages=10,
                    **filters,
                ),
            )
        ],
    )


def drift_asset(config: PipelineConfig) -> Asset:
    """The asset whose events are drift that meets ``[monitoring]``'s rule: the monitoring DAG
    emits them, the training DAG runs on them."""
    return Asset(name=f"{config.slug}_drift", uri=f"{config.artifact_root}/monitoring/drift")
