"""``make expectations DATA=my.csv``: draft the data checks' suites from a table, for review.

    python -m tools.expectations --data my.csv [--max-unlabelled 0.05]

Writes ``expectations/<raw_suite>.json`` and ``<features_suite>.json`` (``[data]`` in
``pipeline.toml``) from what the table holds, reading it as the checks' job reads it:

- raw: the columns (others may be added later), at least 100 rows, the label present in all
  but ``--max-unlabelled`` of the rows (preprocessing drops and counts the others) and holding
  the problem type's values (0 and 1; a range for regression), each numeric column within its
  observed range widened by a margin, each text column with few distinct values within its
  observed set, and each column as complete as observed (a column with missing values may
  miss up to twice as many);
- features: exactly the same columns after preprocessing, at least 50 rows, no missing label,
  no duplicate rows.

A draft describes this table, not the data to come: review every range and set before
committing (the files say where they came from in their ``meta``). The suites they replace are
kept in ``build/expectations-previous/``.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from {{ cookiecutter.package_name }}.features import read_csv_dir

from tools.project import PROJECT_ROOT, config

RAW_MIN_ROWS, FEATURES_MIN_ROWS = 100, 50
#: Text columns with more distinct values than this get no value set (identifiers, free text).
MAX_SET_SIZE = 50
#: How far beyond the observed range a numeric column's bounds lie, as a share of the range.
RANGE_MARGIN = 0.1


class DraftError(ValueError):
    """The table cannot be the pipeline's training data as pipeline.toml describes it."""


def expectation(kind: str, notes: str | None = None, **kwargs) -> dict:
    return {"type": kind, "kwargs": kwargs, "meta": {"notes": notes} if notes else {}}


def draft_suites(
    table: pd.DataFrame,
    *,
    target: str,
    problem_type: str,
    sensitive: list[str],
    source: str,
    max_unlabelled: float = 0.05,
) -> tuple[dict, dict]:
    """The raw and features suites (GX 1.x ``ExpectationSuite`` JSON) drafted from ``table``."""
    check_table(table, target, problem_type, sensitive)
    columns = list(table.columns)
    drafted = f"Drafted by `make expectations` from {source} ({len(table)} rows) on " + (
        datetime.now(UTC).strftime("%Y-%m-%d") + ": review every range and set before use."
    )
    raw = [
        expectation("expect_table_columns_to_match_set", column_set=columns, exact_match=False),
        expectation(
            "expect_table_row_count_to_be_between",
            "Too few rows to train and evaluate a model.",
            min_value=RAW_MIN_ROWS,
        ),
        expectation(
            "expect_column_values_to_not_be_null",
            f"Preprocessing drops rows without a label and reports how many; more than "
            f"{max_unlabelled:.0%} of them fails the check.",
            column=target,
            mostly=round(1 - max_unlabelled, 4),
        ),
        label_values(table[target], problem_type),
    ]
    for column in columns:
        if column == target:
            continue
        note = (
            "Sensitive attribute: kept for bias analysis, never a model feature."
            if column in sensitive
            else None
        )
        raw += column_expectations(table[column], note)
    features = [
        expectation("expect_table_columns_to_match_set", column_set=columns, exact_match=True),
        expectation(
            "expect_table_row_count_to_be_between",
            "Too few rows left to train on after cleaning and splitting.",
            min_value=FEATURES_MIN_ROWS,
        ),
        expectation("expect_column_values_to_not_be_null", column=target),
        expectation(
            "expect_compound_columns_to_be_unique",
            "No duplicate rows: preprocessing drops them.",
            column_list=columns,
        ),
    ]
    return (
        {"name": "raw", "expectations": raw, "meta": {"notes": drafted}},
        {"name": "features", "expectations": features, "meta": {"notes": drafted}},
    )


def table_warnings(table: pd.DataFrame, target: str, max_unlabelled: float) -> list[str]:
    """What in this table the drafted raw suite will refuse: it describes good data, not this."""
    found = []
    unlabelled = table[target].isna().mean()
    if unlabelled > max_unlabelled:
        found.append(
            f"{unlabelled:.1%} of the rows have no label, more than the raw check lets through "
            f"({max_unlabelled:.0%}): it will fail on this table (--max-unlabelled changes that)"
        )
    if len(table) < RAW_MIN_ROWS:
        found.append(
            f"the table has {len(table)} rows; the raw check wants at least {RAW_MIN_ROWS} to "
            "train and evaluate a model, and will fail on it"
        )
    return found


