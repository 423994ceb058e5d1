import json
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }} import baseline
from {{ cookiecutter.package_name }}.sample_data import generate

LABEL_TYPE = "{{ 'Integral' if cookiecutter.problem_type == 'binary_classification' else 'Fractional' }}"
NUMERIC_KEYS = {"common", "mean", "sum", "std_dev", "min", "max", "distribution"}
STRING_KEYS = {"common", "distinct_count", "distribution"}


@pytest.fixture
def table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "calls": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
            "charges": [20.5, np.nan, 35.0, 41.25, np.nan, 50.0, 61.5, 70.0, 80.75, 99.9],
            "balance": [-5.0, 0.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
            "contract": ["monthly", "yearly", None, "monthly", "monthly"]
            + ["yearly", "monthly", "two-year", np.nan, "monthly"],
        }
    )


def feature(statistics: dict, name: str) -> dict:
    return next(f for f in statistics["features"] if f["name"] == name)


def read_strict_json(path) -> dict:
    """Parse JSON as any reader would: NaN and Infinity are not JSON."""
    return json.loads(path.read_text(), parse_constant=lambda name: pytest.fail(f"{name} found"))


def test_statistics_document_has_model_monitors_top_level_shape(table):
    statistics = baseline.compute_statistics(table)

    assert set(statistics) == {"version", "dataset", "features"}
    assert statistics["version"] == 0
    assert statistics["dataset"] == {"item_count": 10}
    assert [f["name"] for f in statistics["features"]] == list(table.columns)


def test_numeric_feature_has_model_monitors_keys_types_and_values(table):
    charges = feature(baseline.compute_statistics(table), "charges")
    stats = charges["numerical_statistics"]
    present = table["charges"].dropna()

    assert set(charges) == {"name", "inferred_type", "numerical_statistics"}
    assert charges["inferred_type"] == "Fractional"
    assert set(stats) == NUMERIC_KEYS
    assert stats["common"] == {"num_present": 8, "num_missing": 2}
    assert all(type(stats["common"][key]) is int for key in ("num_present", "num_missing"))
    assert all(type(stats[key]) is float for key in ("mean", "sum", "std_dev", "min", "max"))
    assert stats["mean"] == pytest.approx(present.mean())
    assert stats["sum"] == pytest.approx(present.sum())
    assert stats["std_dev"] == pytest.approx(present.std(ddof=0))  # population, as Deequ
    assert (stats["min"], stats["max"]) == (20.5, 99.9)
    assert set(stats["distribution"]) == {"kll"}
    assert set(stats["distribution"]["kll"]) == {"buckets", "sketch"}


def test_integer_columns_are_integral_even_when_gaps_made_them_floats(table):
    statistics = baseline.compute_statistics(
        table.assign(calls_with_gap=table["calls"].where(table["calls"] != 3))
    )

    assert feature(statistics, "calls")["inferred_type"] == "Integral"
    assert feature(statistics, "calls_with_gap")["inferred_type"] == "Integral"
    assert feature(statistics, "balance")["inferred_type"] == "Fractional"


def test_kll_has_ten_equal_width_buckets_from_min_to_max_counting_every_value(table):
    buckets = feature(baseline.compute_statistics(table), "calls")["numerical_statistics"][
        "distribution"
    ]["kll"]["buckets"]

    assert len(buckets) == 10
    assert all(set(b) == {"lower_bound", "upper_bound", "count"} for b in buckets)
    assert all(type(b["count"]) is int for b in buckets)
    assert buckets[0]["lower_bound"] == 0.0 and buckets[-1]["upper_bound"] == 9.0
    assert all(a["upper_bound"] == b["lower_bound"] for a, b in pairwise(buckets))
    assert [b["count"] for b in buckets] == [1] * 10  # 0..9: the maximum falls in the last


def test_kll_bucket_counts_sum_to_num_present_with_missing_values(table):
    stats = feature(baseline.compute_statistics(table), "charges")["numerical_statistics"]

    counts = [b["count"] for b in stats["distribution"]["kll"]["buckets"]]
    assert len(counts) == 10
    assert sum(counts) == stats["common"]["num_present"] == 8


def test_constant_column_puts_all_values_in_the_last_bucket():
    stats = baseline.compute_statistics(pd.DataFrame({"x": [3, 3, 3]}))["features"][0]

    buckets = stats["numerical_statistics"]["distribution"]["kll"]["buckets"]
    assert [b["count"] for b in buckets] == [0] * 9 + [3]


def test_kll_sketch_weights_add_up_and_its_quantiles_track_the_data():
    values = np.random.default_rng(0).lognormal(3.0, 1.0, 20_000)
    stats = baseline.compute_statistics(pd.DataFrame({"x": values}))["features"][0]
    sketch = stats["numerical_statistics"]["distribution"]["kll"]["sketch"]

    assert sketch["parameters"] == {"c": 0.64, "k": 2048.0}
    levels = sketch["data"]
    assert sum(len(items) << level for level, items in enumerate(levels)) == len(values)
    assert max(len(items) for items in levels) <= baseline.KLL_K
    weighted = sorted((item, 1 << level) for level, items in enumerate(levels) for item in items)
    items, weights = np.array(weighted).T
    ranks = np.cumsum(weights) / len(values)
    for q in (0.1, 0.5, 0.9):
        estimate = items[np.searchsorted(ranks, q)]
        assert np.mean(values <= estimate) == pytest.approx(q, abs=0.01)


