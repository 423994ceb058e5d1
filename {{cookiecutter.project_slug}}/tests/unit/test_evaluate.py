import dataclasses
import json
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import r2_score, roc_auc_score

from {{ cookiecutter.package_name }} import evaluate, inference

from tests.ml_runs import write_csv

# Model Monitor's model-quality metrics, as SageMaker's documentation lists them.
BINARY_CLASSIFICATION_KEYS = {
    "confusion_matrix",
    "recall",
    "precision",
    "accuracy",
    "recall_best_constant_classifier",
    "precision_best_constant_classifier",
    "accuracy_best_constant_classifier",
    "true_positive_rate",
    "true_negative_rate",
    "false_positive_rate",
    "false_negative_rate",
    "receiver_operating_characteristic_curve",
    "precision_recall_curve",
    "auc",
    "f0_5",
    "f1",
    "f2",
    "f0_5_best_constant_classifier",
    "f1_best_constant_classifier",
    "f2_best_constant_classifier",
}
REGRESSION_KEYS = {"mae", "mse", "rmse", "r2"}


def run_evaluation(pipeline_run, out, test_dir=None, problem_type=None):
    evaluate.main(
        [
            "--model-dir", str(pipeline_run.model_archive_dir),
            "--test-dir", str(test_dir or pipeline_run.prepared / "test"),
            "--output-dir", str(out),
            "--target-column", pipeline_run.target_column,
            "--problem-type", problem_type or pipeline_run.problem_type,
        ]
    )  # fmt: skip
    return json.loads((out / "evaluation.json").read_text())


def test_evaluation_json_has_exactly_sagemakers_model_quality_shape(pipeline_run, tmp_path):
    report = run_evaluation(pipeline_run, tmp_path)

    [(section, metrics)] = report.items()
    assert section == f"{pipeline_run.problem_type}_metrics"
    expected = BINARY_CLASSIFICATION_KEYS if section.startswith("binary") else REGRESSION_KEYS
    assert set(metrics) == expected
    for name, metric in metrics.items():
        if name in {"confusion_matrix", "receiver_operating_characteristic_curve"}:
            continue
        if name == "precision_recall_curve":
            assert set(metric) == {"precisions", "recalls"}
            continue
        assert set(metric) == {"value", "standard_deviation"}
        assert isinstance(metric["standard_deviation"], float), name


def test_model_reaches_a_sensible_quality_on_the_sample_data(pipeline_run, tmp_path):
    [metrics] = run_evaluation(pipeline_run, tmp_path).values()

    if pipeline_run.problem_type == "binary_classification":
        assert metrics["auc"]["value"] > 0.78
    else:
        assert metrics["r2"]["value"] > 0.7


def test_standard_deviation_is_nan_below_200_test_rows(pipeline_run, tmp_path):
    test = pd.read_csv(pipeline_run.prepared / "test" / "test.csv")
    small = write_csv(test.iloc[:199], tmp_path / "small-test")

    [metrics] = run_evaluation(pipeline_run, tmp_path / "out", test_dir=small).values()

    spreads = {m["standard_deviation"] for m in metrics.values() if "standard_deviation" in m}
    assert spreads == {"NaN"}


def test_evaluation_scores_what_the_endpoint_answers(pipeline_run, tmp_path):
    [metrics] = run_evaluation(pipeline_run, tmp_path).values()
    test = pd.read_csv(pipeline_run.prepared / "test" / "test.csv")
    model = inference.model_fn(str(pipeline_run.model_dir))
    body = test[model.transform.raw_columns].to_csv(header=False, index=False)

    answer = inference.output_fn(
        inference.predict_fn(inference.input_fn(body, "text/csv"), model), "text/csv"
    )

    predictions = np.array(answer.split(), dtype=float)
    actual = test[pipeline_run.target_column]
    if pipeline_run.problem_type == "binary_classification":
        assert roc_auc_score(actual, predictions) == pytest.approx(metrics["auc"]["value"])
    else:
        assert r2_score(actual, predictions) == pytest.approx(metrics["r2"]["value"], abs=1e-6)


def test_evaluation_html_report_needs_no_network(pipeline_run, tmp_path):
    run_evaluation(pipeline_run, tmp_path)

    page = (tmp_path / "evaluation.html").read_text()

    assert "<svg" in page and "<style>" in page
    assert not re.search(r"<script|<link|src=|@import|url\(", page)
    assert re.findall(r"https?://[^\"' ]+", page) == ["http://www.w3.org/2000/svg"]


def test_evaluate_refuses_a_model_trained_for_the_other_problem_type(pipeline_run, tmp_path):
    other = {"binary_classification": "regression", "regression": "binary_classification"}

    with pytest.raises(ValueError, match=f"trained for {pipeline_run.problem_type}"):
        run_evaluation(pipeline_run, tmp_path, problem_type=other[pipeline_run.problem_type])


def test_evaluate_refuses_a_model_directory_without_model_archive(pipeline_run, tmp_path):
    empty = tmp_path / "model"
    empty.mkdir()
    without_archive = dataclasses.replace(pipeline_run, model_archive_dir=empty)

    with pytest.raises(ValueError, match="no model.tar.gz"):
        run_evaluation(without_archive, tmp_path / "out")


def test_binary_metrics_reproduce_sagemakers_documented_example():
    # Four customers, one churner, who gets the highest score: the example in SageMaker's
    # "Model quality metrics" documentation.
    labels, scores = np.array([0, 0, 0, 1]), np.array([0.2, 0.6, 0.7, 0.9])

    metrics = evaluate.binary_classification_metrics(labels, scores)

    assert metrics["confusion_matrix"] == {"0": {"0": 1, "1": 2}, "1": {"0": 0, "1": 1}}
    expected = {
        "recall": 1.0,
        "precision": 1 / 3,
        "accuracy": 0.5,
        "recall_best_constant_classifier": 1.0,
        "precision_best_constant_classifier": 0.25,
        "accuracy_best_constant_classifier": 0.25,
        "true_positive_rate": 1.0,
        "true_negative_rate": 1 / 3,
        "false_positive_rate": 2 / 3,
        "false_negative_rate": 0.0,
        "auc": 1.0,
        "f0_5": 0.3846153846153846,
        "f1": 0.5,
        "f2": 0.7142857142857143,
        "f0_5_best_constant_classifier": 0.29411764705882354,
        "f1_best_constant_classifier": 0.4,
        "f2_best_constant_classifier": 0.625,
    }
    assert {name: metrics[name]["value"] for name in expected} == pytest.approx(expected)
