"""Data-quality baseline in Amazon SageMaker Model Monitor's formats.

``statistics.json`` describes a table column by column; ``constraints.json`` lists what data seen
later (an endpoint's captured requests) must satisfy. They are the files Model Monitor's baselining
job writes, so the monitoring job, the Model Registry's ``DriftCheckBaselines`` and anyone moving to
or from Model Monitor read them unchanged. :func:`compute_statistics` describes any table, so the
monitoring job can summarise captured data the same way and compare the two.

What each column gets, as Model Monitor does it:

- an inferred type: ``Integral`` for whole numbers (a float column holding only whole numbers
  counts, since pandas reads an integer column with gaps as floats), ``Fractional`` for other
  numbers, ``String`` for anything else (booleans included, as CSV text), ``Unknown`` for a column
  without a single value;
- numbers: count, mean, sum, population standard deviation, min, max, 10 equal-width buckets from
  min to max (each closed below, the last also above), and a quantile sketch in KLL's layout;
- strings: distinct count and the count of each value (the most frequent ``MAX_CATEGORIES``).
"""

import copy
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

BUCKETS = 10
MAX_CATEGORIES = 1000
KLL_C = 0.64  # Model Monitor's (Deequ's) KLL shrinking factor, recorded with every sketch
KLL_K = 2048  # ... and its sketch size: no sketch level holds more items than this

MONITORING_CONFIG = {
    "evaluate_constraints": "Enabled",
    "emit_metrics": "Enabled",
    "datatype_check_threshold": 0.1,
    "domain_content_threshold": 0.1,
    "distribution_constraints": {
        "perform_comparison": "Enabled",
        "comparison_threshold": 0.1,
        "comparison_method": "Robust",
        "categorical_comparison_threshold": 0.1,
        "categorical_drift_method": "LInfinity",
    },
}
"""Model Monitor's documented defaults; edit ``constraints.json`` to tune one model's monitoring."""


def compute_statistics(df: pd.DataFrame) -> dict:
    """Return the ``statistics.json`` document describing every column of ``df``."""
    return {
        "version": 0.0,  # a float, as Model Monitor writes it
        "dataset": {"item_count": len(df)},
        "features": [_feature_statistics(str(name), df[name]) for name in df.columns],
    }


def merge_statistics(first: dict, second: dict) -> dict:
    """``statistics.json`` of two parts of a table as one: counts, sums, means, standard
    deviations, extremes and category counts as one pass over the whole gives them (categories
    exactly while each part lists all of its, up to ``MAX_CATEGORIES``); the KLL sketches merge
    level by level (a sketch of the whole, within its error), and the numeric buckets are
    counted again from it."""
    features = {f["name"]: f for f in first["features"]}
    merged = []
    for feature in [
        *first["features"],
        *(f for f in second["features"] if f["name"] not in features),
    ]:
        other = next((f for f in second["features"] if f["name"] == feature["name"]), None)
        mine = features.get(feature["name"])
        merged.append(
            _merged_feature(mine, other) if mine and other else copy.deepcopy(mine or other)
        )
    return {
        "version": first.get("version", 0.0),
        "dataset": {"item_count": first["dataset"]["item_count"] + second["dataset"]["item_count"]},
        "features": merged,
    }


