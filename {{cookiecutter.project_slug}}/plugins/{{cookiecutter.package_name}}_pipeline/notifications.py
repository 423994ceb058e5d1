"""Telling the team a run failed: a JSON message on the pipeline's SNS topic, with the reason.

A run that succeeds is announced by the training DAG's ``notify`` task, as text for the reviewer
who approves the new version (``steps.summary_message``).
"""

from __future__ import annotations

import json

from airflow.providers.amazon.aws.hooks.sns import SnsHook

from .config import load_config


def failure_message(context) -> dict:
    ti = context["ti"]
    return {
        "status": "failed",
        "dag_id": ti.dag_id,
        "run_id": context["run_id"],
        "failed_task": ti.task_id,
        "reason": str(context.get("exception") or "unknown"),
    }


def notify_failure(context) -> None:
    """Task ``on_failure_callback``: publish why the run failed (after the last retry)."""
    config = load_config()
    message = failure_message(context)
    SnsHook(aws_conn_id=config.env.aws_conn_id, region_name=config.env.region).publish_to_target(
        target_arn=config.env.topic_arn(config.section("notifications")["topic_name"]),
        subject=f"{config.slug} training run failed at {message['failed_task']}"[:100],
        message=json.dumps(message, indent=2),
    )
