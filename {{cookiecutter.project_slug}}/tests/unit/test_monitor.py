"""The data-quality monitor: Model Monitor's checks and distances on small tables and capture."""

from __future__ import annotations

import base64
import html
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }} import monitor
from {{ cookiecutter.package_name }}.baseline import compute_statistics, merge_statistics, suggest_constraints

START = datetime(2026, 12, 5, 10, tzinfo=UTC)


def baseline(table: pd.DataFrame, **distribution) -> tuple[dict, dict]:
    statistics = compute_statistics(table)
    constraints = suggest_constraints(statistics)
    constraints["monitoring_config"]["distribution_constraints"].update(distribution)
    return statistics, constraints


def feature(statistics: dict, name: str) -> dict:
    return next(f for f in statistics["features"] if f["name"] == name)


def test_the_distances_are_the_ones_computed_by_hand():
    statistics, _ = baseline(pd.DataFrame({"x": range(1, 11), "c": ["a"] * 6 + ["b"] * 4}))
    # baseline 1..10, current 6..15: the cumulative distributions differ most (0.5) from 5 to 10
    assert monitor.linf_numeric(feature(statistics, "x"), np.arange(6.0, 16.0)) == 0.5
    # identical data: no distance
    assert monitor.linf_numeric(feature(statistics, "x"), np.arange(1.0, 11.0)) == 0.0
    # a 0.6 / b 0.4 against a 0.2 / b 0.6 / c 0.2: the gaps are 0.4, 0.2 and 0.2
    current = pd.Series(["a"] * 2 + ["b"] * 6 + ["c"] * 2)
    assert monitor.linf_categorical(feature(statistics, "c"), current) == pytest.approx(0.4)
    # the robust form subtracts 1.8·√((n+m)/(n·m)): 0.5 − 1.8·√(2000/1000000)
    assert monitor.robust(0.5, 1000, 1000) == pytest.approx(0.5 - 1.8 * math.sqrt(0.002))
    assert monitor.robust(0.5, 10, 10) == 0.0


@pytest.mark.parametrize(
    ("train", "current"),
    [
        ([0.0] * 70 + [1.0] * 30, [0.0] * 40 + [-1.0] * 30 + [1.0] * 30),  # below the minimum
        ([0.0] * 50 + [5.0] * 50, [2.0] * 50 + [5.0] * 50),  # between two items
        ([1.0, 2.0, 3.0], [3.5, 4.0, 9.0]),  # above the maximum
        (list(range(10)), [4.5] * 10),  # ties
    ],
)
def test_the_numeric_distance_is_the_exact_one_wherever_the_gap_is(train, current):
    statistics, _ = baseline(pd.DataFrame({"x": train}))

    found = monitor.linf_numeric(feature(statistics, "x"), np.array(current))

    assert found == pytest.approx(_ks(np.array(train, dtype=float), np.array(current)))


def test_a_large_baseline_is_read_through_its_sketch_close_to_the_exact_distance():
    rng = np.random.default_rng(0)
    train = rng.normal(0, 1, 200_000)
    statistics, _ = baseline(pd.DataFrame({"x": train}))
    current = rng.normal(0.3, 1, 50_000)
    exact = _ks(train, current)

    assert monitor.linf_numeric(feature(statistics, "x"), current) == pytest.approx(exact, abs=2e-3)


def _ks(a: np.ndarray, b: np.ndarray) -> float:
    points = np.sort(np.concatenate([a, b]))
    fa = np.searchsorted(np.sort(a), points, side="right") / len(a)
    fb = np.searchsorted(np.sort(b), points, side="right") / len(b)
    return float(np.max(np.abs(fa - fb)))


