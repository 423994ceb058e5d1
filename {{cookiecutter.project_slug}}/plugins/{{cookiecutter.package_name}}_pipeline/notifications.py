"""Telling the team how a run ended, on the pipeline's SNS topic.

A run that succeeds is announced by the training DAG's ``notify`` task, as text for the reviewer
who approves the new version (:func:`summary_message`); a run that fails, by every task's failure
callback, as JSON with the reason (:func:`notify_failure`).
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
        target_arn=config.env.topic_arn(config.notifications.topic_name),
        subject=f"{message['dag_id']} run failed at {message['failed_task']}"[:100],
        message=json.dumps(message, indent=2),
    )


def summary_message(summary: dict) -> str:
    """The notification text: what a reviewer needs to decide on approval."""
    lines = [
        f"{summary['project']}: run {summary['run_id']} registered a version awaiting approval.",
        f"Gate: {summary['gate']}",
        f"Model package: {summary['model_package_arn']} ({summary['approval_status']})",
        "Metrics: " + ", ".join(f"{k}={v:.4g}" for k, v in sorted(summary["metrics"].items())),
        "Data checks: "
        + ", ".join(
            f"{name} {check['successful_expectations']}/{check['evaluated_expectations']} passed"
            for name, check in summary["data_checks"].items()
        ),
        f"Reports: {summary['reports']['evaluation']}",
        f"Artifacts: {summary['artifacts']}",
    ]
    if summary.get("labelled_capture"):
        lines.insert(
            1, "Also learnt from labelled capture: " + ", ".join(summary["labelled_capture"])
        )
    if summary.get("started_by"):
        lines.insert(1, f"Started by {summary['started_by']}.")
    return "\n".join(lines)
