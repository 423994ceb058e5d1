import pytest

from {{ cookiecutter.package_name }}_pipeline.gate import EvaluationError, GateDecision, decide
from {{ cookiecutter.package_name }}_pipeline.metrics import read_metric_table

from tests.support import PROJECT_ROOT

METRICS = {
    metric.name: metric
    for metric in read_metric_table(PROJECT_ROOT / "{{ cookiecutter.package_name }}" / "metrics.csv")
}

BINARY = {"binary_classification_metrics": {"auc": {"value": 0.71, "standard_deviation": 0.01}}}
REGRESSION = {"regression_metrics": {"rmse": {"value": 12.5}, "r2": {"value": 0.8}}}


def test_gate_fails_a_higher_is_better_metric_below_its_threshold():
    decision = decide(BINARY, METRICS["auc"], 0.9)

    assert not decision.passed
    assert decision.message == "auc 0.71 is below the threshold 0.9"


def test_gate_passes_a_metric_at_exactly_its_threshold():
    assert decide(BINARY, METRICS["auc"], 0.71).passed


@pytest.mark.parametrize(("threshold", "passed"), [(15.0, True), (10.0, False)])
def test_gate_knows_lower_is_better_for_error_metrics(threshold, passed):
    decision = decide(REGRESSION, METRICS["rmse"], threshold)

    assert decision.passed is passed
    if not passed:
        assert decision.message == "rmse 12.5 is above the threshold 10"


def test_gate_names_the_metrics_evaluation_json_has_when_the_primary_one_is_missing():
    with pytest.raises(EvaluationError, match=r"no metric 'auc'.*\['r2', 'rmse'\]"):
        decide(REGRESSION, METRICS["auc"], 0.5)


@pytest.mark.parametrize("name", ["auc", "f1", "accuracy", "precision", "recall", "r2"])
def test_metric_table_says_higher_is_better_for_scores(name):
    assert METRICS[name].higher_is_better


@pytest.mark.parametrize("name", ["rmse", "mae", "mse", "logloss"])
def test_metric_table_says_lower_is_better_for_errors(name):
    assert not METRICS[name].higher_is_better


def test_gate_decision_goes_through_xcom_unchanged():
    decision = decide(REGRESSION, METRICS["rmse"], 10.0)

    assert GateDecision.from_xcom(decision.to_xcom()) == decision
    assert decision.to_xcom()["message"] == "rmse 12.5 is above the threshold 10"