def test_each_check_flags_what_model_monitor_flags():
    rng = np.random.default_rng(1)
    train = pd.DataFrame(
        {
            "age": rng.integers(20, 70, 2000),
            "spend": rng.normal(50, 10, 2000),
            "plan": rng.choice(["basic", "plus"], 2000),
        }
    )
    statistics, constraints = baseline(train, comparison_method="Simple")
    current = pd.DataFrame(
        {
            "age": rng.integers(20, 70, 500).astype(float),
            "spend": rng.normal(80, 10, 500),  # shifted: drifts
            "plan": rng.choice(["basic", "plus", "gold"], 500, p=[0.4, 0.3, 0.3]),
            "coupon": ["x"] * 500,
        }
    )
    current.loc[:99, "age"] = np.nan  # 80 % complete

    violations, distances = monitor.check(current, statistics, constraints)

    found = {(v["feature_name"], v["constraint_check_type"]) for v in violations}
    assert found == {
        ("coupon", "extra_column_check"),
        ("age", "completeness_check"),
        ("spend", "baseline_drift_check"),
        ("plan", "categorical_values_check"),
        ("plan", "baseline_drift_check"),
    }
    drift = next(v for v in violations if v["feature_name"] == "spend")
    assert (
        f"{distances['spend']:.6g}" in drift["description"]
        and "threshold: 0.1" in drift["description"]
    )
    assert distances["age"] < 0.1

    without_age = current.drop(columns=["age"])
    without_age["age"] = "n/a"  # a number column that holds words
    violations, _ = monitor.check(without_age, statistics, constraints)
    assert ("age", "data_type_check") in {
        (v["feature_name"], v["constraint_check_type"]) for v in violations
    }
    violations, _ = monitor.check(current.drop(columns=["spend"]), statistics, constraints)
    assert ("spend", "missing_column_check") in {
        (v["feature_name"], v["constraint_check_type"]) for v in violations
    }


def test_a_features_override_and_the_robust_method_move_its_threshold():
    train = pd.DataFrame({"x": np.linspace(0, 1, 1000)})
    statistics, constraints = baseline(train, comparison_method="linf_simple")
    current = pd.DataFrame({"x": np.linspace(0.2, 1.2, 1000)})  # L∞ 0.2

    assert [
        v["constraint_check_type"] for v in monitor.check(current, statistics, constraints)[0]
    ] == ["baseline_drift_check"]
    constraints["features"][0]["monitoringConfigOverrides"] = {"comparison_threshold": 0.3}
    assert monitor.check(current, statistics, constraints)[0] == []
    constraints["features"][0]["monitoringConfigOverrides"] = {"comparison_method": "Robust"}
    _, distances = monitor.check(current, statistics, constraints)
    assert distances["x"] == pytest.approx(max(0, 0.2 - 1.8 * math.sqrt(2000 / 1000**2)), abs=2e-3)


