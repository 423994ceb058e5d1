"""Data quality of what an endpoint captured, against the training baseline, as Model Monitor.

Runs as a SageMaker processing job with Model Monitor's container interface, the environment
variables its analyzer reads, so the job's request has the shape Model Monitor's has:

    dataset_format              {"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput",
                                "endpointOutput"]}}
    dataset_source              the capture files (``<endpoint>/<variant>/yyyy/mm/dd/hh/*.jsonl``)
    output_path                 where statistics.json, constraint_violations.json and
                                cloudwatch_metrics.json (PutMetricData's shape) go
    start_time, end_time        the interval (ISO 8601): records whose inferenceTime is in it
    baseline_statistics         the training baseline's statistics.json
    baseline_constraints        its constraints.json (the checks and their thresholds)
    publish_cloudwatch_metrics  Enabled | Disabled
    endpoint_name, monitoring_schedule_name, metric_namespace   the metrics' names
    sensitive_columns           a JSON list: columns requests carry for bias monitoring, which
                                are neither checked here nor extra (this job's one addition)

The checks are Model Monitor's, driven by the constraints' ``monitoring_config``:
``missing_column_check`` and ``extra_column_check`` (columns), ``data_type_check`` (the share of a
column's values not of the baseline's type, over ``datatype_check_threshold``),
``completeness_check`` (the share present, under the baseline's), ``categorical_values_check``
(the share of values outside the baseline's domain, over ``domain_content_threshold``) and
``baseline_drift_check``: the L∞ distance between the baseline's and the current distributions
over ``comparison_threshold`` (categorical: ``categorical_comparison_threshold``). For numbers it
is the largest gap between the two cumulative distributions, read at the items of the baseline's
KLL sketch (precomputed at training), so the window is sorted once and read at those items;
``Robust`` subtracts 1.8·√((n+m)/(n·m)) for the sample sizes, as Deequ does. Per-feature
overrides of the thresholds come from ``monitoringConfigOverrides`` in a feature's constraints.

An interval with no captured record writes ``statistics.json`` with ``item_count`` 0 and no
violations, and says so: nothing to check is not a failure.

Beside Model Monitor's files the job writes ``report.html``, ``labelled.csv`` (the rows ground
truth labels, for retraining) and ``window_summary.json``: the counts every check and distance is
read from, which add up, so the summaries of a window's shards merge (:func:`merge`) into the
same verdict as one pass over the whole (and ``baseline.merge_statistics`` the statistics).
"""

from __future__ import annotations

import argparse
import base64
import csv
import io
import json
import math
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from .baseline import compute_statistics
from .monitoring_report import render

NUMERIC = ("Integral", "Fractional")
ROBUST_FACTOR = 1.8
#: How many standard errors a window's completeness may fall short of the baseline's.
COMPLETENESS_Z = 1.96
METRICS_DIR = Path("/opt/ml/output/metrics/cloudwatch")
METRICS_FILE = "cloudwatch_metrics.json"
REPORT_FILE = "report.html"
SUMMARY_FILE = "window_summary.json"
#: Model quality of the last windows, for the report's "over time" (``model_quality/``).
HISTORY_FILE = "history.json"
HISTORY_RUNS = 30
#: The window's rows that have ground truth, with their label: what a drift-started run adds.
LABELLED_FILE = "labelled.csv"
#: The namespace of AWS's drift sample (amazon-sagemaker-drift-detection) alarms on.
DEFAULT_NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"


class MonitoringError(ValueError):
    """The job's inputs are not what Model Monitor's interface describes: the text says which."""


# --- reading what was captured ----------------------------------------------------------------


