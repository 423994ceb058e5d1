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


METRIC_DEFINITIONS = CONFIG["training"]["metric_definitions"]


def test_training_log_feeds_every_metric_definition_of_the_pipeline_config(pipeline_run):
    if pipeline_run.problem_type != CONFIG["data"]["problem_type"]:
        pytest.skip("pipeline.toml defines the metrics of the baked problem type only")
    info = json.loads((pipeline_run.model_dir / "model_info.json").read_text())

    for definition in METRIC_DEFINITIONS:
        found = re.findall(definition["Regex"], pipeline_run.training_log)
        assert found, f"{definition['Name']} never appears in the training log"
        if definition["Name"].startswith("best:"):
            name = definition["Name"].removeprefix("best:").replace(":", "-")
            assert float(found[-1]) == pytest.approx(info["best_scores"][name], abs=1e-6)


def test_metric_definitions_also_match_log_lines_as_cloudwatch_shows_tabs():
    per_round = [d for d in METRIC_DEFINITIONS if not d["Name"].startswith("best:")]
    line = "[12]" + "".join(
        f"#011{d['Name'].replace(':', '-')}:0.{index + 1}" for index, d in enumerate(per_round)
    )

    values = {d["Name"]: re.search(d["Regex"], line).group(1) for d in per_round}

    assert values == {d["Name"]: f"0.{index + 1}" for index, d in enumerate(per_round)}


def test_training_writes_its_learning_curve_to_the_output_data_directory(pipeline_run):
    history_file = pipeline_run.model_dir.parent / "output" / "data" / "training_history.json"

    history = json.loads(history_file.read_text())

    assert set(history) == {"train", "validation"}


def test_training_outside_the_sagemaker_contract_names_the_missing_variable(monkeypatch, capsys):
    monkeypatch.delenv("SM_MODEL_DIR", raising=False)

    with pytest.raises(SystemExit):
        train.main(["--problem_type", "regression", "--target_column", "lifetime_value"])

    assert "--model_dir" in capsys.readouterr().err


def test_every_hyperparameter_in_the_pipeline_config_is_one_train_py_accepts():
    """A typo in [training.hyperparameters] fails here, not in a training job after the checks."""
    configured = CONFIG["training"]["hyperparameters"]

    assert set(configured) <= set(train.HYPERPARAMETERS)
    for name, value in configured.items():
        kind = type(train.HYPERPARAMETERS[name])
        assert kind(value) == value, f"{name} = {value!r} does not parse as {kind.__name__}"