def capture(path: Path, records: list[tuple[datetime, str, str, str]]) -> None:
    """Capture lines as SageMaker writes them: (time, content type, encoding, data)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as lines:
        for moment, content_type, encoding, data in records:
            line = {
                "captureData": {
                    "endpointInput": {
                        "observedContentType": content_type,
                        "mode": "INPUT",
                        "data": data,
                        "encoding": encoding,
                    },
                    "endpointOutput": {
                        "observedContentType": "text/csv",
                        "mode": "OUTPUT",
                        "data": "0.5",
                        "encoding": "CSV",
                    },
                },
                "eventMetadata": {
                    "eventId": "e",
                    "inferenceTime": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                },
                "eventVersion": "0",
            }
            lines.write(json.dumps(line) + "\n")


def test_capture_in_csv_json_and_base64_is_read_for_its_interval_only(tmp_path):
    inside, outside = START + timedelta(minutes=5), START + timedelta(hours=1, minutes=5)
    json_body = json.dumps({"instances": [{"x": 3, "c": "b", "gender": "female"}]})
    capture(
        tmp_path / "ep" / "AllTraffic" / "2026" / "12" / "05" / "10" / "a.jsonl",
        [
            (inside, "text/csv", "CSV", "1,a\n2,b"),
            (inside, "application/json", "JSON", json_body),
            (inside, "text/csv", "BASE64", base64.b64encode(b"4,a").decode()),
            (outside, "text/csv", "CSV", "99,z"),
        ],
    )

    table = monitor.read_capture(tmp_path, START, START + timedelta(hours=1), ["x", "c"])

    assert sorted(str(value) for value in table["x"]) == ["1", "2", "3", "4"]  # as sent
    assert sorted(table["c"].tolist()) == ["a", "a", "b", "b"]
    assert table["gender"].dropna().tolist() == ["female"]
    statistics, _ = baseline(pd.DataFrame({"x": [1, 2], "c": ["a", "b"]}))
    assert sorted(monitor.typed(table, statistics)["x"].tolist()) == [1, 2, 3, 4]


def test_csv_rows_wider_or_narrower_than_the_baseline_are_extra_or_missing_columns(tmp_path):
    hour = tmp_path / "ep" / "AllTraffic" / "2026" / "12" / "05" / "10" / "a.jsonl"
    inside = START + timedelta(minutes=1)
    capture(hour, [(inside, "text/csv", "CSV", "1,a,extra\n2,b,more")])
    wide = monitor.read_capture(tmp_path, START, START + timedelta(hours=1), ["x", "c"])
    capture(hour, [(inside, "text/csv", "CSV", "3")])  # now rows of two widths
    ragged = monitor.read_capture(tmp_path, START, START + timedelta(hours=1), ["x", "c"])

    assert list(wide.columns) == ["x", "c", "_c2"] and wide["x"].tolist() == ["1", "2"]
    assert sorted(str(v) for v in ragged["x"]) == ["1", "2", "3"]
    statistics, constraints = baseline(pd.DataFrame({"x": [1, 2, 3], "c": ["a", "b", "a"]}))
    narrow = pd.DataFrame({"x": ["1", "2"]})
    found = {v["constraint_check_type"] for v in monitor.check(narrow, statistics, constraints)[0]}
    assert "missing_column_check" in found
    found = {v["feature_name"] for v in monitor.check(wide, statistics, constraints)[0]}
    assert "_c2" in found


def test_codes_that_look_like_numbers_stay_categories_and_bad_records_are_counted(tmp_path):
    statistics, constraints = baseline(pd.DataFrame({"plan": ["1", "2", "1", "2"]}))
    hour = tmp_path / "ep" / "AllTraffic" / "2026" / "12" / "05" / "10" / "a.jsonl"
    inside = START + timedelta(minutes=1)
    capture(
        hour,
        [
            (inside, "application/json", "JSON", json.dumps([{"plan": 1}, {"plan": None}])),
            (inside, "application/json", "JSON", json.dumps({"plan": 2})),  # one object
            (inside, "application/json", "JSON", "{not json"),
        ],
    )

    sent = monitor.read_capture(tmp_path, START, START + timedelta(hours=1), ["plan"])

    assert sent.attrs["unreadable"] == 1
    assert monitor.typed(sent, statistics)["plan"].dropna().tolist() == ["1", "2"]
    violations, _ = monitor.check(sent, statistics, constraints)
    assert "categorical_values_check" not in {v["constraint_check_type"] for v in violations}


def test_completeness_allows_what_chance_takes_from_a_window():
    train = pd.DataFrame({"x": [np.nan] * 10 + list(range(990))})  # 99 % complete
    statistics, constraints = baseline(train)
    usual = pd.DataFrame({"x": [np.nan] * 3 + list(range(197))})  # 98.5 % of 200
    worse = pd.DataFrame({"x": [np.nan] * 20 + list(range(180))})  # 90 %

    def completeness(table: pd.DataFrame) -> list[str]:
        violations = monitor.check(table, statistics, constraints)[0]
        return [
            v["description"]
            for v in violations
            if v["constraint_check_type"] == "completeness_check"
        ]

    assert completeness(usual) == []
    (worse_one,) = completeness(worse)
    assert "0.9 is below the baseline's 0.99 by more than chance in 200 rows" in worse_one


def job_environment(tmp_path: Path, statistics: dict, constraints: dict) -> dict[str, str]:
    (tmp_path / "baseline").mkdir(exist_ok=True)
    (tmp_path / "baseline" / "statistics.json").write_text(json.dumps(statistics))
    (tmp_path / "baseline" / "constraints.json").write_text(json.dumps(constraints))
    return {
        "dataset_format": json.dumps(
            {"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput", "endpointOutput"]}}
        ),
        "dataset_source": str(tmp_path / "endpointdata"),
        "output_path": str(tmp_path / "result"),
        "start_time": START.isoformat(),
        "end_time": (START + timedelta(hours=1)).isoformat(),
        "baseline_statistics": str(tmp_path / "baseline" / "statistics.json"),
        "baseline_constraints": str(tmp_path / "baseline" / "constraints.json"),
        "sagemaker_endpoint_name": "ep",
        "sagemaker_monitoring_schedule_name": "hourly",
    }


def test_an_interval_without_capture_is_reported_and_checks_nothing(tmp_path):
    statistics, constraints = baseline(pd.DataFrame({"x": range(10)}))
    environment = job_environment(tmp_path, statistics, constraints)

    found = monitor.run(environment, tmp_path / "metrics")

    assert found["records"] == 0 and "no captured data" in found["message"]
    written = json.loads((tmp_path / "result" / "statistics.json").read_text())
    assert written["dataset"]["item_count"] == 0
    assert json.loads((tmp_path / "result" / "constraint_violations.json").read_text()) == {
        "violations": []
    }


def test_a_job_writes_statistics_violations_and_metrics(tmp_path):
    statistics, constraints = baseline(pd.DataFrame({"x": np.linspace(0, 1, 500)}))
    environment = job_environment(tmp_path, statistics, constraints)
    rows = "\n".join(f"{value:.4f}" for value in np.linspace(0.5, 1.5, 300))
    capture(
        tmp_path / "endpointdata" / "ep" / "AllTraffic" / "2026" / "12" / "05" / "10" / "a.jsonl",
        [(START + timedelta(minutes=1), "text/csv", "CSV", rows)],
    )

    found = monitor.run(environment, tmp_path / "metrics")

    assert found["records"] == 300
    assert [v["constraint_check_type"] for v in found["violations"]] == ["baseline_drift_check"]
    written = json.loads((tmp_path / "result" / "statistics.json").read_text())
    assert written["dataset"]["item_count"] == 300
    assert [f["name"] for f in written["features"]] == ["x"]
    lines = (tmp_path / "metrics" / "data-quality.json").read_text().splitlines()
    assert {json.loads(line)["MetricName"] for line in lines} == {
        "feature_data_x",
        "feature_non_null_x",
        "feature_baseline_drift_x",
    }
    metrics = json.loads((tmp_path / "result" / monitor.METRICS_FILE).read_text())
    assert metrics["Namespace"] == monitor.DEFAULT_NAMESPACE
    names = {datum["MetricName"] for datum in metrics["MetricData"]}
    assert names == {"feature_data_x", "feature_non_null_x", "feature_baseline_drift_x"}
    drift = next(d for d in metrics["MetricData"] if d["MetricName"] == "feature_baseline_drift_x")
    assert drift["Value"] == pytest.approx(found["distances"]["x"])
    assert drift["Dimensions"] == [
        {"Name": "Endpoint", "Value": "ep"},
        {"Name": "MonitoringSchedule", "Value": "hourly"},
    ]


def test_inputs_the_interface_does_not_describe_are_refused_naming_them(tmp_path):
    statistics, constraints = baseline(pd.DataFrame({"x": range(10)}))
    environment = job_environment(tmp_path, statistics, constraints)
    with pytest.raises(monitor.MonitoringError, match="start_time"):
        monitor.run({k: v for k, v in environment.items() if k != "start_time"})
    with pytest.raises(monitor.MonitoringError, match="not sagemakerCaptureJson"):
        monitor.run({**environment, "dataset_format": json.dumps({"csv": {"header": True}})})
    constraints["monitoring_config"]["distribution_constraints"]["comparison_method"] = "Fancy"
    with pytest.raises(monitor.MonitoringError, match="comparison_method 'Fancy'"):
        monitor.check(pd.DataFrame({"x": [1.0]}), statistics, constraints)


def labelled_capture(path: Path, records: list[dict]) -> None:
    """Capture lines of JSON requests with their answers: {x, score, inferenceId?, eventId}."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for record in records:
        metadata = {"eventId": record["eventId"], "inferenceTime": "2026-12-05T10:01:00.000Z"}
        if "inferenceId" in record:
            metadata["inferenceId"] = record["inferenceId"]
        lines.append(
            json.dumps(
                {
                    "captureData": {
                        "endpointInput": {
                            "observedContentType": "application/json",
                            "mode": "INPUT",
                            "data": json.dumps({"instances": record["rows"]}),
                            "encoding": "JSON",
                        },
                        "endpointOutput": {
                            "observedContentType": "application/json",
                            "mode": "OUTPUT",
                            "data": json.dumps({"predictions": record["scores"]}),
                            "encoding": "JSON",
                        },
                    },
                    "eventMetadata": metadata,
                    "eventVersion": "0",
                }
            )
        )
    path.write_text("\n".join(lines) + "\n")


