"""Processing job: clean the raw customer table, split it, and fit the feature transform.

    python -m <package>.preprocess --input-dir IN --output-dir OUT --target-column churned \\
        --problem-type binary_classification --sensitive-columns gender \\
        --validation-fraction 0.15 --test-fraction 0.15 --seed 42

Reads every CSV file under IN and writes under OUT:

    train/train.csv, validation/validation.csv, test/test.csv   cleaned rows, every column
    transform/feature_transform.json                            fitted on the train split
    baseline/statistics.json, baseline/constraints.json         data-quality baseline of the
                                                                model's raw inputs (train split)

Sensitive columns stay in the splits for bias analysis but never become model features.
"""

import argparse
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from . import exit_message
from .baseline import write_baseline
from .features import FILE_NAME, FeatureTransform, parse_numbers, read_csv_dir
from .metrics import PROBLEM_TYPES


def clean(
    table: pd.DataFrame, target_column: str, problem_type: str
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Drop rows without a target and exact duplicates, and give every column one type.

    Returns the cleaned table and how many rows each step dropped.
    """
    if table.empty:
        raise ValueError("the input holds no rows")
    if target_column not in table.columns:
        raise ValueError(
            f"target column {target_column!r} not found; columns are: {', '.join(table.columns)}"
        )
    labelled = table.dropna(subset=[target_column]).copy()
    if labelled.empty:
        raise ValueError(f"no row has a value in the target column {target_column!r}")
    labelled[target_column] = _labels(labelled[target_column], problem_type)
    for column in labelled.columns.drop(target_column):
        labelled[column] = _one_type(labelled[column])
    cleaned = labelled.drop_duplicates()
    dropped = {
        "without target": len(table) - len(labelled),
        "duplicates": len(labelled) - len(cleaned),
    }
    return cleaned.reset_index(drop=True), dropped


def split(
    table: pd.DataFrame,
    target_column: str,
    problem_type: str,
    validation_fraction: float,
    test_fraction: float,
    seed: int,
) -> dict[str, pd.DataFrame]:
    """Split into train, validation and test; stratified on the label for classification."""

    def stratify(part: pd.DataFrame) -> pd.Series | None:
        return part[target_column] if problem_type == "binary_classification" else None

    try:
        rest, test = train_test_split(
            table, test_size=test_fraction, stratify=stratify(table), random_state=seed
        )
        train, validation = train_test_split(
            rest,
            test_size=validation_fraction / (1 - test_fraction),
            stratify=stratify(rest),
            random_state=seed,
        )
    except ValueError as error:
        raise ValueError(f"cannot split {len(table)} rows three ways: {error}") from error
    return {"train": train, "validation": validation, "test": test}


def _labels(values: pd.Series, problem_type: str) -> pd.Series:
    numbers = parse_numbers(values)
    if problem_type == "regression":
        return numbers.astype("float64")
    unexpected = numbers[~numbers.isin([0, 1])]
    if len(unexpected):
        examples = ", ".join(str(value) for value in values[unexpected.index].unique()[:3])
        raise ValueError(
            f"target column {values.name!r} must hold 0 or 1 for binary_classification,"
            f" found {examples}"
        )
    if numbers.nunique() < 2:
        raise ValueError(
            f"target column {values.name!r} holds only {numbers.iloc[0]:g}: a binary"
            " classifier needs examples of both 0 and 1"
        )
    return numbers.astype("int64")


def _one_type(values: pd.Series) -> pd.Series:
    """Numbers for a column whose values are mostly numbers (the rest is an error), else text."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype("int64")
    if pd.api.types.is_numeric_dtype(values):
        return values
    present = values.notna().sum()
    if pd.to_numeric(values, errors="coerce").notna().sum() > present / 2:
        return parse_numbers(values)
    return values.astype("str")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--input-dir", type=Path, nargs="+", required=True, help="read as one table"
    )
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--target-column", required=True)
    parser.add_argument("--problem-type", choices=PROBLEM_TYPES, required=True)
    parser.add_argument(
        "--sensitive-columns", nargs="*", default=[], help="kept in the splits, never features"
    )
    parser.add_argument("--validation-fraction", type=float, default=0.15)
    parser.add_argument("--test-fraction", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    if not (args.validation_fraction > 0 and args.test_fraction > 0):
        parser.error("--validation-fraction and --test-fraction must be above 0")
    if args.validation_fraction + args.test_fraction >= 1:
        parser.error("--validation-fraction and --test-fraction must leave rows to train on")

    raw = read_csv_dir(*args.input_dir)
    missing = [column for column in args.sensitive_columns if column not in raw.columns]
    if missing:
        raise ValueError(f"sensitive columns not found in the input: {', '.join(missing)}")
    table, dropped = clean(raw, args.target_column, args.problem_type)
    splits = split(
        table,
        args.target_column,
        args.problem_type,
        args.validation_fraction,
        args.test_fraction,
        args.seed,
    )
    transform = FeatureTransform.fit(
        splits["train"], exclude=[args.target_column, *args.sensitive_columns]
    )

    for name, part in splits.items():
        (args.output_dir / name).mkdir(parents=True, exist_ok=True)
        part.to_csv(args.output_dir / name / f"{name}.csv", index=False)
    (args.output_dir / "transform").mkdir(parents=True, exist_ok=True)
    transform.save(args.output_dir / "transform" / FILE_NAME)
    write_baseline(splits["train"][transform.raw_columns], args.output_dir / "baseline")

    print(
        f"read {len(raw)} rows, dropped {dropped['without target']} rows without a label in"
        f" {args.target_column!r} and {dropped['duplicates']} duplicates"
    )
    for name, part in splits.items():
        balance = ""
        if args.problem_type == "binary_classification":
            balance = f", {part[args.target_column].mean():.1%} positive"
        print(f"{name}: {len(part)} rows{balance}")
    print(f"{len(transform.feature_names)} features from {', '.join(transform.raw_columns)}")


if __name__ == "__main__":
    exit_message.run(main)
