"""`make expectations`: suites drafted from public tables nobody here wrote, then used.

scikit-learn ships two such tables offline: breast cancer (30 numeric columns, a 0/1 label) and
diabetes (10 columns, a numeric label). A draft must accept the table it was drafted from, in the
same job the pipeline runs, and preprocessing's output must pass the features suite.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes

from {{ cookiecutter.package_name }} import data_checks, preprocess

from tools.expectations import DraftError, draft_suites, table_warnings, write_suites


def breast_cancer() -> pd.DataFrame:
    return load_breast_cancer(as_frame=True).frame


def diabetes() -> pd.DataFrame:
    table = load_diabetes(as_frame=True, scaled=False).frame
    return table.assign(sex=table["sex"].map({1.0: "female", 2.0: "male"}))


def draft(table: pd.DataFrame, problem_type: str, sensitive=()) -> tuple[dict, dict]:
    return draft_suites(
        table,
        target="target",
        problem_type=problem_type,
        sensitive=list(sensitive),
        source="table.csv",
    )


def check(suite: dict, table: pd.DataFrame, folder) -> tuple[int, dict]:
    """Run the data checks job on ``table``; its exit status and GX's result."""
    (folder / "data").mkdir(parents=True)
    table.to_csv(folder / "data" / "table.csv", index=False)
    (folder / "suite.json").write_text(json.dumps(suite))
    status = data_checks.main(
        ["--suite", str(folder / "suite.json"), "--data-dir", str(folder / "data"),
         "--output-dir", str(folder / "report")]
    )  # fmt: skip
    return status, json.loads((folder / "report" / "validation_result.json").read_text())


def types(suite: dict) -> list[str]:
    return [expectation["type"] for expectation in suite["expectations"]]


def test_a_30_column_binary_table_drafts_a_raw_suite_that_accepts_it(tmp_path):
    table = breast_cancer()

    raw, _ = draft(table, "binary_classification")
    status, result = check(raw, table, tmp_path)

    assert status == 0, [r["expectation_config"] for r in result["results"] if not r["success"]]
    assert types(raw).count("expect_column_values_to_be_between") == 30
    label = [e for e in raw["expectations"] if e["kwargs"].get("column") == "target"]
    assert [e["type"] for e in label] == [
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_in_set",
    ]
    assert label[1]["kwargs"]["value_set"] == [0, 1]
    assert raw["meta"]["notes"].startswith("Drafted by `make expectations` from table.csv")


def test_a_regression_table_drafts_suites_its_raw_data_and_its_cleaned_split_pass(tmp_path):
    table = diabetes()
    raw, features = draft(table, "regression", sensitive=["sex"])
    preprocess.main(
        ["--input-dir", str(write(table, tmp_path / "raw")), "--output-dir", str(tmp_path / "out"),
         "--target-column", "target", "--problem-type", "regression",
         "--sensitive-columns", "sex"]
    )  # fmt: skip
    train_split = pd.read_csv(tmp_path / "out" / "train" / "train.csv")

    raw_status, _ = check(raw, table, tmp_path / "raw-check")
    features_status, _ = check(features, train_split, tmp_path / "features-check")

    assert (raw_status, features_status) == (0, 0)
    sex = [e for e in raw["expectations"] if e["kwargs"].get("column") == "sex"]
    assert sex[-1]["kwargs"]["value_set"] == ["female", "male"]
    assert "Sensitive attribute" in sex[-1]["meta"]["notes"]
    target_range = [e for e in raw["expectations"] if e["kwargs"].get("column") == "target"][-1]
    assert target_range["kwargs"]["min_value"] <= table["target"].min()
    assert target_range["kwargs"]["max_value"] >= table["target"].max()


def test_rows_without_a_label_fail_the_raw_check_only_above_the_set_share(tmp_path):
    table = breast_cancer()
    raw, _ = draft(table, "binary_classification")
    few, many = table.copy(), table.copy()
    few.loc[: len(table) * 3 // 100, "target"] = None  # 3%
    many.loc[: len(table) // 10, "target"] = None  # 10%

    few_status, _ = check(raw, few, tmp_path / "few")
    many_status, result = check(raw, many, tmp_path / "many")

    assert few_status == 0
    assert many_status == 1
    (failed,) = [r for r in result["results"] if not r["success"]]
    assert failed["expectation_config"]["type"] == "expect_column_values_to_not_be_null"
    assert failed["expectation_config"]["kwargs"]["column"] == "target"


def test_preprocessing_reports_and_drops_the_rows_without_a_label(tmp_path, capsys):
    table = breast_cancer()
    table.loc[:9, "target"] = None

    preprocess.main(
        ["--input-dir", str(write(table, tmp_path / "raw")), "--output-dir", str(tmp_path / "out"),
         "--target-column", "target", "--problem-type", "binary_classification"]
    )  # fmt: skip

    assert "dropped 10 rows without a label in 'target'" in capsys.readouterr().out
    splits = [pd.read_csv(path) for path in (tmp_path / "out").glob("*/*.csv")]
    assert sum(len(split) for split in splits) == len(table) - 10


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"target": "diagnosis"}, "target_column 'diagnosis' is not a column of the table"),
        ({"sensitive": ["gender"]}, "sensitive_columns names gender, which the table lacks"),
        ({"labels": [0, 2]}, "must hold 0 or 1 for binary_classification; found 2"),
    ],
)
def test_a_table_the_pipeline_could_not_train_on_is_refused_saying_what_to_change(change, message):
    table = breast_cancer()
    if "labels" in change:
        table["target"] = table["target"].replace(1, 2)

    with pytest.raises(DraftError, match=message):
        draft_suites(
            table,
            target=change.get("target", "target"),
            problem_type="binary_classification",
            sensitive=change.get("sensitive", []),
            source="table.csv",
        )


def test_drafting_again_keeps_the_suites_it_replaces(tmp_path):
    folder, previous = tmp_path / "expectations", tmp_path / "previous"
    folder.mkdir()
    (folder / "raw.json").write_text('{"name": "raw", "edited": "by hand"}')

    write_suites(draft(breast_cancer(), "binary_classification"), folder, previous)

    assert json.loads((previous / "raw.json").read_text())["edited"] == "by hand"
    assert json.loads((folder / "raw.json").read_text())["name"] == "raw"
    assert sorted(path.name for path in folder.iterdir()) == ["features.json", "raw.json"]


def write(table: pd.DataFrame, folder):
    folder.mkdir(parents=True)
    table.to_csv(folder / "table.csv", index=False)
    return folder


def test_a_table_the_drafted_raw_suite_would_refuse_is_warned_about():
    table = breast_cancer()
    table.loc[: len(table) // 10, "target"] = None

    found = table_warnings(table, "target", max_unlabelled=0.05)
    small = table_warnings(breast_cancer().head(60), "target", max_unlabelled=0.05)

    assert [warning.split(" of the rows")[0] for warning in found] == ["10.0%"]
    assert small == [
        "the table has 60 rows; the raw check wants at least 100 to train and evaluate a model, "
        "and will fail on it"
    ]
