"""The evaluation gate: does the model reach the bar to be registered?

Reads SageMaker's model-quality ``evaluation.json`` and compares the primary metric with its
threshold in the metric's own direction, as the metric table gives it (higher is better for auc,
f1, accuracy, precision, recall and r2; lower for rmse, mae and mse).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from .config import PipelineConfig
from .hooks import s3_hook, split_s3_uri
from .metrics import Metric
from .runs import Run

METRIC_SECTIONS = ("binary_classification_metrics", "regression_metrics")


class EvaluationError(ValueError):
    """evaluation.json does not hold the metric the gate checks."""


@dataclass(frozen=True)
class GateDecision:
    metric: str
    value: float
    threshold: float
    higher_is_better: bool
    passed: bool

    @property
    def message(self) -> str:
        worse = "is below" if self.higher_is_better else "is above"
        relation = "reaches" if self.passed else worse
        return f"{self.metric} {self.value:.4g} {relation} the threshold {self.threshold:g}"

    def to_xcom(self) -> dict:
        return {**asdict(self), "message": self.message}

    @classmethod
    def from_xcom(cls, value: dict) -> GateDecision:
        return cls(**{name: value[name] for name in cls.__dataclass_fields__})


def metric_value(evaluation: dict, metric: str) -> float:
    for section in METRIC_SECTIONS:
        if metric in evaluation.get(section, {}):
            return float(evaluation[section][metric]["value"])
    found = [name for section in METRIC_SECTIONS for name in evaluation.get(section, {})]
    raise EvaluationError(f"evaluation.json has no metric {metric!r}; it has {sorted(found)}")


def decide(evaluation: dict, metric: Metric, threshold: float) -> GateDecision:
    value = metric_value(evaluation, metric.name)
    passed = value >= threshold if metric.higher_is_better else value <= threshold
    return GateDecision(
        metric=metric.name,
        value=value,
        threshold=threshold,
        higher_is_better=metric.higher_is_better,
        passed=passed,
    )


def check(config: PipelineConfig, run: Run) -> dict:
    """Fail the run at once, naming the metric and threshold, if the model is not good enough."""
    from airflow.sdk.exceptions import AirflowFailException

    bucket, key = split_s3_uri(f"{run.layout.evaluation}/evaluation.json")
    evaluation = json.loads(s3_hook(config).read_key(key, bucket))
    decision = decide(evaluation, config.primary_metric, run.metric_threshold)
    if not decision.passed:
        raise AirflowFailException(decision.message)
    return {**decision.to_xcom(), "evaluation": evaluation}
