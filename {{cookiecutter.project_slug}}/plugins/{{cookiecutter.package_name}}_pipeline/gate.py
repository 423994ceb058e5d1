"""The evaluation gate: does the model reach the bar to be registered?

Reads SageMaker's model-quality ``evaluation.json`` and compares the primary metric with its
threshold in the metric's own direction (higher is better for auc, f1, accuracy, precision,
recall and r2; lower for rmse, mae and mse).
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import HIGHER_IS_BETTER

METRIC_SECTIONS = ("binary_classification_metrics", "regression_metrics")


class EvaluationError(ValueError):
    """evaluation.json does not hold the metric the gate checks."""


@dataclass(frozen=True)
class GateDecision:
    metric: str
    value: float
    threshold: float
    passed: bool

    @property
    def message(self) -> str:
        if self.passed:
            relation = "reaches"
        else:
            relation = "is below" if HIGHER_IS_BETTER[self.metric] else "is above"
        return f"{self.metric} {self.value:.4g} {relation} the threshold {self.threshold:g}"


def metric_value(evaluation: dict, metric: str) -> float:
    for section in METRIC_SECTIONS:
        if metric in evaluation.get(section, {}):
            return float(evaluation[section][metric]["value"])
    found = [name for section in METRIC_SECTIONS for name in evaluation.get(section, {})]
    raise EvaluationError(f"evaluation.json has no metric {metric!r}; it has {sorted(found)}")


def decide(evaluation: dict, metric: str, threshold: float) -> GateDecision:
    value = metric_value(evaluation, metric)
    passed = value >= threshold if HIGHER_IS_BETTER[metric] else value <= threshold
    return GateDecision(metric=metric, value=value, threshold=threshold, passed=passed)