def ground_truth(path: Path, labels: dict[str, str], encoding: str = "CSV") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(
            json.dumps(
                {
                    "groundTruthData": {"data": data, "encoding": encoding},
                    "eventMetadata": {"eventId": key},
                    "eventVersion": "0",
                }
            )
            + "\n"
            for key, data in labels.items()
        )
    )


def test_model_quality_merges_ground_truth_on_inference_id_else_event_id(tmp_path):
    statistics, constraints = baseline(pd.DataFrame({"x": np.linspace(0, 1, 200)}))
    environment = job_environment(tmp_path, statistics, constraints)
    (tmp_path / "quality.json").write_text(
        json.dumps(
            {
                "version": 0.0,
                "binary_classification_constraints": {
                    "accuracy": {"threshold": 0.9, "comparison_operator": "LessThanThreshold"}
                },
            }
        )
    )
    environment |= {
        "ground_truth_source": str(tmp_path / "groundtruth"),
        "problem_type": "binary_classification",
        "target_column": "label",
        "model_quality_constraints": str(tmp_path / "quality.json"),
        "sensitive_columns": json.dumps(["group"]),
    }
    records = [
        # one request of two rows, keyed by its InferenceId: labels come as a CSV pair
        {"inferenceId": "i-1", "eventId": "e-1", "scores": [0.2, 0.8],
         "rows": [{"x": 0.1, "group": "a"}, {"x": 0.9, "group": "b"}]},
        # no InferenceId: its eventId is the key; the label comes JSON-encoded
        {"eventId": "e-2", "rows": [{"x": 0.2, "group": "a"}], "scores": [0.7]},
        {"eventId": "e-3", "rows": [{"x": 0.3, "group": "b"}], "scores": [0.1]},
        {"eventId": "e-4", "rows": [{"x": 0.4, "group": "a"}], "scores": [0.9]},  # no label yet
    ]  # fmt: skip
    labelled_capture(tmp_path / "endpointdata" / "ep" / "v" / "2026/12/05/10" / "a.jsonl", records)
    ground_truth(tmp_path / "groundtruth" / "2026/12/05/10" / "a.jsonl", {"i-1": "0,1", "e-3": "0"})
    ground_truth(tmp_path / "groundtruth" / "2026/12/05/11" / "b.jsonl", {"e-2": "0"}, "JSON")

    found = monitor.run(environment, tmp_path / "metrics")

    # 4 of 5 rows labelled; the score 0.7 for a 0 is the one mistake at 0.5
    quality = json.loads((tmp_path / "result" / "model_quality" / "statistics.json").read_text())
    assert quality["dataset"]["item_count"] == 4 == found["labelled"]
    metrics = quality["binary_classification_metrics"]
    assert metrics["accuracy"]["value"] == 0.75
    assert metrics["confusion_matrix"] == {"0": {"0": 2, "1": 1}, "1": {"0": 0, "1": 1}}
    (violation,) = found["quality_violations"]
    assert violation["metric_name"] == "accuracy"
    assert violation["constraint_check_type"] == "LessThanThreshold"
    assert "0.75" in violation["description"] and "'0.9'" in violation["description"]
    written = json.loads(
        (tmp_path / "result" / "model_quality" / "constraint_violations.json").read_text()
    )
    assert written["violations"] == found["quality_violations"]
    # the labelled rows, as the raw table holds them: features, sensitive columns, the label
    rows = pd.read_csv(tmp_path / "result" / monitor.LABELLED_FILE)
    assert list(rows.columns) == ["x", "group", "label"]
    assert rows.to_dict("list") == {
        "x": [0.1, 0.9, 0.2, 0.3],
        "group": ["a", "b", "a", "b"],
        "label": [0, 1, 0, 0],
    }
    model_metrics = json.loads(
        (tmp_path / "result" / "model_quality" / monitor.METRICS_FILE).read_text()
    )
    assert model_metrics["Namespace"] == monitor.QUALITY_NAMESPACE
    accuracy = next(d for d in model_metrics["MetricData"] if d["MetricName"] == "accuracy")
    assert accuracy["Value"] == 0.75


