"""The table of metrics (``metrics.csv`` beside this file), as the jobs read it.

One row per metric: the problem type it belongs to, whether higher is better, the thresholds
the gate accepts for it (empty: not a gate metric), the XGBoost evaluation metric that reports
it during training, whether early stopping watches it by default, and the regex that reads it
from the training log (``{split}`` stands for ``train`` or ``validation``). The Airflow side
(gate, ``MetricDefinitions``; it also checks every row) and ``train.py`` read this one file, as
the template's answer checks read the table it was made from, so a problem type brings its
metrics with it.
"""

import csv
from pathlib import Path

TABLE = Path(__file__).with_name("metrics.csv")


def read_table(path: Path = TABLE) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


PROBLEM_TYPES = tuple(dict.fromkeys(row["problem_type"] for row in read_table()))


def eval_metrics(problem_type: str, early_stopping_metric: str | None = None) -> list[str]:
    """The XGBoost evaluation metrics to log; the one early stopping watches comes last.

    XGBoost stops early on the last metric of its list. By default that is the problem type's
    row marked ``early_stopping`` (logloss, rmse: they keep improving where AUC saturates).
    """
    rows = [row for row in read_table() if row["problem_type"] == problem_type]
    logged = [row["xgboost_eval_metric"] for row in rows if row["xgboost_eval_metric"]]
    default = [row["xgboost_eval_metric"] for row in rows if row["early_stopping"] == "yes"]
    watched = early_stopping_metric or (default[0] if default else None)
    if watched not in logged:
        raise ValueError(
            f"early stopping metric {watched!r} is not one XGBoost logs for {problem_type}; "
            f"expected one of {', '.join(logged)}"
        )
    return [name for name in logged if name != watched] + [watched]