def read_capture(source: Path, start: datetime, end: datetime, columns: list[str]) -> pd.DataFrame:
    """The requests captured in ``[start, end)`` as one table of the values as sent.

    CSV rows and JSON rows given as lists take the baseline's ``columns`` in order (values past
    them are columns ``_c<position>``); JSON objects (``{"instances": [...]}``, a list, one
    object, or JSON Lines) bring their own names. A record that cannot be read is counted in
    the table's ``attrs["unreadable"]``, not fatal. ``attrs["events"]`` holds, row for row, the
    record's ``inferenceId`` (else its ``eventId``: what ground truth is merged on), the row's
    position in the record and the prediction the endpoint answered for it.
    """
    kinds: dict[str, list] = {"lines": [], "unnamed": [], "named": []}
    keys: dict[str, list] = {kind: [] for kind in kinds}
    unreadable = 0
    position = 0  # of the row in its record

    def add(kind: str, row, key: str, predictions: list[float]) -> None:
        nonlocal position
        prediction = predictions[position] if position < len(predictions) else math.nan
        kinds[kind].append(row)
        keys[kind].append((key, position, prediction))
        position += 1

    def add_json(payload, key: str, predictions: list[float]) -> None:
        nonlocal unreadable
        if isinstance(payload, dict):
            payload = payload.get("instances", [payload])
        for row in payload if isinstance(payload, list) else [payload]:
            if isinstance(row, dict):
                add("named", row, key, predictions)
            elif isinstance(row, list):
                add("unnamed", row, key, predictions)
            else:
                unreadable += 1

    for path in sorted(source.rglob("*.jsonl")):
        with path.open() as records:
            for line in records:
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    metadata = record["eventMetadata"]
                    moment = _moment(metadata["inferenceTime"])
                    if not start <= moment < end:
                        continue
                    captured = record["captureData"].get("endpointInput")
                    if captured is None:  # output-only capture
                        unreadable += 1
                        continue
                    key = metadata.get("inferenceId") or metadata.get("eventId", "")
                    position = 0
                    predictions = _predictions(record["captureData"].get("endpointOutput"))
                    body = _decoded(captured)
                    content_type = captured.get("observedContentType", "").lower()
                    if "jsonlines" in content_type:
                        for part in body.splitlines():
                            if part.strip():
                                add_json(json.loads(part), key, predictions)
                    elif "json" in content_type:
                        add_json(json.loads(body), key, predictions)
                    else:
                        for row in body.splitlines():
                            if row.strip():
                                add("lines", row, key, predictions)
                except (KeyError, TypeError, ValueError):
                    unreadable += 1
    tables, events = [], []
    if kinds["lines"]:
        tables.append(_positional(_csv_rows(kinds["lines"]), columns))
    if kinds["unnamed"]:
        tables.append(_positional(pd.DataFrame(kinds["unnamed"], dtype=object), columns))
    if kinds["named"]:
        tables.append(pd.DataFrame(kinds["named"], dtype=object))
    for kind in ("lines", "unnamed", "named"):
        events += keys[kind] if kinds[kind] else []
    table = (
        pd.concat(tables, ignore_index=True, sort=False)
        if tables
        else pd.DataFrame(columns=columns, dtype=object)
    )
    table.attrs["unreadable"] = unreadable
    table.attrs["events"] = pd.DataFrame(events, columns=["key", "position", "prediction"])
    return table


def _predictions(captured: dict | None) -> list[float]:
    """The numbers an endpoint answered (CSV lines or values, ``{"predictions": [...]}``)."""
    if not captured:
        return []
    try:
        body = _decoded(captured)
        if "json" in captured.get("observedContentType", "").lower():
            answer = json.loads(body)
            values = answer.get("predictions", []) if isinstance(answer, dict) else answer
            return [float(v["score"] if isinstance(v, dict) else v) for v in values]
        return [float(v) for v in body.replace(",", "\n").split() if v.strip()]
    except (KeyError, TypeError, ValueError):
        return []


def _csv_rows(lines: list[str]) -> pd.DataFrame:
    """CSV rows as text; rows of several widths read one by one (shorter ones padded)."""
    text = "\n".join(lines)
    try:
        return pd.read_csv(io.StringIO(text), header=None, dtype=str)
    except pd.errors.ParserError:
        return pd.DataFrame(list(csv.reader(lines)), dtype=object)


