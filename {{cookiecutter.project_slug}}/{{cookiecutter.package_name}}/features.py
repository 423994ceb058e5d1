"""The feature transform: raw customer columns in, model input matrix out.

Fitted once on the training split and saved as ``feature_transform.json`` next to the model, so
training, evaluation and the endpoint turn raw rows into features the same way. It is a few
numbers and category lists, readable in a code review, with no pickled objects:

- numeric columns: missing values become the training median;
- categorical columns: one 0/1 column per training category; a category never seen in training
  (or a missing value) sets them all to 0;
- output columns in a fixed order: raw columns in training order, each category after its column.

It also reads the CSV files a job finds in an input directory, for every job alike.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

FILE_NAME = "feature_transform.json"


@dataclass(frozen=True)
class FeatureTransform:
    """Imputation values and category lists learnt from the training split."""

    numeric: dict[str, float]
    categorical: dict[str, list[str]]
    raw_columns: list[str]

    @classmethod
    def fit(cls, table: pd.DataFrame, exclude: list[str]) -> "FeatureTransform":
        """Learn the transform from every column of ``table`` not in ``exclude``."""
        raw_columns = [column for column in table.columns if column not in exclude]
        if not raw_columns:
            raise ValueError("no feature columns left besides the target and excluded columns")
        numeric, categorical = {}, {}
        for column in raw_columns:
            values = table[column]
            if pd.api.types.is_numeric_dtype(values):
                median = values.median()
                numeric[column] = 0.0 if pd.isna(median) else float(median)
            else:
                categorical[column] = sorted(values.dropna().astype(str).unique())
        return cls(numeric, categorical, raw_columns)

    @property
    def feature_names(self) -> list[str]:
        """Names of the model's input columns, in order."""
        names = []
        for column in self.raw_columns:
            if column in self.numeric:
                names.append(column)
            else:
                names += [_indicator(column, category) for category in self.categorical[column]]
        return names

    def transform(self, table: pd.DataFrame) -> pd.DataFrame:
        """Return the model input for ``table``; columns other than the raw features are ignored."""
        return pd.DataFrame(self.matrix(table), columns=self.feature_names, index=table.index)

    def matrix(self, table: pd.DataFrame) -> np.ndarray:
        """The model input for ``table`` as a float32 array (what serving predicts on)."""
        missing = [column for column in self.raw_columns if column not in table.columns]
        if missing:
            raise ValueError(f"missing feature columns: {', '.join(missing)}")
        matrix = np.empty((len(table), len(self.feature_names)), dtype=np.float32)
        position = 0
        for column in self.raw_columns:
            if column in self.numeric:
                numbers = parse_numbers(table[column]).to_numpy(dtype=np.float64, na_value=np.nan)
                filled = np.where(np.isnan(numbers), self.numeric[column], numbers)
                if not (np.abs(filled) <= _FLOAT32_MAX).all():  # inf, or beyond float32
                    raise ValueError(
                        f"column {column!r} holds an infinite value or one too large for the "
                        "model (float32)"
                    )
                matrix[:, position] = filled
                position += 1
            else:
                values = table[column].astype(str).to_numpy()
                for category in self.categorical[column]:
                    matrix[:, position] = values == category
                    position += 1
        return matrix

    def save(self, path: Path) -> None:
        features = [
            {"name": column, "type": "numeric", "fill_value": self.numeric[column]}
            if column in self.numeric
            else {"name": column, "type": "categorical", "categories": self.categorical[column]}
            for column in self.raw_columns
        ]
        path.write_text(json.dumps({"features": features}, indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> "FeatureTransform":
        features = json.loads(path.read_text())["features"]
        return cls(
            numeric={f["name"]: f["fill_value"] for f in features if f["type"] == "numeric"},
            categorical={
                f["name"]: f["categories"] for f in features if f["type"] == "categorical"
            },
            raw_columns=[f["name"] for f in features],
        )


def read_csv_dir(*directories: Path) -> pd.DataFrame:
    """Read every CSV file under the ``directories``, as a job finds them in its inputs, into
    one table. A directory may also be one CSV file, read the same way.
    """
    paths = []
    for directory in directories:
        found = [directory] if directory.is_file() else sorted(directory.rglob("*.csv"))
        if not found:
            raise ValueError(f"no CSV files under {directory}")
        paths += found
    tables = []
    for path in paths:
        try:
            tables.append(pd.read_csv(path))
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
            raise ValueError(f"cannot read {path} as CSV: {error}") from error
        if set(tables[-1].columns) != set(tables[0].columns):
            raise ValueError(
                f"{path} has columns {list(tables[-1].columns)}"
                f" but {paths[0]} has {list(tables[0].columns)}"
            )
    return pd.concat(tables, ignore_index=True)


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def parse_numbers(values: pd.Series) -> pd.Series:
    """Convert ``values`` to numbers; anything present that is not a number is an error."""
    if pd.api.types.is_numeric_dtype(values):
        return values
    numbers = pd.to_numeric(values, errors="coerce")
    junk = values[numbers.isna() & values.notna()]
    if len(junk):
        examples = ", ".join(repr(value) for value in junk.astype(str).unique()[:3])
        raise ValueError(
            f"column {values.name!r} should hold numbers but {len(junk)} value(s) are not,"
            f" e.g. {examples}"
        )
    return numbers


def _indicator(column: str, category: str) -> str:
    """Name of the 0/1 column that marks ``category`` of ``column``."""
    return f"{column}={category}"