def test_small_column_sketch_holds_every_value():
    stats = baseline.compute_statistics(pd.DataFrame({"x": [5, 1, 3]}))["features"][0]

    assert stats["numerical_statistics"]["distribution"]["kll"]["sketch"]["data"] == [
        [1.0, 3.0, 5.0]
    ]


def test_string_feature_counts_values_missing_and_distinct(table):
    contract = feature(baseline.compute_statistics(table), "contract")
    stats = contract["string_statistics"]

    assert set(contract) == {"name", "inferred_type", "string_statistics"}
    assert contract["inferred_type"] == "String"
    assert set(stats) == STRING_KEYS
    assert stats["common"] == {"num_present": 8, "num_missing": 2}
    assert stats["distinct_count"] == 3
    assert type(stats["distinct_count"]) is float  # an approximate count in Model Monitor
    assert stats["distribution"]["categorical"]["buckets"] == [
        {"value": "monthly", "count": 5},
        {"value": "yearly", "count": 2},
        {"value": "two-year", "count": 1},
    ]


def test_column_without_values_is_unknown():
    stats = baseline.compute_statistics(pd.DataFrame({"x": [np.nan, np.nan]}))["features"][0]

    assert stats["inferred_type"] == "Unknown"
    assert stats["string_statistics"]["common"] == {"num_present": 0, "num_missing": 2}


def test_statistics_of_sample_data_type_every_column_as_model_monitor_would():
    sample = generate(500, "{{ cookiecutter.problem_type }}", "{{ cookiecutter.target_column }}")

    statistics = baseline.compute_statistics(sample)

    types = {f["name"]: f["inferred_type"] for f in statistics["features"]}

    assert types == {
        "tenure_months": "Integral",
        "monthly_charges": "Fractional",
        "support_calls": "Integral",
        "contract_type": "String",
        "payment_method": "String",
        "region": "String",
        "gender": "String",
        "{{ cookiecutter.target_column }}": LABEL_TYPE,
    }


def test_constraints_are_derived_from_statistics(table):
    constraints = baseline.suggest_constraints(baseline.compute_statistics(table))

    assert set(constraints) == {"version", "features", "monitoring_config"}
    assert constraints["version"] == 0
    by_name = {f["name"]: f for f in constraints["features"]}
    assert list(by_name) == list(table.columns)
    assert by_name["calls"] == {
        "name": "calls",
        "inferred_type": "Integral",
        "completeness": 1.0,
        "num_constraints": {"is_non_negative": True},
    }
    assert by_name["charges"]["completeness"] == pytest.approx(0.8)
    assert by_name["balance"]["num_constraints"] == {"is_non_negative": False}
    assert by_name["contract"] == {
        "name": "contract",
        "inferred_type": "String",
        "completeness": 0.8,
        "string_constraints": {"domains": ["monthly", "two-year", "yearly"]},
    }


def test_zero_minimum_counts_as_non_negative():
    statistics = baseline.compute_statistics(pd.DataFrame({"x": [0.0, 2.5]}))

    constraint = baseline.suggest_constraints(statistics)["features"][0]
    assert constraint["num_constraints"] == {"is_non_negative": True}


def test_no_domain_for_more_string_values_than_the_statistics_list():
    values = [f"customer-{i}" for i in range(baseline.MAX_CATEGORIES + 1)]
    statistics = baseline.compute_statistics(pd.DataFrame({"id": values}))

    stats = statistics["features"][0]["string_statistics"]
    assert stats["distinct_count"] == len(values)
    assert len(stats["distribution"]["categorical"]["buckets"]) == baseline.MAX_CATEGORIES
    assert "string_constraints" not in baseline.suggest_constraints(statistics)["features"][0]


def test_constraints_carry_model_monitors_settings_as_a_copy_of_their_own(table):
    config = baseline.suggest_constraints(baseline.compute_statistics(table))["monitoring_config"]

    assert config == baseline.MONITORING_CONFIG
    # Model Monitor's documented defaults: on, with 0.1 thresholds
    comparison = config["distribution_constraints"]
    assert {config["evaluate_constraints"], config["emit_metrics"]} == {"Enabled"}
    assert config["datatype_check_threshold"] == config["domain_content_threshold"] == 0.1
    assert comparison["comparison_threshold"] == comparison["categorical_comparison_threshold"]
    assert comparison["comparison_threshold"] == 0.1
    assert comparison["comparison_method"] in ("Simple", "Robust")
    assert comparison["categorical_drift_method"] in ("LInfinity", "ChiSquared")
    config["distribution_constraints"]["comparison_threshold"] = 0.5
    assert baseline.MONITORING_CONFIG["distribution_constraints"]["comparison_threshold"] == 0.1


def test_write_baseline_writes_both_files_as_strict_json(table, tmp_path):
    baseline.write_baseline(table, str(tmp_path / "baseline"))

    statistics = read_strict_json(tmp_path / "baseline" / "statistics.json")
    constraints = read_strict_json(tmp_path / "baseline" / "constraints.json")
    assert statistics == baseline.compute_statistics(table)
    assert constraints == baseline.suggest_constraints(statistics)
