"""``make demo``: the training pipeline end to end on the local AWS, no AWS account needed.

    make demo                      # generated sample data ([data] sample_rows rows)
    make demo DATA=path/to/my.csv  # your own table (see "Use your own data" in the README)

The run trains on that one file, uploaded to a prefix of its own
(``s3://<bucket>/<slug>/data/uploads/<time>/``), not on the raw-data prefix that scheduled runs
take whole. A version the gate registers is then approved (a reviewer's step on AWS) and
promoted by pull request to staging, then prod (``tools/demo_promotion.py``), whose endpoints
answer a few rows of the data. Then staging gets drifted traffic, which the monitoring DAG
finds, alarms on and retrains on (``tools/demo_monitoring.py``). Prints what happened — data
checks, metrics, the gate's decision, the model package and its approval status, where the
reports are, the pull requests, the endpoints' answers, the drift, the alarm and the version
the drift trained — and writes it to ``build/demo-summary.json``.
Exits non-zero, saying why, when the run fails. The local AWS it starts is stopped at the end;
its state stays in ``.local-aws/`` for inspection (``make local-aws`` serves it again). A local
AWS already serving on the port is used only if it is this project's.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from botocore.exceptions import ClientError

from {{ cookiecutter.package_name }}_pipeline.config import ConfigError
from {{ cookiecutter.package_name }}_pipeline.github import GitHubError

from local_aws.process import LocalAWSError
from tools.demo_monitoring import MonitoringFailed, monitor
from tools.demo_promotion import PromotionFailed, promote
from tools.local_airflow import LocalAirflow
from tools.local_run import (
    AWS,
    ForeignLocalAWSError,
    generate_sample_data,
    local_aws,
    prepare_account,
    run_training,
    upload_table,
)
from tools.project import PROJECT_ROOT, config


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="a CSV to train on instead of sample data")
    parser.add_argument("--rows", type=int, default=None, help="rows of sample data to generate")
    parser.add_argument("--state-dir", type=Path, default=PROJECT_ROOT / ".local-aws")
    parser.add_argument("--airflow-home", type=Path, default=PROJECT_ROOT / ".airflow")
    parser.add_argument(
        "--summary", type=Path, default=PROJECT_ROOT / "build" / "demo-summary.json"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = config()
    if args.data is not None and not args.data.is_file():
        print(f"error: DATA={args.data} is not a file", file=sys.stderr)
        return 2
    if LocalAirflow(args.airflow_home).running():
        print(
            "error: `make airflow` is running with this home: its promotion DAG would take the "
            "demo's approval (and the demo its GitHub connection). Stop it first: "
            "make airflow-stop",
            file=sys.stderr,
        )
        return 2
    try:
        with local_aws(args.state_dir) as endpoint_url:
            data = args.data or generate_sample_data(
                PROJECT_ROOT / "build" / "sample-data.csv", args.rows or cfg.data.sample_rows
            )
            aws = AWS(endpoint_url)
            inbox = prepare_account(aws)
            raw_data_uri = upload_table(aws, data)
            print(f"Training data: {raw_data_uri}", flush=True)
            outcome = run_training(
                aws, inbox, args.airflow_home, conf={"raw_data_uri": raw_data_uri}
            )
            package = (outcome.summary or {}).get("model_package_arn")
            promotion = monitoring = None
            if outcome.succeeded and package:
                try:
                    promotion = promote(aws, args.airflow_home, package, data)
                except (PromotionFailed, ClientError, ConfigError, GitHubError) as error:
                    promotion = {"error": str(error)}
            if promotion and "error" not in promotion:
                try:
                    # new customers for the traffic: rows the model has not learnt from
                    fresh = (
                        None
                        if args.data
                        else generate_sample_data(
                            PROJECT_ROOT / "build" / "demo-traffic-data.csv",
                            args.rows or cfg.data.sample_rows,
                            seed=1,
                        )
                    )
                    monitoring = monitor(
                        aws, args.airflow_home, Path(promotion["repository"]), data, inbox, fresh
                    )
                except (MonitoringFailed, ClientError, ConfigError, TimeoutError) as error:
                    monitoring = {"error": str(error)}
    except (ForeignLocalAWSError, LocalAWSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    report = {
        "state": outcome.state,
        "run_id": outcome.run_id,
        "seconds": round(outcome.seconds, 1),
        "failed_tasks": outcome.failed_tasks,
        "summary": outcome.summary,
        "notification": outcome.notification,
        "promotion": promotion,
        "monitoring": monitoring,
    }
    args.summary.parent.mkdir(parents=True, exist_ok=True)
    args.summary.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(render(report))
    print(f"\n(written to {args.summary})")
    failed = (promotion or {}).get("error") or (monitoring or {}).get("error")
    return 0 if outcome.succeeded and not failed else 1


def render(report: dict) -> str:
    lines = ["", "=" * 72]
    summary = report["summary"]
    if report["state"] == "success" and summary:
        lines.append(f"Training run {report['run_id']} succeeded in {report['seconds']} s")
        for name, check in summary["data_checks"].items():
            lines.append(
                f"  data checks ({name}): {check['successful_expectations']}/"
                f"{check['evaluated_expectations']} expectations met"
            )
        gate_metrics = {metric.name for metric in config().metrics if metric.gates}
        metrics = ", ".join(
            f"{name} {value:.4g}"
            for name, value in sorted(summary["metrics"].items())
            if name in gate_metrics
        )
        lines += [
            f"  metrics: {metrics}",
            f"  gate: {summary['gate']}",
            f"  model package: {summary['model_package_arn']}",
            f"  approval status: {summary['approval_status']}",
            "  reports:",
            *(f"    {name}: {uri}" for name, uri in summary["reports"].items()),
            f"  artifacts: {summary['artifacts']}",
        ]
        promotion = report["promotion"]
        if promotion and "error" in promotion:
            lines.append(f"  promotion FAILED: {promotion['error']}")
        elif promotion:
            lines.append("  approved by the demo; promoted by pull request:")
            lines += [f"    {url}" for url in promotion["pull_requests"]]
            for environment in ("staging", "prod"):
                served = promotion[environment]
                predictions = ", ".join(f"{value:.3f}" for value in served["predictions"])
                lines.append(
                    f"  {environment} (account {served['account']}), endpoint "
                    f"{served['endpoint']}, answers the first {len(served['predictions'])} "
                    f"rows: {predictions}"
                )
        lines += _monitoring_lines(report.get("monitoring"))
    else:
        notification = report["notification"]
        reason = notification.get("reason") if isinstance(notification, dict) else notification
        lines += [
            f"Training run {report['run_id']} FAILED after {report['seconds']} s",
            f"  failed at: {', '.join(report['failed_tasks']) or 'unknown'}",
            f"  reason: {reason or 'see the task logs above'}",
        ]
    lines.append("=" * 72)
    return "\n".join(lines)


def _monitoring_lines(monitoring: dict | None) -> list[str]:
    if not monitoring:
        return []
    if "error" in monitoring:
        return [f"  monitoring FAILED: {monitoring['error']}"]
    retraining = monitoring["retraining"]
    drifted = ", ".join(monitoring["drift_event"]["features"])
    return [
        f"  monitoring of staging ({monitoring['records']} captured requests): "
        f"{len(monitoring['violations'])} violations, drift in {drifted}",
        f"    report: {monitoring['report_file']}",
        f"    alarm {monitoring['alarm']['name']}: {monitoring['alarm']['state']}",
        f"  drift retrained: {retraining['model_package_arn']}",
        f"    on {retraining['training_data']} and {', '.join(retraining['labelled_capture'])}",
    ]


if __name__ == "__main__":
    sys.exit(main())