def _merged_feature(first: dict, second: dict) -> dict:
    kinds = {first["inferred_type"], second["inferred_type"]} - {"Unknown"}
    if not kinds:
        return copy.deepcopy(first)
    if kinds <= {"Integral", "Fractional"}:
        a = first.get("numerical_statistics") or _empty_numbers(first)
        b = second.get("numerical_statistics") or _empty_numbers(second)
        n_a, n_b = a["common"]["num_present"], b["common"]["num_present"]
        n = n_a + n_b
        if not n_a or not n_b:  # one part has no value: the other's numbers are the whole's
            whole = copy.deepcopy(first if n_a else second)
            whole["numerical_statistics"]["common"]["num_missing"] = (
                a["common"]["num_missing"] + b["common"]["num_missing"]
            )
            return whole
        mean = (a["sum"] + b["sum"]) / n
        variance = (
            n_a * (a["std_dev"] ** 2 + (a["mean"] - mean) ** 2)
            + n_b * (b["std_dev"] ** 2 + (b["mean"] - mean) ** 2)
        ) / n
        levels = [
            list(x) + list(y)
            for x, y in _zip_longest(
                a["distribution"]["kll"]["sketch"]["data"],
                b["distribution"]["kll"]["sketch"]["data"],
            )
        ]
        low, high = min(a["min"], b["min"]), max(a["max"], b["max"])
        return {
            "name": first["name"],
            "inferred_type": "Integral" if kinds == {"Integral"} else "Fractional",
            "numerical_statistics": {
                "common": {
                    "num_present": n,
                    "num_missing": a["common"]["num_missing"] + b["common"]["num_missing"],
                },
                "mean": mean,
                "sum": a["sum"] + b["sum"],
                "std_dev": math.sqrt(variance),
                "min": low,
                "max": high,
                "distribution": {
                    "kll": {
                        "buckets": _sketch_buckets(levels, low, high),
                        "sketch": {"parameters": {"c": KLL_C, "k": float(KLL_K)}, "data": levels},
                    }
                },
            },
        }
    a = first.get("string_statistics") or first["numerical_statistics"]
    b = second.get("string_statistics") or second["numerical_statistics"]
    counts: dict[str, int] = {}
    for bucket in [
        *a.get("distribution", {}).get("categorical", {}).get("buckets", []),
        *b.get("distribution", {}).get("categorical", {}).get("buckets", []),
    ]:
        counts[bucket["value"]] = counts.get(bucket["value"], 0) + bucket["count"]
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return {
        "name": first["name"],
        "inferred_type": "String",
        "string_statistics": {
            "common": {
                key: a["common"][key] + b["common"][key] for key in ("num_present", "num_missing")
            },
            "distinct_count": float(len(counts)),
            "distribution": {
                "categorical": {
                    "buckets": [
                        {"value": value, "count": count}
                        for value, count in ordered[:MAX_CATEGORIES]
                    ]
                }
            },
        },
    }


def _empty_numbers(feature: dict) -> dict:
    common = (feature.get("string_statistics") or feature["numerical_statistics"])["common"]
    return {
        "common": common,
        "mean": 0.0,
        "sum": 0.0,
        "std_dev": 0.0,
        "min": math.inf,
        "max": -math.inf,
        "distribution": {"kll": {"buckets": [], "sketch": {"data": []}}},
    }


def _zip_longest(first: list, second: list) -> list[tuple[list, list]]:
    size = max(len(first), len(second))
    return [
        (first[i] if i < len(first) else [], second[i] if i < len(second) else [])
        for i in range(size)
    ]


def _sketch_buckets(levels: list[list[float]], low: float, high: float) -> list[dict]:
    """``BUCKETS`` equal-width buckets from ``low`` to ``high``, counted from a sketch."""
    items = np.concatenate([np.asarray(level, dtype="float64") for level in levels])
    weights = np.concatenate([np.full(len(level), 2.0**h) for h, level in enumerate(levels)])
    edges = np.linspace(low, high, BUCKETS + 1)
    index = np.clip(np.searchsorted(edges, items, side="right") - 1, 0, BUCKETS - 1)
    counts = np.bincount(index, weights=weights, minlength=BUCKETS)
    return [
        {"lower_bound": float(lower), "upper_bound": float(upper), "count": int(round(count))}
        for lower, upper, count in zip(edges[:-1], edges[1:], counts, strict=True)
    ]


def suggest_constraints(statistics: dict) -> dict:
    """Return the ``constraints.json`` document that the data described by ``statistics`` meets.

    Each feature keeps its inferred type and observed completeness; numbers record whether they
    were all non-negative; strings with at most ``MAX_CATEGORIES`` values record them as the domain.
    """
    return {
        "version": 0.0,
        "features": [_feature_constraints(feature) for feature in statistics["features"]],
        "monitoring_config": copy.deepcopy(MONITORING_CONFIG),
    }