def check_table(table: pd.DataFrame, target: str, problem_type: str, sensitive: list[str]):
    """Refuse, saying what to change, a table the pipeline could not train on as configured."""
    if table.empty:
        raise DraftError("the table holds no rows")
    if target not in table.columns:
        raise DraftError(
            f"pipeline.toml's [data] target_column {target!r} is not a column of the table; "
            f"its columns are: {', '.join(map(str, table.columns))}"
        )
    missing = [column for column in sensitive if column not in table.columns]
    if missing:
        raise DraftError(
            f"pipeline.toml's [data] sensitive_columns names {', '.join(missing)}, which the "
            "table lacks: list the table's sensitive columns there ([] if none)"
        )
    labels = table[target].dropna()
    if labels.empty:
        raise DraftError(f"no row has a label in {target!r}")
    numbers = pd.to_numeric(labels, errors="coerce")
    if numbers.isna().any():
        examples = ", ".join(map(repr, labels[numbers.isna()].unique()[:3]))
        raise DraftError(f"the label {target!r} must hold numbers; found {examples}")
    if problem_type == "binary_classification" and not numbers.isin([0, 1]).all():
        examples = ", ".join(f"{value:g}" for value in numbers[~numbers.isin([0, 1])].unique()[:3])
        raise DraftError(
            f"the label {target!r} must hold 0 or 1 for binary_classification; found {examples}"
            ": recode it, or set [data] problem_type"
        )


def label_values(labels: pd.Series, problem_type: str) -> dict:
    if problem_type == "binary_classification":
        return expectation(
            "expect_column_values_to_be_in_set", column=labels.name, value_set=[0, 1]
        )
    return range_expectation(pd.to_numeric(labels, errors="coerce").dropna(), labels.name)


def column_expectations(values: pd.Series, note: str | None) -> list[dict]:
    """Completeness and valid values of one feature column, as this table shows them."""
    drafted = []
    present = values.dropna()
    missing = 1 - len(present) / len(values)
    if missing == 0:
        drafted.append(expectation("expect_column_values_to_not_be_null", column=values.name))
    elif missing < 0.5:
        mostly = math.floor((1 - 2 * missing) * 100) / 100
        drafted.append(
            expectation(
                "expect_column_values_to_not_be_null",
                f"{missing:.1%} missing in the drafted table; preprocessing fills them in.",
                column=values.name,
                mostly=mostly,
            )
        )
    if present.empty:
        return drafted
    if pd.api.types.is_bool_dtype(present):
        drafted.append(
            expectation(
                "expect_column_values_to_be_in_set",
                note,
                column=values.name,
                value_set=[False, True],
            )
        )
    elif pd.api.types.is_numeric_dtype(present):
        drafted.append(range_expectation(present, values.name, note))
    elif present.nunique() <= MAX_SET_SIZE:
        drafted.append(
            expectation(
                "expect_column_values_to_be_in_set",
                note,
                column=values.name,
                value_set=sorted(present.astype(str).unique()),
            )
        )
    return drafted


def range_expectation(numbers: pd.Series, column: str, note: str | None = None) -> dict:
    """The observed range widened by ``RANGE_MARGIN`` (never below 0 for a column that isn't)."""
    low, high = float(numbers.min()), float(numbers.max())
    margin = (high - low) * RANGE_MARGIN or abs(high) * RANGE_MARGIN or 1.0
    lower = low - margin if low < 0 else max(0.0, low - margin)
    bounds = {"min_value": _rounded(lower, math.floor), "max_value": _rounded(high + margin)}
    if pd.api.types.is_integer_dtype(numbers):
        bounds = {key: int(value) for key, value in bounds.items()}
    return expectation("expect_column_values_to_be_between", note, column=column, **bounds)


def _rounded(value: float, direction=math.ceil) -> float:
    """``value`` to three significant digits, rounded outward (``direction``: floor or ceil)."""
    if value == 0:
        return 0.0
    scale = 10 ** (math.floor(math.log10(abs(value))) - 2)
    return direction(value / scale) * scale


def write_suites(suites: tuple[dict, ...], folder: Path, previous: Path) -> list[Path]:
    """Write each suite as ``<name>.json``; the file it replaces goes to ``previous``."""
    written = []
    for suite in suites:
        path = folder / f"{suite['name']}.json"
        if path.exists():
            previous.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, previous / path.name)
        path.write_text(json.dumps(suite, indent=2) + "\n")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make expectations", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="a CSV file, or a folder of them")
    parser.add_argument(
        "--max-unlabelled",
        type=float,
        default=0.05,
        help="share of rows without a label the raw check lets through (default 0.05)",
    )
    args = parser.parse_args(argv)
    cfg = config()
    data = cfg.data
    try:
        table = read_csv_dir(args.data)
        raw, features = draft_suites(
            table,
            target=data.target_column,
            problem_type=cfg.problem_type,
            sensitive=data.sensitive_columns,
            source=args.data.name,
            max_unlabelled=args.max_unlabelled,
        )
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for warning in table_warnings(table, data.target_column, args.max_unlabelled):
        print(f"warning: {warning}", file=sys.stderr)
    raw["name"], features["name"] = data.raw_suite, data.features_suite
    previous = PROJECT_ROOT / "build" / "expectations-previous"
    for path in write_suites((raw, features), PROJECT_ROOT / "expectations", previous):
        count = len(json.loads(path.read_text())["expectations"])
        print(f"Drafted {path.relative_to(PROJECT_ROOT)}: {count} expectations")
    print(
        f"Review them (git diff expectations/) before training; the suites they replaced are in "
        f"{previous.relative_to(PROJECT_ROOT)}/."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
