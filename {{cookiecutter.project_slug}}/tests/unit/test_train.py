import json
import re

import pytest
import xgboost as xgb

from {{ cookiecutter.package_name }} import train
from tests.support import CONFIG


def test_training_saves_model_transform_and_info_into_the_model_directory(pipeline_run):
    files = sorted(path.name for path in pipeline_run.model_dir.iterdir())

    assert files == ["feature_transform.json", "model_info.json", "xgboost-model.json"]
    info = json.loads((pipeline_run.model_dir / "model_info.json").read_text())
    assert info["problem_type"] == pipeline_run.problem_type
    assert info["target_column"] == pipeline_run.target_column
    assert not {"churned", "lifetime_value", "gender"} & set(info["feature_names"])
    booster = xgb.Booster(model_file=pipeline_run.model_dir / "xgboost-model.json")
    assert booster.feature_names == info["feature_names"]
    assert booster.num_boosted_rounds() == info["best_iteration"] + 1


def test_training_log_feeds_every_metric_definition(pipeline_run):
    definitions = train.METRIC_DEFINITIONS[pipeline_run.problem_type]
    info = json.loads((pipeline_run.model_dir / "model_info.json").read_text())

    for definition in definitions:
        found = re.findall(definition["Regex"], pipeline_run.training_log)
        assert found, f"{definition['Name']} never appears in the training log"
        if definition["Name"].startswith("best:"):
            name = definition["Name"].removeprefix("best:").replace(":", "-")
            assert float(found[-1]) == pytest.approx(info["best_scores"][name], abs=1e-6)


def test_metric_definitions_also_match_log_lines_as_cloudwatch_shows_tabs():
    line = (
        "[12]#011train-logloss:0.41#011train-auc:0.91"
        "#011validation-logloss:0.45#011validation-auc:0.88"
    )

    values = {
        d["Name"]: re.search(d["Regex"], line).group(1)
        for d in train.METRIC_DEFINITIONS["binary_classification"]
        if not d["Name"].startswith("best:")
    }

    assert values == {
        "train:logloss": "0.41",
        "train:auc": "0.91",
        "validation:logloss": "0.45",
        "validation:auc": "0.88",
    }


def test_pipeline_config_asks_sagemaker_only_for_metrics_the_training_log_prints():
    configured = CONFIG["training"]["metric_definitions"]

    assert configured
    for definition in configured:
        assert definition in train.METRIC_DEFINITIONS[CONFIG["data"]["problem_type"]]


def test_training_writes_its_learning_curve_to_the_output_data_directory(pipeline_run):
    history_file = pipeline_run.model_dir.parent / "output" / "data" / "training_history.json"

    history = json.loads(history_file.read_text())

    assert set(history) == {"train", "validation"}


def test_training_outside_the_sagemaker_contract_names_the_missing_variable(monkeypatch, capsys):
    monkeypatch.delenv("SM_MODEL_DIR", raising=False)

    with pytest.raises(SystemExit):
        train.main(["--problem_type", "regression", "--target_column", "lifetime_value"])

    assert "--model_dir" in capsys.readouterr().err