def write_baseline(df: pd.DataFrame, out_dir: str | Path) -> None:
    """Write ``statistics.json`` and ``constraints.json`` for ``df`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    statistics = compute_statistics(df)
    for name, document in [
        ("statistics.json", statistics),
        ("constraints.json", suggest_constraints(statistics)),
    ]:
        (out_dir / name).write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")


def _feature_statistics(name: str, column: pd.Series) -> dict:
    num_missing = int(column.isna().sum())
    common = {"num_present": len(column) - num_missing, "num_missing": num_missing}
    if common["num_present"] == 0:
        return {
            "name": name,
            "inferred_type": "Unknown",
            "string_statistics": {
                "common": common,
                "distinct_count": 0.0,
                "distribution": {"categorical": {"buckets": []}},
            },
        }
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        values = np.sort(column.dropna().to_numpy(dtype="float64"))
        whole = pd.api.types.is_integer_dtype(column) or bool(np.all(values == np.round(values)))
        return {
            "name": name,
            "inferred_type": "Integral" if whole else "Fractional",
            "numerical_statistics": {
                "common": common,
                "mean": float(values.mean()),
                "sum": float(values.sum()),
                "std_dev": float(values.std()),
                "min": float(values[0]),
                "max": float(values[-1]),
                "distribution": {
                    "kll": {"buckets": _kll_buckets(values), "sketch": _kll_sketch(values)}
                },
            },
        }
    counts = column.dropna().astype(str).value_counts().sort_index()
    counts = counts.sort_values(ascending=False, kind="stable")  # ties in value order
    return {
        "name": name,
        "inferred_type": "String",
        "string_statistics": {
            "common": common,
            "distinct_count": float(len(counts)),
            "distribution": {
                "categorical": {
                    "buckets": [
                        {"value": value, "count": int(count)}
                        for value, count in counts.head(MAX_CATEGORIES).items()
                    ]
                }
            },
        },
    }


def _kll_buckets(sorted_values: np.ndarray) -> list[dict]:
    """Count the values in ``BUCKETS`` equal-width buckets from min to max."""
    edges = np.linspace(sorted_values[0], sorted_values[-1], BUCKETS + 1)
    below = np.searchsorted(sorted_values, edges[1:-1], side="left")  # values under each edge
    counts = np.diff(np.concatenate([[0], below, [len(sorted_values)]]))
    return [
        {"lower_bound": float(lower), "upper_bound": float(upper), "count": int(count)}
        for lower, upper, count in zip(edges[:-1], edges[1:], counts, strict=True)
    ]


def _kll_sketch(sorted_values: np.ndarray) -> dict:
    """Summarise the values as a KLL sketch: ``data[h]`` holds items standing for 2**h values each.

    Built in one pass over the sorted values, not by streaming: the top level ``h`` is the lowest
    that needs at most ``KLL_K`` items, each the middle of a run of 2**h consecutive values; the
    remaining values (fewer than 2**h) go to lower levels following the binary digits of their
    count. The weights add up to the number of values, and a rank read from the sketch is off by
    at most 2**(h-1).
    """
    n = len(sorted_values)
    top = 0
    while n >> top > KLL_K:
        top += 1
    run = 1 << top
    covered = (n >> top) << top
    levels = [[] for _ in range(top)] + [sorted_values[run // 2 : covered : run].tolist()]
    start = covered
    for level in reversed(range(top)):
        size = 1 << level
        if (n - covered) & size:
            levels[level] = [float(sorted_values[start + size // 2])]
            start += size
    return {"parameters": {"c": KLL_C, "k": float(KLL_K)}, "data": levels}


def _feature_constraints(feature: dict) -> dict:
    inferred_type = feature["inferred_type"]
    statistics = feature.get("numerical_statistics") or feature["string_statistics"]
    present = statistics["common"]["num_present"]
    total = present + statistics["common"]["num_missing"]
    constraints = {
        "name": feature["name"],
        "inferred_type": inferred_type,
        "completeness": present / total if total else 0.0,
    }
    if inferred_type in ("Integral", "Fractional"):
        constraints["num_constraints"] = {"is_non_negative": statistics["min"] >= 0}
    elif inferred_type == "String":
        buckets = statistics["distribution"]["categorical"]["buckets"]
        if len(buckets) == statistics["distinct_count"]:  # every value is known
            constraints["string_constraints"] = {
                "domains": sorted(bucket["value"] for bucket in buckets)
            }
    return constraints
