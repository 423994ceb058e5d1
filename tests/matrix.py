"""The bakes the template's tests make, derived from ``cookiecutter.json``.

The options that interact are crossed: the problem type decides the target, the metric and the
threshold, and the metrics of a problem type fall in families (the rows of the table of metrics
that share a direction and a range of thresholds: probabilities, errors, R²). One bake per
problem type and family, each with a metric of its family chosen in turn. The other options do
not interact: they take their values in turn across those bakes (``itertools.cycle``), so that
every value listed here is baked at least once. The first bake keeps every default.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[1]
OPTIONS = json.loads((TEMPLATE / "cookiecutter.json").read_text())

#: The options that interact, crossed by ``bakes``.
CROSSED = ("problem_type", "primary_metric", "metric_threshold")
#: Values the options that do not interact take in turn (None: the default answer).
CYCLED = {
    "project_name": [None, "Wine Quality", "Fraud Signals"],
    "project_slug": [None, None, "fraud-signals-v2"],
    "package_name": [None, None, "fraud_model"],
    "description": [None, "Predicts wine quality scores.", None],
    "owner_email": [None, "ml-platform@example.org", None],
    "target_column": [None, None, "is_fraud_score"],
    "artifact_bucket": [None, None, "fraud-signals-ml-artifacts"],
    "sagemaker_role_name": [None, "WineQualitySageMaker", None],
    "model_package_group_name": [None, None, "FraudSignals"],
    "aws_region": [None, "eu-west-1", "ap-southeast-2"],
    "dev_account_id": [None, "444455556666", None],
    "staging_account_id": [None, None, "777788889999"],
    "prod_account_id": [None, None, "999900001111"],
    "training_schedule": [None, "0 3 * * 1", "none"],
    "monitoring_schedule": [None, "@hourly", "none"],
}
#: A threshold each family of metrics can reach on the sample data, by the family's range.
THRESHOLDS = {"[0, 1]": "0.6", "(0, inf)": "900", "(-inf, 1]": "0.2"}


def metric_families() -> list[tuple[str, list[str], str]]:
    """``(problem type, metric names, threshold range)`` per family of gate metrics."""
    families: dict[tuple[str, str, str], list[str]] = {}
    for metric in OPTIONS["_metrics"]:
        if metric["gate_range"]:
            key = (metric["problem_type"], metric["direction"], metric["gate_range"])
            families.setdefault(key, []).append(metric["name"])
    return [(problem, names, span) for (problem, _, span), names in families.items()]


def bakes() -> dict[str, dict[str, str]]:
    """Name → answers (only those that differ from the defaults) of every bake."""
    cycles = {option: itertools.cycle(values) for option, values in CYCLED.items()}
    found = {}
    for index, (problem_type, metrics, span) in enumerate(metric_families()):
        answers = {"problem_type": problem_type}
        if index:  # the first bake keeps the default metric, threshold and everything else
            answers |= {"primary_metric": metrics[index % len(metrics)]}
            answers |= {"metric_threshold": THRESHOLDS[span]}
        for option, values in cycles.items():
            value = next(values)
            if value is not None:
                answers[option] = value
        if answers == {"problem_type": OPTIONS["problem_type"][0]}:
            answers = {}
        name = "-".join([problem_type.split("_")[0], answers.get("primary_metric", "default")])
        found[name] = answers
    return found


def problem_type(answers: dict[str, str]) -> str:
    return answers.get("problem_type", OPTIONS["problem_type"][0])
