"""The ML package's table of metrics (``<package>/metrics.csv``), as the Airflow side reads it.

The gate takes a metric's direction from it, and the training job's ``MetricDefinitions`` follow
from the problem type: ``pipeline.toml`` holds no regex, so switching the problem type switches
the metrics SageMaker reads from the training log.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

SPLITS = ("train", "validation")
COLUMNS = (
    "name",
    "problem_type",
    "direction",
    "gate_range",
    "xgboost_eval_metric",
    "early_stopping",
    "log_regex",
)
_INTERVAL = re.compile(r"(?P<open>[\[(])\s*(?P<low>[^,]+),\s*(?P<high>[^\])]+?)\s*(?P<close>[\])])")


class MetricTableError(ValueError):
    """metrics.csv says something that cannot be meant: a typo would silently change the gate."""


@dataclass(frozen=True)
class Interval:
    """A range of thresholds, such as ``[0, 1]``, ``(0, inf)`` or ``(-inf, 1]``."""

    text: str

    def _parts(self):
        match = _INTERVAL.fullmatch(self.text.strip())
        if not match:
            raise MetricTableError(f"{self.text!r} is not a range such as [0, 1] or (0, inf)")
        try:
            low, high = float(match["low"]), float(match["high"])
        except ValueError:
            raise MetricTableError(f"{self.text!r} does not bound a range with numbers") from None
        return low, high, match["open"] == "[", match["close"] == "]"

    def __contains__(self, value: float) -> bool:
        low, high, closed_low, closed_high = self._parts()
        above = value >= low if closed_low else value > low
        below = value <= high if closed_high else value < high
        return above and below

    def __str__(self) -> str:
        low, high, closed_low, closed_high = self._parts()
        if math.isinf(low):
            return f"{'at most' if closed_high else 'below'} {high:g}"
        if math.isinf(high):
            return f"{'at least' if closed_low else 'greater than'} {low:g}"
        return f"from {low:g} to {high:g}"


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

    @property
    def thresholds(self) -> Interval:
        return Interval(self.gate_range)


def read_metric_table(path: Path) -> list[Metric]:
    """Every metric of ``metrics.csv``, each row checked: a typo fails here, naming the line."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise MetricTableError(f"{path}: the columns must be {', '.join(COLUMNS)}")
        metrics, stopping = [], {}
        for line, row in enumerate(reader, start=2):
            try:
                metrics.append(_metric(row))
            except MetricTableError as error:
                raise MetricTableError(f"{path}, line {line}: {error}") from None
            if row["early_stopping"] == "yes":
                stopping.setdefault(row["problem_type"], []).append(row["name"])
    for problem_type in {metric.problem_type for metric in metrics}:
        if len(stopping.get(problem_type, [])) != 1:
            raise MetricTableError(
                f"{path}: exactly one metric of {problem_type} must say early_stopping yes; "
                f"found {stopping.get(problem_type, [])}"
            )
    return metrics


def _metric(row: dict[str, str]) -> Metric:
    if row["direction"] not in ("higher", "lower"):
        raise MetricTableError(f"direction {row['direction']!r} must be higher or lower")
    if row["early_stopping"] not in ("yes", "no"):
        raise MetricTableError(f"early_stopping {row['early_stopping']!r} must be yes or no")
    if row["early_stopping"] == "yes" and not row["xgboost_eval_metric"]:
        raise MetricTableError("early stopping needs an xgboost_eval_metric to watch")
    if row["gate_range"]:
        str(Interval(row["gate_range"]))  # parses it
    if bool(row["log_regex"]) != bool(row["xgboost_eval_metric"]):
        raise MetricTableError("a metric XGBoost logs needs a log_regex, and only such a metric")
    if row["log_regex"]:
        try:
            groups = re.compile(row["log_regex"].replace("{split}", "train")).groups
        except re.error as error:
            raise MetricTableError(f"log_regex does not compile: {error}") from None
        if "{split}" not in row["log_regex"] or groups != 1:
            raise MetricTableError("log_regex needs {split} and exactly one group, the value")
    return Metric(
        name=row["name"],
        problem_type=row["problem_type"],
        higher_is_better=row["direction"] == "higher",
        gate_range=row["gate_range"],
        xgboost_eval_metric=row["xgboost_eval_metric"],
        log_regex=row["log_regex"],
    )


def metric_definitions(metrics: list[Metric]) -> list[dict]:
    """SageMaker's ``MetricDefinitions``: ``<split>:<metric>`` for every metric logged."""
    return [
        {"Name": f"{split}:{metric.name}", "Regex": metric.log_regex.replace("{split}", split)}
        for metric in metrics
        if metric.log_regex
        for split in SPLITS
    ]
