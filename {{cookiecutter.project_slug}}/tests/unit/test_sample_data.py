import pandas as pd
import pytest

from {{ cookiecutter.package_name }} import sample_data


def write(path, *extra, rows=500, problem_type="binary_classification", target="churned"):
    sample_data.main(
        [
            "--rows", str(rows),
            "--problem-type", problem_type,
            "--target-column", target,
            "--output", str(path),
            *extra,
        ]
    )  # fmt: skip
    return path


def test_same_seed_gives_byte_identical_csv_and_another_seed_does_not(tmp_path):
    first = write(tmp_path / "a.csv", "--seed", "7").read_bytes()
    again = write(tmp_path / "b.csv", "--seed", "7").read_bytes()
    other = write(tmp_path / "c.csv", "--seed", "8").read_bytes()

    assert first == again
    assert first != other


def test_customer_table_has_the_documented_columns_values_and_ranges():
    table = sample_data.generate(20_000, "binary_classification", "churned", seed=0)

    assert list(table.columns) == [
        "tenure_months",
        "monthly_charges",
        "support_calls",
        "contract_type",
        "payment_method",
        "region",
        "gender",
        "churned",
    ]
    assert table["tenure_months"].between(0, 72).all()
    assert table["support_calls"].between(0, 10).all()
    assert set(table["contract_type"]) == set(sample_data.CONTRACT_TYPES)
    assert set(table["payment_method"]) == set(sample_data.PAYMENT_METHODS)
    assert set(table["region"]) == set(sample_data.REGIONS)
    assert set(table["gender"]) == {"female", "male"}
    assert set(table["churned"]) == {0, 1}
    assert 0.005 < table["monthly_charges"].isna().mean() < 0.015
    assert table.drop(columns="monthly_charges").notna().all().all()


def test_gender_moves_the_label_so_bias_checks_find_something():
    table = sample_data.generate(20_000, "binary_classification", "churned", seed=0)

    churn_rate = table.groupby("gender")["churned"].mean()

    assert churn_rate["male"] - churn_rate["female"] > 0.03


def test_regression_label_is_a_non_negative_number_named_by_the_caller():
    table = sample_data.generate(2_000, "regression", "lifetime_value", seed=0)

    assert pd.api.types.is_float_dtype(table["lifetime_value"])
    assert (table["lifetime_value"] >= 0).all()


def test_drift_shifts_numbers_and_category_mix():
    steady = sample_data.generate(20_000, "binary_classification", "churned", seed=0)
    drifted = sample_data.generate(20_000, "binary_classification", "churned", seed=0, drift=1.0)

    assert drifted["monthly_charges"].mean() > steady["monthly_charges"].mean() + 5
    assert drifted["tenure_months"].mean() < steady["tenure_months"].mean() - 5
    month_to_month = [t["contract_type"].eq("month-to-month").mean() for t in (steady, drifted)]
    assert month_to_month[1] > month_to_month[0] + 0.1


def test_large_tables_are_built_in_chunks_that_differ_from_each_other(monkeypatch, tmp_path):
    monkeypatch.setattr(sample_data, "CHUNK_ROWS", 100)

    table = pd.read_csv(write(tmp_path / "data.csv", rows=250))

    assert len(table) == 250
    first, second = table.iloc[:100].reset_index(drop=True), table.iloc[100:200]
    assert not first.equals(second.reset_index(drop=True))


@pytest.mark.parametrize(
    ("rows", "problem_type", "drift", "message"),
    [
        (0, "regression", 0.0, "rows"),
        (10, "multiclass", 0.0, "problem_type"),
        (10, "regression", 1.5, "drift"),
    ],
)
def test_generator_refuses_arguments_outside_its_range(rows, problem_type, drift, message):
    with pytest.raises(ValueError, match=message):
        sample_data.generate(rows, problem_type, "label", drift=drift)
