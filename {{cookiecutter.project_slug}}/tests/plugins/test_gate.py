import pytest

from {{ cookiecutter.package_name }}_pipeline.gate import EvaluationError, decide

BINARY = {"binary_classification_metrics": {"auc": {"value": 0.71, "standard_deviation": 0.01}}}
REGRESSION = {"regression_metrics": {"rmse": {"value": 12.5}, "r2": {"value": 0.8}}}


def test_gate_fails_a_higher_is_better_metric_below_its_threshold():
    decision = decide(BINARY, "auc", 0.9)

    assert not decision.passed
    assert decision.message == "auc 0.71 is below the threshold 0.9"


def test_gate_passes_a_metric_at_exactly_its_threshold():
    assert decide(BINARY, "auc", 0.71).passed


@pytest.mark.parametrize(("threshold", "passed"), [(15.0, True), (10.0, False)])
def test_gate_knows_lower_is_better_for_error_metrics(threshold, passed):
    decision = decide(REGRESSION, "rmse", threshold)

    assert decision.passed is passed
    if not passed:
        assert decision.message == "rmse 12.5 is above the threshold 10"


def test_gate_names_the_metrics_evaluation_json_has_when_the_primary_one_is_missing():
    with pytest.raises(EvaluationError, match=r"no metric 'auc'.*\['r2', 'rmse'\]"):
        decide(REGRESSION, "auc", 0.5)