def test_without_any_label_yet_model_quality_says_so_and_flags_nothing(tmp_path, capsys):
    statistics, constraints = baseline(pd.DataFrame({"x": np.linspace(0, 1, 200)}))
    environment = job_environment(tmp_path, statistics, constraints) | {
        "ground_truth_source": str(tmp_path / "groundtruth"),
        "problem_type": "regression",
        "target_column": "value",
    }
    labelled_capture(
        tmp_path / "endpointdata" / "ep" / "v" / "2026/12/05/10" / "a.jsonl",
        [{"eventId": "e-1", "rows": [{"x": 0.5}], "scores": [3.0]}],
    )

    found = monitor.run(environment, tmp_path / "metrics")

    assert found["labelled"] == 0 and found["quality_violations"] == []
    assert "no captured row has ground truth yet" in capsys.readouterr().out
    assert not (tmp_path / "result" / "model_quality" / "statistics.json").exists()
    with pytest.raises(monitor.MonitoringError, match="problem_type and target_column"):
        monitor.run({k: v for k, v in environment.items() if k != "target_column"})


def test_the_report_shows_each_feature_against_its_baseline_and_each_violation(tmp_path):
    table = pd.DataFrame({"x": np.linspace(0, 1, 500), "c": ["a", "b"] * 250})
    statistics, constraints = baseline(table)
    environment = job_environment(tmp_path, statistics, constraints)
    rows = "\n".join(json.dumps({"x": round(v, 3), "c": "z"}) for v in np.linspace(0.6, 1.6, 200))
    capture(
        tmp_path / "endpointdata" / "ep" / "AllTraffic" / "2026/12/05/10" / "a.jsonl",
        [(START + timedelta(minutes=1), "application/jsonlines", "JSON", rows)],
    )

    found = monitor.run(environment, tmp_path / "metrics")

    report = (tmp_path / "result" / monitor.REPORT_FILE).read_text()
    assert report.startswith("<!doctype html>") and "<script" not in report
    assert "200 captured rows" in report and report.count("<svg") == 2
    for violation in found["violations"]:
        assert html.escape(violation["description"]) in report
    assert f"{found['distances']['x']:.4f}" in report
    assert "200 values the baseline never saw" in report  # c is always "z" now
    assert "0 below and 120 above the baseline&#x27;s range" in report


