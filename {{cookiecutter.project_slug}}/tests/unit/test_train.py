import json
import re

import pytest
import xgboost as xgb

from {{ cookiecutter.package_name }} import metrics, train

from tests.ml_runs import run_training
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


def definitions(problem_type: str) -> list[dict]:
    """Each log regex of the problem type's metrics in the metric table, for each split."""
    return [
        {"Name": f"{split}:{row['name']}", "Regex": row["log_regex"].replace("{split}", split)}
        for row in metrics.read_table()
        if row["problem_type"] == problem_type and row["log_regex"]
        for split in ("train", "validation")
    ]


def test_final_value_of_every_metric_definition_is_the_kept_models(pipeline_run):
    """SageMaker's FinalMetricDataList (each regex's last match) describes the model kept."""
    info = json.loads((pipeline_run.model_dir / "model_info.json").read_text())
    kept = {name.replace("-", ":"): value for name, value in info["best_scores"].items()}

    final = {}
    for definition in definitions(pipeline_run.problem_type):
        found = re.findall(definition["Regex"], pipeline_run.training_log)
        assert found, f"{definition['Name']} never appears in the training log"
        final[definition["Name"]] = float(found[-1])

    assert final == pytest.approx(kept, abs=1e-6)


def test_early_stopping_watches_a_metric_that_does_not_saturate(pipeline_run):
    """logloss (rmse) by default: AUC reaches 1.0 early on a small split and stops too soon."""
    info = json.loads((pipeline_run.model_dir / "model_info.json").read_text())
    history = json.loads(
        (pipeline_run.model_dir.parent / "output" / "data" / "training_history.json").read_text()
    )
    expected = {"binary_classification": "logloss", "regression": "rmse"}[pipeline_run.problem_type]
    watched = history["validation"][expected]

    assert info["early_stopping_metric"] == f"validation-{expected}"
    assert info["best_iteration"] == watched.index(min(watched))


def test_early_stopping_metric_can_be_set_as_a_hyperparameter(pipeline_run, tmp_path):
    chosen, best = {"binary_classification": ("auc", max), "regression": ("mae", min)}[
        pipeline_run.problem_type
    ]
    finished = run_training(
        pipeline_run.prepared,
        tmp_path,
        pipeline_run.problem_type,
        "--early_stopping_metric",
        chosen,
    )
    info = json.loads((tmp_path / "model" / "model_info.json").read_text())
    history = json.loads((tmp_path / "output" / "data" / "training_history.json").read_text())

    assert finished.returncode == 0, finished.stderr
    assert info["early_stopping_metric"] == f"validation-{chosen}"
    watched = history["validation"][chosen]
    assert info["best_iteration"] == watched.index(best(watched))


def test_an_early_stopping_metric_the_problem_type_does_not_log_is_refused(pipeline_run, tmp_path):
    finished = run_training(
        pipeline_run.prepared, tmp_path, pipeline_run.problem_type, "--early_stopping_metric", "r9"
    )

    assert finished.returncode == 2
    assert "--early_stopping_metric: early stopping metric 'r9' is not one XGBoost logs" in (
        finished.stderr
    )


@pytest.mark.parametrize("problem_type", ["binary_classification", "regression"])
def test_metric_definitions_also_match_log_lines_as_cloudwatch_shows_tabs(problem_type):
    per_round = definitions(problem_type)
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


def test_a_misspelt_hyperparameter_fails_instead_of_passing_for_another(pipeline_run, tmp_path):
    """argparse would take "--et" for "--eta": the toolkit passes pipeline.toml's names as is."""
    finished = run_training(
        pipeline_run.prepared, tmp_path, pipeline_run.problem_type, "--et", "0.3"
    )

    assert finished.returncode == 2
    assert "unrecognized arguments: --et 0.3" in finished.stderr