def _positional(table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    names = [*columns, *(f"_c{i}" for i in range(len(columns), table.shape[1]))]
    table.columns = names[: table.shape[1]]
    return table


def _decoded(captured: dict) -> str:
    data = captured["data"]
    if captured.get("encoding", "").upper() == "BASE64":
        return base64.b64decode(data).decode()
    return data


def typed(table: pd.DataFrame, baseline_statistics: dict) -> pd.DataFrame:
    """The values as the baseline's types read them: numbers for its numeric features (what is
    not one becomes a gap), text for its String ones (``1`` stays ``"1"``); other columns as
    numbers when every value is one."""
    kinds = {f["name"]: f["inferred_type"] for f in baseline_statistics["features"]}
    columns = {}
    for name in table.columns:
        column = table[name]
        kind = kinds.get(name)
        if kind in NUMERIC:
            columns[name] = pd.to_numeric(column, errors="coerce")
        elif kind == "String":
            columns[name] = column.where(column.isna(), column.astype(str))
        else:
            numbers = pd.to_numeric(column, errors="coerce")
            columns[name] = numbers if numbers.notna().sum() == column.notna().sum() else column
    return pd.DataFrame(columns, index=table.index)


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- the checks ------------------------------------------------------------------------------


def linf_numeric(baseline_feature: dict, values: np.ndarray) -> float:
    """Largest gap between the baseline's cumulative distribution (its KLL sketch) and that of
    ``values``, over every point: the window is sorted once and read at the sketch's items."""
    at, below = numeric_counts(baseline_feature, values)
    return linf_from_counts(baseline_feature, at, below, len(values))


def numeric_counts(baseline_feature: dict, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How many of ``values`` are at or below, and below, each of the baseline sketch's items."""
    items, _ = _sketch_items(
        baseline_feature["numerical_statistics"]["distribution"]["kll"]["sketch"]
    )
    ordered = np.sort(values)
    return np.searchsorted(ordered, items, side="right"), np.searchsorted(
        ordered, items, side="left"
    )


def linf_from_counts(baseline_feature: dict, at, below, n: int) -> float:
    """The numeric L∞ from the window's counts at the sketch's items (:func:`numeric_counts`).

    The baseline's distribution only steps at its items, so between two items the gap is
    largest at either end: at an item (the shares at or below it) or just before it (the
    baseline's share below it against the window's share below it)."""
    sketch = baseline_feature["numerical_statistics"]["distribution"]["kll"]["sketch"]
    _, weights = _sketch_items(sketch)
    baseline_at = np.cumsum(weights) / weights.sum()
    baseline_below = np.concatenate([[0.0], baseline_at[:-1]])
    current_at, current_below = np.asarray(at) / n, np.asarray(below) / n
    return float(
        max(
            np.max(np.abs(baseline_at - current_at)), np.max(np.abs(baseline_below - current_below))
        )
    )


def _sketch_items(sketch: dict) -> tuple[np.ndarray, np.ndarray]:
    items = np.concatenate([np.asarray(level, dtype="float64") for level in sketch["data"]])
    weights = np.concatenate(
        [np.full(len(level), 2.0**height) for height, level in enumerate(sketch["data"])]
    )
    order = np.argsort(items, kind="stable")
    items, weights = items[order], weights[order]
    # one point per distinct item, carrying all its weight
    distinct, first = np.unique(items, return_index=True)
    return distinct, np.add.reduceat(weights, first)


def linf_categorical(baseline_feature: dict, values: pd.Series) -> float:
    """Largest gap between the baseline's and the current frequency of any category."""
    counts = values.astype(str).value_counts().to_dict()
    return linf_categorical_counts(baseline_feature, counts)


def linf_categorical_counts(baseline_feature: dict, counts: dict[str, int]) -> float:
    """The categorical L∞ from the window's count of each value."""
    buckets = baseline_feature["string_statistics"]["distribution"]["categorical"]["buckets"]
    total = sum(bucket["count"] for bucket in buckets)
    baseline = {bucket["value"]: bucket["count"] / total for bucket in buckets}
    seen = sum(counts.values())
    current = {value: count / seen for value, count in counts.items()}
    return float(
        max(abs(baseline.get(key, 0.0) - current.get(key, 0.0)) for key in baseline | current)
    )


def robust(distance: float, n: int, m: int) -> float:
    """Deequ's correction of a distance for the sample sizes."""
    return max(0.0, distance - ROBUST_FACTOR * math.sqrt((n + m) / (n * m)))


def check(
    current: pd.DataFrame,
    baseline_statistics: dict,
    baseline_constraints: dict,
    sensitive: tuple[str, ...] = (),
) -> tuple[list[dict], dict[str, float]]:
    """The violations of ``baseline_constraints`` by ``current`` (the values as sent), and each
    feature's drift; ``sensitive`` columns are left to bias monitoring. With
    ``evaluate_constraints`` disabled, the distances are measured and nothing is flagged."""
    window = summarize(current, baseline_statistics, baseline_constraints)
    return verdict(window, baseline_statistics, baseline_constraints, sensitive)


def summarize(current: pd.DataFrame, baseline_statistics: dict, baseline_constraints: dict) -> dict:
    """The counts of the window every check and distance is read from: per baseline feature
    its rows, values present, values not of its type, and the window's cumulative counts at the
    baseline sketch's items (numbers) or each value's count (strings). Counts add up, so the
    summaries of a window's parts (a multi-instance job's shards) merge (:func:`merge`) into the
    summary of the whole, and give the same verdict."""
    statistics = {f["name"]: f for f in baseline_statistics["features"]}
    features = {}
    for constraint in baseline_constraints["features"]:
        name = constraint["name"]
        if name not in current.columns:
            continue
        column = current[name]
        present = column.dropna()
        entry = {"rows": len(column), "present": len(present)}
        if constraint["inferred_type"] in NUMERIC:
            numbers = pd.to_numeric(present, errors="coerce")
            wrong = numbers.isna()
            if constraint["inferred_type"] == "Integral":
                wrong |= numbers.notna() & (numbers != np.round(numbers))
            values = numbers[~numbers.isna()].to_numpy(dtype="float64")
            entry |= {"wrong": int(wrong.sum()), "numbers": len(values)}
            if name in statistics and "numerical_statistics" in statistics[name]:
                at, below = numeric_counts(statistics[name], values)
                entry |= {"at": at.tolist(), "below": below.tolist()}
        elif constraint["inferred_type"] == "String":
            entry["counts"] = {
                str(k): int(v) for k, v in present.astype(str).value_counts().items()
            }
        features[name] = entry
    return {
        "rows": len(current),
        "columns": [str(c) for c in current.columns],
        "features": features,
    }


def merge(first: dict, second: dict) -> dict:
    """The summary of two parts of a window as one (a feature a part lacks is missing there)."""
    features = {}
    for name in dict.fromkeys([*first["features"], *second["features"]]):
        parts = [part["features"].get(name) for part in (first, second)]
        rows = sum(
            e["rows"] if e else part["rows"] for e, part in zip(parts, (first, second), strict=True)
        )
        present = [e for e in parts if e]
        entry = {"rows": rows}
        for key in ("present", "wrong", "numbers"):
            if any(key in e for e in present):
                entry[key] = sum(e.get(key, 0) for e in present)
        for key in ("at", "below"):
            arrays = [np.asarray(e[key]) for e in present if key in e]
            if arrays:
                entry[key] = np.sum(arrays, axis=0).tolist()
        if any("counts" in e for e in present):
            counts: dict[str, int] = {}
            for e in present:
                for value, count in e.get("counts", {}).items():
                    counts[value] = counts.get(value, 0) + count
            entry["counts"] = counts
        features[name] = entry
    columns = list(dict.fromkeys([*first["columns"], *second["columns"]]))
    return {"rows": first["rows"] + second["rows"], "columns": columns, "features": features}


def verdict(
    window: dict,
    baseline_statistics: dict,
    baseline_constraints: dict,
    sensitive: tuple[str, ...] = (),
) -> tuple[list[dict], dict[str, float]]:
    """The violations and distances a window's summary (:func:`summarize`) shows."""
    config = baseline_constraints.get("monitoring_config", {})
    statistics = {f["name"]: f for f in baseline_statistics["features"]}
    constraints = {f["name"]: f for f in baseline_constraints["features"]}
    violations: list[dict] = []

    evaluate = config.get("evaluate_constraints", "Enabled") == "Enabled"

    def flag(feature: str, kind: str, description: str) -> None:
        if evaluate:
            violations.append(
                {"feature_name": feature, "constraint_check_type": kind, "description": description}
            )

    missing = [name for name in constraints if name not in window["columns"]]
    for name in missing:
        flag(name, "missing_column_check", f"Column {name} is in the baseline but not in the data")
    for name in window["columns"]:
        if name not in constraints and name not in sensitive:
            flag(name, "extra_column_check", f"Column {name} is in the data but not the baseline")
    distances: dict[str, float] = {}
    for name, constraint in constraints.items():
        if name in missing:
            continue
        settings = _settings(config, constraint)
        entry = window["features"][name]
        rows, present = entry["rows"], entry["present"]
        completeness = present / rows if rows else 0.0
        expected = constraint.get("completeness", 0.0)
        # a window of m rows falls short of the baseline's share by chance: allow that much
        allowed = expected - COMPLETENESS_Z * math.sqrt(expected * (1 - expected) / rows)
        if completeness < allowed - 1e-12:
            flag(
                name,
                "completeness_check",
                f"Data completeness {completeness:.4g} is below the baseline's {expected:.4g} "
                f"by more than chance in {rows} rows ({allowed:.4g})",
            )
        kind = constraint["inferred_type"]
        if kind in NUMERIC and present:
            share = entry["wrong"] / present
            if share > settings["datatype_check_threshold"]:
                flag(
                    name,
                    "data_type_check",
                    f"Data type mismatch: {share:.4g} of the values are not {kind} "
                    f"(threshold {settings['datatype_check_threshold']:g})",
                )
            if entry["numbers"] and "at" in entry:
                distances[name] = _drift(
                    linf_from_counts(
                        statistics[name], entry["at"], entry["below"], entry["numbers"]
                    ),
                    statistics[name]["numerical_statistics"]["common"]["num_present"],
                    entry["numbers"],
                    settings,
                    settings["comparison_threshold"],
                    name,
                    flag,
                )
        elif kind == "String" and present:
            counts = entry["counts"]
            domain = constraint.get("string_constraints", {}).get("domains")
            if domain is not None:
                known = set(domain)
                unknown = sum(c for v, c in counts.items() if v not in known) / present
                if unknown > settings["domain_content_threshold"]:
                    flag(
                        name,
                        "categorical_values_check",
                        f"{unknown:.4g} of the values are outside the baseline's domain "
                        f"(threshold {settings['domain_content_threshold']:g})",
                    )
            if name in statistics and "string_statistics" in statistics[name]:
                if settings["categorical_drift_method"] != "LInfinity":
                    raise MonitoringError(
                        f"{name}: categorical_drift_method "
                        f"{settings['categorical_drift_method']!r} is not supported here: use "
                        "LInfinity"
                    )
                distances[name] = _drift(
                    linf_categorical_counts(statistics[name], counts),
                    statistics[name]["string_statistics"]["common"]["num_present"],
                    present,
                    settings,
                    settings["categorical_comparison_threshold"],
                    name,
                    flag,
                )
    return violations, distances


def _drift(simple, n, m, settings, threshold, name, flag) -> float:
    distance = robust(simple, n, m) if settings["comparison_method"] == "Robust" else simple
    if settings["perform_comparison"] == "Enabled" and distance > threshold:
        flag(
            name,
            "baseline_drift_check",
            f"Baseline drift distance: {distance:.6g} exceeds threshold: {threshold:g}",
        )
    return distance


#: Model Monitor's spellings of the numeric comparison methods, the docs' two tables' both.
_METHODS = {
    "Simple": "Simple",
    "Robust": "Robust",
    "linf_simple": "Simple",
    "linf_robust": "Robust",
}


def _settings(config: dict, constraint: dict) -> dict:
    """The thresholds for one feature: ``monitoring_config``, then the feature's overrides."""
    distribution = config.get("distribution_constraints", {})
    settings = {
        "datatype_check_threshold": config.get("datatype_check_threshold", 0.1),
        "domain_content_threshold": config.get("domain_content_threshold", 0.1),
        "perform_comparison": distribution.get("perform_comparison", "Enabled"),
        "comparison_threshold": distribution.get("comparison_threshold", 0.1),
        "comparison_method": distribution.get("comparison_method", "Robust"),
        "categorical_comparison_threshold": distribution.get(
            "categorical_comparison_threshold", 0.1
        ),
        "categorical_drift_method": distribution.get("categorical_drift_method", "LInfinity"),
    }
    for key, value in constraint.get("monitoringConfigOverrides", {}).items():
        if key in settings:
            settings[key] = value
    if settings["comparison_method"] not in _METHODS:
        raise MonitoringError(
            f"comparison_method {settings['comparison_method']!r} is not one of "
            f"{', '.join(_METHODS)}"
        )
    settings["comparison_method"] = _METHODS[settings["comparison_method"]]
    return settings


# --- model quality --------------------------------------------------------------------------

#: Model Monitor's model-quality files: their sections, per problem type.
QUALITY_SECTIONS = {
    "binary_classification": ("binary_classification_metrics", "binary_classification_constraints"),
    "regression": ("regression_metrics", "regression_constraints"),
}
#: The namespace Model Monitor puts model-quality metrics in.
QUALITY_NAMESPACE = "aws/sagemaker/Endpoints/model-metrics"


def read_ground_truth(source: Path) -> dict[str, list[float]]:
    """Model Monitor's ground truth under ``source``: each record's ``eventMetadata.eventId``
    (the capture's ``inferenceId``, else its ``eventId``) → its labels (CSV or JSON data, one a
    row of the request). Unreadable records are skipped."""
    truth: dict[str, list[float]] = {}
    for path in sorted(source.rglob("*.jsonl")) if source.is_dir() else []:
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
                data = record["groundTruthData"]
                text = _decoded(data)
                if data.get("encoding", "").upper() == "JSON":
                    value = json.loads(text)
                    labels = [float(v) for v in (value if isinstance(value, list) else [value])]
                else:
                    labels = [float(v) for v in text.replace(",", "\n").split()]
                truth[record["eventMetadata"]["eventId"]] = labels
            except (KeyError, TypeError, ValueError):
                continue
    return truth


def labels_of(events: pd.DataFrame, truth: dict[str, list[float]]) -> np.ndarray:
    """Each captured row's label from ``truth`` (NaN where none came)."""
    known = pd.DataFrame(
        [
            (key, position, label)
            for key, labels in truth.items()
            for position, label in enumerate(labels)
        ],
        columns=["key", "position", "label"],
    )
    merged = events[["key", "position"]].merge(known, on=["key", "position"], how="left")
    return merged["label"].to_numpy(dtype="float64")


def model_quality(
    problem_type: str, labels: np.ndarray, predictions: np.ndarray, constraints: dict | None
) -> tuple[dict, list[dict], str | None]:
    """Metrics in ``evaluation.json``'s shape for the rows with a label and a prediction, the
    violations of the model-quality ``constraints`` (``{metric: {threshold,
    comparison_operator}}``) and, when nothing could be measured, why."""
    from .evaluate import binary_classification_metrics, regression_metrics

    metrics_section, constraints_section = QUALITY_SECTIONS[problem_type]
    known = ~np.isnan(labels) & ~np.isnan(predictions)
    if not known.any():
        return {}, [], "no captured row has ground truth yet: model quality not measured"
    if problem_type == "binary_classification" and len(np.unique(labels[known])) < 2:
        return (
            {},
            [],
            (
                f"the {int(known.sum())} labelled rows hold one class only: model quality not "
                "measured (AUC is undefined)"
            ),
        )
    try:
        if problem_type == "binary_classification":
            values = binary_classification_metrics(labels[known].astype(int), predictions[known])
        else:
            values = regression_metrics(labels[known], predictions[known])
    except ValueError as error:
        return {}, [], f"model quality not measured: {error}"
    statistics = {metrics_section: values, "dataset": {"item_count": int(known.sum())}}
    violations = []
    for metric, rule in ((constraints or {}).get(constraints_section) or {}).items():
        if metric not in values:
            raise MonitoringError(f"the model-quality constraints name an unknown metric {metric}")
        value, threshold = values[metric]["value"], float(rule["threshold"])
        operator = rule["comparison_operator"]
        broken = {
            "LessThanThreshold": value < threshold,
            "LessThanOrEqualToThreshold": value <= threshold,
            "GreaterThanThreshold": value > threshold,
            "GreaterThanOrEqualToThreshold": value >= threshold,
        }.get(operator)
        if broken is None:
            raise MonitoringError(f"{metric}: unknown comparison_operator {operator!r}")
        if broken:
            violations.append(
                {
                    "metric_name": metric,
                    "constraint_check_type": operator,
                    "description": f"Metric {metric} with {value:.4g} was {operator} "
                    f"'{threshold:g}' over {int(known.sum())} labelled rows",
                }
            )
    return statistics, violations, None


# --- metrics ---------------------------------------------------------------------------------


def metric_data(
    current: pd.DataFrame, distances: dict[str, float], dimensions: list[dict], moment: datetime
) -> list[dict]:
    """Model Monitor's metrics, as PutMetricData's MetricData: per feature ``feature_data_<f>``
    (statistic values of the numbers), ``feature_non_null_<f>`` (the share present) and
    ``feature_baseline_drift_<f>`` (the drift distance)."""
    data = []
    for name in current.columns:
        column = current[name]
        data.append(
            _metric(f"feature_non_null_{name}", float(column.notna().mean()), dimensions, moment)
        )
        numbers = pd.to_numeric(column, errors="coerce").dropna()
        if len(numbers) and pd.api.types.is_numeric_dtype(column):
            data.append(
                {
                    "MetricName": f"feature_data_{name}",
                    "Dimensions": dimensions,
                    "Timestamp": moment.isoformat(),
                    "StatisticValues": {
                        "SampleCount": float(len(numbers)),
                        "Sum": float(numbers.sum()),
                        "Minimum": float(numbers.min()),
                        "Maximum": float(numbers.max()),
                    },
                }
            )
    for name, distance in distances.items():
        data.append(_metric(f"feature_baseline_drift_{name}", distance, dimensions, moment))
    return data


def _metric(name: str, value: float, dimensions: list[dict], moment: datetime) -> dict:
    return {
        "MetricName": name,
        "Dimensions": dimensions,
        "Timestamp": moment.isoformat(),
        "Value": value,
    }


# --- the job ---------------------------------------------------------------------------------


def run(environment: dict[str, str], metrics_dir: Path = METRICS_DIR) -> dict:
    """One monitoring execution with Model Monitor's environment; what it found."""
    try:
        source = Path(environment["dataset_source"])
        output = Path(environment["output_path"])
        start, end = _moment(environment["start_time"]), _moment(environment["end_time"])
        statistics = json.loads(Path(environment["baseline_statistics"]).read_text())
        constraints = json.loads(Path(environment["baseline_constraints"]).read_text())
        quality_constraints = (
            json.loads(Path(environment["model_quality_constraints"]).read_text())
            if environment.get("model_quality_constraints")
            else None
        )
    except KeyError as error:
        raise MonitoringError(f"the environment variable {error.args[0]} is not set") from None
    except (OSError, ValueError) as error:
        raise MonitoringError(f"cannot read the job's inputs: {error}") from error
    dataset_format = json.loads(environment.get("dataset_format") or "{}")
    if dataset_format and "sagemakerCaptureJson" not in dataset_format:
        raise MonitoringError(
            f"dataset_format {dataset_format} is not sagemakerCaptureJson: this job reads "
            "endpoint capture"
        )
    columns = [feature["name"] for feature in statistics["features"]]
    sensitive = tuple(json.loads(environment.get("sensitive_columns") or "[]"))
    received = read_capture(source, start, end, columns)
    unreadable = received.attrs.get("unreadable", 0)
    sent = received.drop(columns=[c for c in sensitive if c in received.columns])
    current = typed(sent, statistics)
    output.mkdir(parents=True, exist_ok=True)
    current_statistics = compute_statistics(current)
    (output / "statistics.json").write_text(json.dumps(current_statistics, indent=2) + "\n")
    if current.empty:
        message = (
            f"no captured data from {start.isoformat()} to {end.isoformat()}: nothing to check"
        )
        (output / "constraint_violations.json").write_text(json.dumps({"violations": []}) + "\n")
        return {"records": 0, "violations": [], "distances": {}, "message": message}
    window = summarize(sent, statistics, constraints)
    violations, distances = verdict(window, statistics, constraints, sensitive)
    # the counts the verdict was read from: a sharded job's instances' summaries merge (merge)
    (output / SUMMARY_FILE).write_text(json.dumps(window) + "\n")
    (output / "constraint_violations.json").write_text(
        json.dumps({"violations": violations}, indent=2) + "\n"
    )
    found = {
        "records": len(current),
        "unreadable": unreadable,
        "violations": violations,
        "distances": distances,
    }
    quality, quality_violations = None, []
    history = _history(environment)
    if environment.get("ground_truth_source"):
        quality, quality_violations, found["labelled"] = _model_quality(
            environment, received, columns, quality_constraints, output
        )
        found["quality_violations"] = quality_violations
        if quality:
            section = QUALITY_SECTIONS[environment["problem_type"]][0]
            history = [*history, {"end_time": end.isoformat(), **_scalars(quality[section])}]
            history = history[-HISTORY_RUNS:]
            (output / "model_quality" / HISTORY_FILE).write_text(json.dumps(history) + "\n")
    (output / REPORT_FILE).write_text(
        render(
            endpoint=_endpoint(environment),
            start=start.isoformat(),
            end=end.isoformat(),
            baseline=statistics,
            current=current,
            distances=distances,
            thresholds=thresholds(constraints),
            violations=violations,
            quality=quality,
            quality_violations=quality_violations,
            history=history,
        )
    )
    emit = constraints.get("monitoring_config", {}).get("emit_metrics", "Enabled") == "Enabled"
    if environment.get("publish_cloudwatch_metrics", "Enabled") == "Enabled" and emit:
        dimensions = [
            {"Name": "Endpoint", "Value": _endpoint(environment)},
            {"Name": "MonitoringSchedule", "Value": _schedule(environment)},
        ]
        data = metric_data(current, distances, dimensions, end)
        namespace = environment.get("metric_namespace", DEFAULT_NAMESPACE)
        _publish(data, namespace, output, metrics_dir, "data-quality")
        if quality:
            section = QUALITY_SECTIONS[environment["problem_type"]][0]
            scalars = _scalars(quality[section])
            _publish(
                [_metric(name, value, dimensions, end) for name, value in scalars.items()],
                environment.get("quality_metric_namespace", QUALITY_NAMESPACE),
                output / "model_quality",
                metrics_dir,
                "model-quality",
            )
    return found


def _scalars(metrics: dict) -> dict[str, float]:
    """The metrics with a finite value (not the curves or the confusion matrix)."""
    return {
        name: metric["value"]
        for name, metric in metrics.items()
        if isinstance(metric, dict) and "value" in metric and math.isfinite(metric["value"])
    }


def _history(environment: dict[str, str]) -> list[dict]:
    """Earlier windows' model-quality metrics (``model_quality_history``), oldest first."""
    path = environment.get("model_quality_history")
    if not path:
        return []
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        print(f"model-quality history {path} not read ({error}): starting a new one")
        return []


def _endpoint(environment: dict[str, str]) -> str:
    # Model Monitor names them sagemaker_endpoint_name and sagemaker_monitoring_schedule_name
    return (
        environment.get("sagemaker_endpoint_name") or environment.get("endpoint_name") or "unknown"
    )


def _schedule(environment: dict[str, str]) -> str:
    return (
        environment.get("sagemaker_monitoring_schedule_name")
        or environment.get("monitoring_schedule_name")
        or "unknown"
    )


def thresholds(constraints: dict) -> dict[str, float]:
    """Each feature's drift threshold, its overrides applied."""
    config = constraints.get("monitoring_config", {})
    found = {}
    for constraint in constraints["features"]:
        settings = _settings(config, constraint)
        numeric = constraint["inferred_type"] in NUMERIC
        found[constraint["name"]] = settings[
            "comparison_threshold" if numeric else "categorical_comparison_threshold"
        ]
    return found


def _model_quality(
    environment: dict[str, str],
    received: pd.DataFrame,
    columns: list[str],
    constraints: dict | None,
    output: Path,
) -> tuple[dict | None, list[dict], int]:
    """Model quality over the rows ground truth labels, written under ``model_quality/``; the
    labelled rows (values as sent, the label as ``target_column``) to ``labelled.csv``."""
    try:
        problem_type, target = environment["problem_type"], environment["target_column"]
    except KeyError as error:
        raise MonitoringError(
            f"ground_truth_source is set but {error.args[0]} is not: model quality needs both "
            "problem_type and target_column"
        ) from None
    if problem_type not in QUALITY_SECTIONS:
        raise MonitoringError(
            f"problem_type {problem_type!r} is not one of {list(QUALITY_SECTIONS)}"
        )
    events = received.attrs["events"]
    labels = labels_of(events, read_ground_truth(Path(environment["ground_truth_source"])))
    predictions = events["prediction"].to_numpy(dtype="float64")
    quality, violations, reason = model_quality(problem_type, labels, predictions, constraints)
    folder = output / "model_quality"
    folder.mkdir(exist_ok=True)
    if reason:
        print(reason)
    else:
        (folder / "statistics.json").write_text(json.dumps(quality, indent=2) + "\n")
    (folder / "constraint_violations.json").write_text(
        json.dumps({"violations": violations}, indent=2) + "\n"
    )
    known = ~np.isnan(labels)
    # the raw table's columns: the baseline's features, the sensitive ones, the label
    sensitive = json.loads(environment.get("sensitive_columns") or "[]")
    rows = received.loc[known].reindex(columns=[*columns, *sensitive])
    rows[target] = labels[known]
    if problem_type == "binary_classification":
        rows[target] = rows[target].astype(int)
    rows.to_csv(output / LABELLED_FILE, index=False)
    return quality or None, violations, int(known.sum())


def _publish(data: list[dict], namespace: str, output: Path, metrics_dir: Path, name: str) -> None:
    """One metric a line where Model Monitor publishes a container's metrics from (its schedule
    names the namespace); the whole PutMetricData request beside the results, for a plain
    processing job's caller to publish."""
    metrics_dir.mkdir(parents=True, exist_ok=True)
    (metrics_dir / f"{name}.json").write_text("".join(json.dumps(datum) + "\n" for datum in data))
    output.mkdir(parents=True, exist_ok=True)
    (output / METRICS_FILE).write_text(
        json.dumps({"Namespace": namespace, "MetricData": data}) + "\n"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--metrics-dir", type=Path, default=METRICS_DIR)
    args = parser.parse_args(argv)
    found = run(dict(os.environ), args.metrics_dir)
    if found.get("message"):
        print(found["message"])
        return
    print(f"{found['records']} records checked, {len(found['violations'])} violations")
    if "labelled" in found:
        print(
            f"{found['labelled']} rows with ground truth, "
            f"{len(found['quality_violations'])} model-quality violations"
        )
    for violation in found["violations"]:
        print(
            f"  {violation['feature_name']}: {violation['constraint_check_type']}: "
            f"{violation['description']}"
        )


if __name__ == "__main__":
    main()