def test_two_shards_of_the_capture_merged_give_one_pass_verdict_and_statistics(tmp_path):
    """As a multi-instance job on AWS reads the capture (its files sharded by S3 key)."""
    rng = np.random.default_rng(3)
    train = pd.DataFrame(
        {
            "x": rng.normal(0, 1, 2000),
            "n": rng.integers(0, 9, 2000),
            "c": rng.choice(["a", "b", "c"], 2000),
        }
    )
    statistics, constraints = baseline(train)
    shards = []
    for index, (shift, kinds) in enumerate([(0.0, ["a", "b"]), (0.8, ["b", "c", "z"])]):
        rows = [
            {"x": float(v) if i % 17 else None, "n": int(k), "c": str(rng.choice(kinds))}
            for i, (v, k) in enumerate(
                zip(rng.normal(shift, 1, 400), rng.integers(0, 12, 400), strict=True)
            )
        ]
        if index:  # the second shard's requests also lack a feature now and then
            for row in rows[::5]:
                del row["n"]
        folder = tmp_path / f"shard-{index}"
        text = "\n".join(json.dumps(row) for row in rows)
        capture(
            folder / "ep" / "AllTraffic" / "2026/12/05/10" / "a.jsonl",
            [(START + timedelta(minutes=1), "application/jsonlines", "JSON", text)],
        )
        shards.append(folder)
    whole = tmp_path / "whole"
    for folder in shards:
        for path in folder.rglob("*.jsonl"):
            target = whole / path.relative_to(folder).with_name(f"{folder.name}.jsonl")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(path.read_text())
    end = START + timedelta(hours=1)

    def read(folder):
        sent = monitor.read_capture(folder, START, end, ["x", "n", "c"])
        return sent, monitor.typed(sent, statistics)

    parts = [read(folder) for folder in shards]
    sent, current = read(whole)

    one_pass = monitor.verdict(
        monitor.summarize(sent, statistics, constraints), statistics, constraints
    )
    merged = monitor.merge(*(monitor.summarize(part, statistics, constraints) for part, _ in parts))
    assert monitor.verdict(merged, statistics, constraints) == one_pass
    assert {v["constraint_check_type"] for v in one_pass[0]} >= {
        "baseline_drift_check",
        "categorical_values_check",
    }
    together = compute_statistics(current)
    combined = merge_statistics(*(compute_statistics(typed) for _, typed in parts))
    assert combined["dataset"] == together["dataset"]
    for mine, theirs in zip(combined["features"], together["features"], strict=True):
        assert mine["name"] == theirs["name"] and mine["inferred_type"] == theirs["inferred_type"]
        kind = "numerical_statistics" if "numerical_statistics" in theirs else "string_statistics"
        a, b = mine[kind], theirs[kind]
        assert a["common"] == b["common"]
        if kind == "string_statistics":
            assert a["distribution"] == b["distribution"]
            assert a["distinct_count"] == b["distinct_count"]
            continue
        for key in ("mean", "sum", "std_dev", "min", "max"):
            assert a[key] == pytest.approx(b[key], rel=1e-12, abs=1e-12), key
        sketch = a["distribution"]["kll"]["sketch"]["data"]
        weight = sum(len(level) * 2**height for height, level in enumerate(sketch))
        assert weight == b["common"]["num_present"]
