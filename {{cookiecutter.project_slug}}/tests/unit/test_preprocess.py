import json

import pandas as pd
import pytest

from {{ cookiecutter.package_name }} import preprocess, sample_data

from tests.ml_runs import preprocess_args, write_csv


def sample(rows=2000, problem_type="binary_classification"):
    target = "churned" if problem_type == "binary_classification" else "lifetime_value"
    return sample_data.generate(rows, problem_type, target, seed=3)


def run(tmp_path, table, problem_type="binary_classification"):
    write_csv(table, tmp_path / "raw")
    preprocess.main(preprocess_args(tmp_path / "raw", tmp_path / "out", problem_type))
    return tmp_path / "out"


def in_row_order(table):
    return table.sort_values(list(table.columns)).reset_index(drop=True)


def read_split(out, name):
    return pd.read_csv(out / name / f"{name}.csv")


def test_preprocess_writes_the_splits_transform_and_baseline_where_the_jobs_read_them(tmp_path):
    out = run(tmp_path, sample())

    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "baseline/constraints.json",
        "baseline/statistics.json",
        "test/test.csv",
        "train/train.csv",
        "transform/feature_transform.json",
        "validation/validation.csv",
    ]


def test_splits_keep_every_row_once_in_the_requested_proportions(tmp_path):
    table = sample()
    out = run(tmp_path, table)

    sizes = {name: len(read_split(out, name)) for name in ("train", "validation", "test")}

    assert sizes == {"train": 1400, "validation": 300, "test": 300}
    together = pd.concat(read_split(out, name) for name in sizes)
    pd.testing.assert_frame_equal(in_row_order(together), in_row_order(table))


def test_splits_are_stratified_on_the_label(tmp_path):
    out = run(tmp_path, sample())

    rates = [read_split(out, name)["churned"].mean() for name in ("train", "validation", "test")]

    assert max(rates) - min(rates) < 0.01


def test_splits_keep_target_and_sensitive_columns_but_features_and_baseline_do_not(tmp_path):
    out = run(tmp_path, sample())

    assert {"churned", "gender"} <= set(read_split(out, "train").columns)
    transform = json.loads((out / "transform" / "feature_transform.json").read_text())
    statistics = json.loads((out / "baseline" / "statistics.json").read_text())
    features = [feature["name"] for feature in transform["features"]]
    assert features == [feature["name"] for feature in statistics["features"]]
    assert "churned" not in features
    assert "gender" not in features


def test_regression_splits_are_not_stratified_but_complete(tmp_path):
    out = run(tmp_path, sample(problem_type="regression"), "regression")

    assert sum(len(read_split(out, name)) for name in ("train", "validation", "test")) == 2000


def test_rows_without_target_and_exact_duplicates_are_dropped(tmp_path, capsys):
    table = sample(200)
    table.loc[:4, "churned"] = None
    out = run(tmp_path, pd.concat([table, table.iloc[10:13]]))

    kept = sum(len(read_split(out, name)) for name in ("train", "validation", "test"))

    assert kept == 195
    printed = capsys.readouterr().out
    assert "dropped 5 rows without a label in" in printed and "and 3 duplicates" in printed


def test_every_csv_under_the_input_directory_is_read(tmp_path):
    table = sample(400)
    write_csv(table.iloc[:150], tmp_path / "raw" / "2026" / "01")
    write_csv(table.iloc[150:], tmp_path / "raw" / "2026" / "02")

    preprocess.main(preprocess_args(tmp_path / "raw", tmp_path / "out", "binary_classification"))

    assert sum(len(read_split(tmp_path / "out", n)) for n in ("train", "validation", "test")) == 400


def test_preprocess_refuses_input_without_target_column(tmp_path):
    with pytest.raises(ValueError, match="target column 'churned' not found"):
        run(tmp_path, sample(100).drop(columns="churned"))


def test_preprocess_refuses_an_empty_input_directory(tmp_path):
    (tmp_path / "raw").mkdir()

    with pytest.raises(ValueError, match="no CSV files under"):
        preprocess.main(preprocess_args(tmp_path / "raw", tmp_path / "out", "regression"))


def test_preprocess_refuses_a_file_that_is_not_csv(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "data.csv").write_bytes(b"\xff\xfe\x00\x81 not text")

    with pytest.raises(ValueError, match="cannot read .*data.csv as CSV"):
        preprocess.main(preprocess_args(tmp_path / "raw", tmp_path / "out", "regression"))


def test_preprocess_refuses_a_table_without_rows(tmp_path):
    with pytest.raises(ValueError, match="no rows"):
        run(tmp_path, sample(10).iloc[:0])


def test_preprocess_names_the_column_holding_non_numeric_junk(tmp_path):
    table = sample(100).astype({"tenure_months": object})
    table.loc[7, "tenure_months"] = "twelve"

    with pytest.raises(ValueError, match="'tenure_months'.*'twelve'"):
        run(tmp_path, table)


@pytest.mark.parametrize("label", ["maybe", 2])
def test_preprocess_refuses_a_binary_target_other_than_0_and_1(tmp_path, label):
    table = sample(100).astype({"churned": object})
    table.loc[3, "churned"] = label

    with pytest.raises(ValueError, match=f"'churned'.*{label}"):
        run(tmp_path, table)


def test_preprocess_refuses_a_binary_target_with_one_class(tmp_path):
    with pytest.raises(ValueError, match="both 0 and 1"):
        run(tmp_path, sample(100).assign(churned=0))


def test_preprocess_refuses_a_missing_sensitive_column(tmp_path):
    with pytest.raises(ValueError, match="sensitive columns not found in the input: gender"):
        run(tmp_path, sample(100).drop(columns="gender"))
