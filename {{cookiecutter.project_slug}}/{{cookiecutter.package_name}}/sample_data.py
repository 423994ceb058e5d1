"""Synthetic customer table for demos and tests: deterministic, offline, any size.

Each row is a customer with a few numeric and categorical attributes, a sensitive attribute
(``gender``) that really moves the label a little, so bias checks have something to find, and
the label: churned (0/1) for ``binary_classification`` or lifetime value for ``regression``.
``drift`` (0 to 1) moves the numeric distributions and the category mix and weakens the label's
relationship to the features, to exercise drift detection.

    python -m <package>.sample_data --rows 10000 --problem-type binary_classification \\
        --target-column churned --seed 0 --drift 0.0 --output data.csv

Rows are generated in chunks, each from its own seeded random stream, so ten million rows
stream to CSV in bounded memory and the same arguments always give the same bytes.
"""

import argparse
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from .metrics import PROBLEM_TYPES

CONTRACT_TYPES = ("month-to-month", "one-year", "two-year")
PAYMENT_METHODS = ("card", "bank-transfer", "electronic-check", "mailed-check")
REGIONS = ("north", "south", "east", "west")
GENDERS = ("female", "male")
CHUNK_ROWS = 200_000


def generate(
    rows: int, problem_type: str, target_column: str, seed: int = 0, drift: float = 0.0
) -> pd.DataFrame:
    """Return ``rows`` customers with the label in ``target_column``."""
    return pd.concat(iter_chunks(rows, problem_type, target_column, seed, drift), ignore_index=True)


def iter_chunks(
    rows: int, problem_type: str, target_column: str, seed: int = 0, drift: float = 0.0
) -> Iterator[pd.DataFrame]:
    """The table of :func:`generate` in chunks of at most ``CHUNK_ROWS`` rows."""
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    if problem_type not in PROBLEM_TYPES:
        raise ValueError(f"problem_type must be one of {PROBLEM_TYPES}, got {problem_type!r}")
    if not 0.0 <= drift <= 1.0:
        raise ValueError(f"drift must be between 0 and 1, got {drift}")
    return (
        _customers(
            min(CHUNK_ROWS, rows - start),
            problem_type,
            target_column,
            drift,
            np.random.default_rng([seed, index]),
        )
        for index, start in enumerate(range(0, rows, CHUNK_ROWS))
    )


def write_csv(
    path: Path,
    rows: int,
    problem_type: str,
    target_column: str,
    seed: int = 0,
    drift: float = 0.0,
) -> None:
    """Stream the generated table to a CSV file, one chunk at a time."""
    chunks = iter_chunks(rows, problem_type, target_column, seed, drift)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as file:
        for index, chunk in enumerate(chunks):
            chunk.to_csv(file, header=index == 0, index=False)


def _customers(
    rows: int, problem_type: str, target_column: str, drift: float, rng: np.random.Generator
) -> pd.DataFrame:
    def mix(base: list[float], drifted: list[float]) -> np.ndarray:
        return (1 - drift) * np.array(base) + drift * np.array(drifted)

    contract = rng.choice(3, rows, p=mix([0.55, 0.25, 0.20], [0.75, 0.15, 0.10]))
    payment = rng.choice(4, rows, p=mix([0.30, 0.25, 0.30, 0.15], [0.15, 0.15, 0.55, 0.15]))
    region = rng.choice(4, rows, p=mix([0.25, 0.25, 0.25, 0.25], [0.40, 0.20, 0.20, 0.20]))
    male = rng.random(rows) < 0.5
    month_to_month, two_year, electronic_check = contract == 0, contract == 2, payment == 2

    mean_tenure = np.array([14.0, 30.0, 46.0])[contract] * (1 - 0.4 * drift)
    tenure = np.clip(np.rint(rng.gamma(2.0, mean_tenure / 2)), 0, 72).astype(np.int64)
    charges = np.clip(rng.normal(68 + 15 * drift, 22, rows) + 8 * electronic_check, 18, 120)
    charges = charges.round(2)
    calls = np.clip(rng.poisson(1.2 + 1.5 * drift + 0.6 * month_to_month), 0, 10)

    if problem_type == "binary_classification":
        log_odds = (
            -2.9
            + 1.4 * month_to_month
            - 1.0 * two_year
            - 0.045 * (tenure - 20)
            + 0.025 * (charges - 68)
            + 0.35 * calls
            + 0.6 * electronic_check
            + 0.4 * male
        )
        churn_probability = 1 / (1 + np.exp(-(1 - 0.3 * drift) * log_odds))
        label = (rng.random(rows) < churn_probability).astype(np.int64)
    else:
        expected_months = np.array([6.0, 18.0, 36.0])[contract] * np.exp(-0.12 * calls)
        expected_months += 0.5 * tenure
        value = charges * expected_months * np.exp(0.25 * (payment == 1) - 0.1 * male)
        label = (value * rng.lognormal(0.0, 0.25 + 0.2 * drift, rows)).round(2)

    charges[rng.random(rows) < 0.01] = np.nan  # about 1% unknown, so imputation is exercised
    return pd.DataFrame(
        {
            "tenure_months": tenure,
            "monthly_charges": charges,
            "support_calls": calls,
            "contract_type": np.array(CONTRACT_TYPES)[contract],
            "payment_method": np.array(PAYMENT_METHODS)[payment],
            "region": np.array(REGIONS)[region],
            "gender": np.array(GENDERS)[male.astype(np.int64)],
            target_column: label,
        }
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--problem-type", choices=PROBLEM_TYPES, required=True)
    parser.add_argument("--target-column", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--drift", type=float, default=0.0, help="0 (none) to 1 (strong)")
    parser.add_argument("--output", type=Path, required=True, help="CSV file to write")
    args = parser.parse_args(argv)
    write_csv(args.output, args.rows, args.problem_type, args.target_column, args.seed, args.drift)
    print(f"wrote {args.rows} rows to {args.output}")


if __name__ == "__main__":
    main()
