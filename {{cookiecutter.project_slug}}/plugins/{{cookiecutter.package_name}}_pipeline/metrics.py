"""The ML package's table of metrics (``<package>/metrics.csv``), as the Airflow side reads it.

The gate takes a metric's direction from it, and the training job's ``MetricDefinitions`` follow
from the problem type: ``pipeline.toml`` holds no regex, so switching the problem type switches
the metrics SageMaker reads from the training log.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

SPLITS = ("train", "validation")


@dataclass(frozen=True)
class Metric:
    """One row of the table."""

    name: str
    problem_type: str
    higher_is_better: bool
    #: The thresholds the gate accepts, e.g. ``[0, 1]``; empty when the gate cannot use it.
    gate_range: str
    #: The XGBoost evaluation metric that reports it during training, if any.
    xgboost_eval_metric: str
    #: The regex that reads it from the training log; ``{split}``: train or validation.
    log_regex: str

    @property
    def gates(self) -> bool:
        return bool(self.gate_range)


def read_metric_table(path: Path) -> list[Metric]:
    """Every metric of ``metrics.csv``."""
    with open(path, newline="", encoding="utf-8") as f:
        return [
            Metric(
                name=row["name"],
                problem_type=row["problem_type"],
                higher_is_better=row["direction"] == "higher",
                gate_range=row["gate_range"],
                xgboost_eval_metric=row["xgboost_eval_metric"],
                log_regex=row["log_regex"],
            )
            for row in csv.DictReader(f)
        ]


def metric_definitions(metrics: list[Metric]) -> list[dict]:
    """SageMaker's ``MetricDefinitions``: ``<split>:<metric>`` for every metric logged."""
    return [
        {"Name": f"{split}:{metric.name}", "Regex": metric.log_regex.replace("{split}", split)}
        for metric in metrics
        if metric.log_regex
        for split in SPLITS
    ]
