"""Processing job: score the trained model on the test split.

    python -m <package>.evaluate --model-dir MODEL --test-dir TEST --output-dir OUT \\
        --target-column churned --problem-type binary_classification

MODEL holds ``model.tar.gz`` as the training job left it; predictions go through the endpoint's
own handlers (inference.py). OUT receives:

    evaluation.json   SageMaker's model-quality metrics, the shape Model Monitor writes and the
                      Model Registry shows: {"binary_classification_metrics": {...}} or
                      {"regression_metrics": {...}}, each metric {"value", "standard_deviation"}
    evaluation.html   the same metrics with a chart, self-contained (opens offline)

Like Model Monitor, the standard deviation of a metric is its spread over five random 80%
samples of the test rows, and it is "NaN" with fewer than 200 rows.
"""

import argparse
import html
import json
import tarfile
import tempfile
from pathlib import Path

import numpy as np
from sklearn import metrics

from . import exit_message
from .features import read_csv_dir
from .inference import model_fn, predict_fn
from .metrics import PROBLEM_TYPES

THRESHOLD = 0.5
SPREAD_MIN_ROWS, SPREAD_SAMPLES, SPREAD_FRACTION = 200, 5, 0.8
CURVE_POINTS = 200
_STYLE = """
body { font: 15px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 52rem; color: #222; }
table { border-collapse: collapse; margin-bottom: 1.5rem; }
th, td { padding: .25rem .8rem; border-bottom: 1px solid #ddd; text-align: right; }
th { text-align: left; font-weight: 500; }
thead th { text-align: right; }
thead th:first-child { text-align: left; }
.charts { display: flex; flex-wrap: wrap; gap: 2rem; align-items: flex-start; }
figure { margin: 0 0 1.5rem; }
figcaption { font-weight: 600; margin-bottom: .5rem; }
svg text { font-size: 12px; fill: #444; }
"""


def binary_classification_metrics(labels: np.ndarray, scores: np.ndarray, seed: int = 0) -> dict:
    """Model Monitor's binary classification metrics, predicting 1 from a score of 0.5 up.

    ``confusion_matrix[actual][predicted]`` counts rows; curves run from the strictest threshold.
    """
    if len(np.unique(labels)) < 2:
        raise ValueError("the test split holds one class only: its AUC is undefined")
    tn, fp, fn, tp = _confusion(labels, scores)
    fpr, tpr, _ = metrics.roc_curve(labels, scores)
    precisions, recalls, _ = metrics.precision_recall_curve(labels, scores)
    curves = {
        "receiver_operating_characteristic_curve": {
            "false_positive_rates": _thin(fpr),
            "true_positive_rates": _thin(tpr),
        },
        "precision_recall_curve": {
            "precisions": _thin(precisions[::-1]),
            "recalls": _thin(recalls[::-1]),
        },
    }
    return {
        "confusion_matrix": {"0": {"0": tn, "1": fp}, "1": {"0": fn, "1": tp}},
        **_with_spread(_binary_scalars, labels, scores, seed),
        **curves,
    }


def regression_metrics(actual: np.ndarray, predicted: np.ndarray, seed: int = 0) -> dict:
    """Model Monitor's regression metrics."""
    return _with_spread(_regression_scalars, actual, predicted, seed)


def _confusion(labels: np.ndarray, scores: np.ndarray) -> tuple[int, int, int, int]:
    """True negatives, false positives, false negatives and true positives at THRESHOLD."""
    actual, predicted = labels == 1, scores >= THRESHOLD
    return (
        int(np.sum(~actual & ~predicted)),
        int(np.sum(~actual & predicted)),
        int(np.sum(actual & ~predicted)),
        int(np.sum(actual & predicted)),
    )


def _binary_scalars(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    tn, fp, fn, tp = _confusion(labels, scores)
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    positive_rate = (tp + fn) / len(labels)
    # The best constant classifier predicts 1 for everyone, as in SageMaker's documentation.
    values = {
        "recall": recall,
        "precision": precision,
        "accuracy": (tp + tn) / len(labels),
        "recall_best_constant_classifier": 1.0,
        "precision_best_constant_classifier": positive_rate,
        "accuracy_best_constant_classifier": positive_rate,
        "true_positive_rate": recall,
        "true_negative_rate": _ratio(tn, tn + fp),
        "false_positive_rate": _ratio(fp, fp + tn),
        "false_negative_rate": _ratio(fn, fn + tp),
        "auc": metrics.roc_auc_score(labels, scores) if 0 < positive_rate < 1 else np.nan,
    }
    for name, beta in (("f0_5", 0.5), ("f1", 1.0), ("f2", 2.0)):
        values[name] = _f_score(precision, recall, beta)
        values[f"{name}_best_constant_classifier"] = _f_score(positive_rate, 1.0, beta)
    return values


def _regression_scalars(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    mse = metrics.mean_squared_error(actual, predicted)
    return {
        "mae": metrics.mean_absolute_error(actual, predicted),
        "mse": mse,
        "rmse": np.sqrt(mse),
        "r2": metrics.r2_score(actual, predicted),
    }


def _with_spread(scalars_of, actual: np.ndarray, predicted: np.ndarray, seed: int) -> dict:
    """Each metric's value, and its standard deviation over random 80% samples of the rows."""
    values = scalars_of(actual, predicted)
    spreads = dict.fromkeys(values, "NaN")
    if len(actual) >= SPREAD_MIN_ROWS:
        rng = np.random.default_rng(seed)
        size = int(SPREAD_FRACTION * len(actual))
        samples = []
        for _ in range(SPREAD_SAMPLES):
            rows = rng.choice(len(actual), size=size, replace=False)
            samples.append(scalars_of(actual[rows], predicted[rows]))
        for name in values:
            spread = float(np.std([sample[name] for sample in samples], ddof=1))
            spreads[name] = spread if np.isfinite(spread) else "NaN"
    return {
        name: {"value": float(value), "standard_deviation": spreads[name]}
        for name, value in values.items()
    }


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator else 0.0


def _f_score(precision: float, recall: float, beta: float) -> float:
    return _ratio((1 + beta**2) * precision * recall, beta**2 * precision + recall)


def _thin(values: np.ndarray) -> list[float]:
    """At most CURVE_POINTS evenly spaced points of a curve, keeping both ends."""
    keep = np.unique(np.linspace(0, len(values) - 1, min(len(values), CURVE_POINTS)).round())
    return [float(value) for value in values[keep.astype(int)]]


def render_html(report: dict, actual: np.ndarray, predicted: np.ndarray) -> str:
    """A one-page view of ``evaluation.json``: metric table and charts, inline CSS and SVG."""
    [(section, values)] = report.items()
    rows = "".join(
        f"<tr><th>{html.escape(name)}</th><td>{metric['value']:.4f}</td>"
        f"<td>{_format_spread(metric['standard_deviation'])}</td></tr>"
        for name, metric in values.items()
        if "value" in metric
    )
    if section == "binary_classification_metrics":
        roc = values["receiver_operating_characteristic_curve"]
        curve = zip(roc["false_positive_rates"], roc["true_positive_rates"], strict=True)
        matrix = values["confusion_matrix"]
        figures = (
            "<figure><figcaption>ROC curve</figcaption>"
            + _svg_chart("False positive rate", "True positive rate", (0.0, 1.0), line=list(curve))
            + f"</figure><figure><figcaption>Confusion matrix, threshold {THRESHOLD}</figcaption>"
            + "<table><thead><tr><th></th><th>predicted 0</th><th>predicted 1</th></tr></thead>"
            + "".join(
                f"<tr><th>actual {label}</th><td>{matrix[label]['0']}</td>"
                f"<td>{matrix[label]['1']}</td></tr>"
                for label in ("0", "1")
            )
            + "</table></figure>"
        )
    else:
        both = np.concatenate([actual, predicted])
        shown = np.random.default_rng(0).permutation(len(actual))[:2000]
        points = zip(actual[shown].tolist(), predicted[shown].tolist(), strict=True)
        figures = (
            "<figure><figcaption>Predicted against actual</figcaption>"
            + _svg_chart("Actual", "Predicted", (both.min(), both.max()), dots=list(points))
            + "</figure>"
        )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Model evaluation</title>
<style>{_STYLE}</style></head><body>
<h1>Model evaluation</h1>
<p>{len(actual)} test rows, {section.replace("_", " ")}.</p>
<div class="charts">{figures}</div>
<table><thead><tr><th>metric</th><th>value</th><th>standard deviation</th></tr></thead>
{rows}</table>
</body></html>
"""


def _format_spread(spread: float | str) -> str:
    return f"{spread:.4f}" if isinstance(spread, float) else "n/a under 200 rows"


def _svg_chart(
    x_label: str,
    y_label: str,
    limits: tuple[float, float],
    line: list[tuple[float, float]] | None = None,
    dots: list[tuple[float, float]] | None = None,
) -> str:
    """A square chart with the same ``limits`` on both axes and the diagonal dashed."""
    low, high = float(limits[0]), float(limits[1])
    span = (high - low) or 1.0
    size, left, bottom, top, right = 300, 64, 44, 8, 24

    def x(value: float) -> float:
        return round(left + (value - low) / span * size, 1)

    def y(value: float) -> float:
        return round(top + size - (value - low) / span * size, 1)

    ticks = [low + span * step / 4 for step in range(5)]
    labels = [f"{tick:,.0f}" if span >= 20 else f"{tick:g}" for tick in ticks]
    parts = [
        f'<rect x="{left}" y="{top}" width="{size}" height="{size}" fill="none" stroke="#999"/>',
        f'<line x1="{x(low)}" y1="{y(low)}" x2="{x(high)}" y2="{y(high)}" stroke="#bbb"'
        ' stroke-dasharray="4 4"/>',
    ]
    for tick, label in zip(ticks, labels, strict=True):
        parts.append(
            f'<text x="{x(tick)}" y="{top + size + 16}" text-anchor="middle">{label}</text>'
        )
        parts.append(f'<text x="{left - 6}" y="{y(tick) + 4}" text-anchor="end">{label}</text>')
    parts += [
        f'<text x="{left + size / 2}" y="{top + size + 36}" text-anchor="middle">{x_label}</text>',
        f'<text transform="translate(14 {top + size / 2}) rotate(-90)" text-anchor="middle">'
        f"{y_label}</text>",
    ]
    if line:
        points = " ".join(f"{x(a)},{y(b)}" for a, b in line)
        parts.append(f'<polyline points="{points}" fill="none" stroke="#1f6feb" stroke-width="2"/>')
    for a, b in dots or []:
        parts.append(f'<circle cx="{x(a)}" cy="{y(b)}" r="2" fill="#1f6feb" fill-opacity=".35"/>')
    width, height = left + size + right, top + size + bottom
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" role="img">{"".join(parts)}</svg>'
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, required=True, help="holds model.tar.gz")
    parser.add_argument("--test-dir", type=Path, required=True)
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--target-column", required=True)
    parser.add_argument("--problem-type", choices=PROBLEM_TYPES, required=True)
    args = parser.parse_args(argv)

    test = read_csv_dir(args.test_dir)
    if args.target_column not in test.columns:
        raise ValueError(f"the test split has no target column {args.target_column!r}")
    archive = args.model_dir / "model.tar.gz"
    if not archive.is_file():
        raise ValueError(f"no model.tar.gz in {args.model_dir}")
    with tempfile.TemporaryDirectory() as model_dir:
        with tarfile.open(archive) as tar:
            tar.extractall(model_dir, filter="data")
        model = model_fn(model_dir)
    if model.info["problem_type"] != args.problem_type:
        raise ValueError(
            f"the model was trained for {model.info['problem_type']}, not {args.problem_type}"
        )
    predicted = predict_fn(test, model)
    actual = test[args.target_column].to_numpy()

    if args.problem_type == "binary_classification":
        values = binary_classification_metrics(actual, predicted)
    else:
        values = regression_metrics(actual, predicted)
    report = {f"{args.problem_type}_metrics": values}
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "evaluation.json").write_text(
        json.dumps(report, indent=2, allow_nan=False) + "\n"
    )
    (args.output_dir / "evaluation.html").write_text(render_html(report, actual, predicted))
    for name, metric in values.items():
        if "value" in metric:
            spread = _format_spread(metric["standard_deviation"])
            print(f"{name}: {metric['value']:.4f} (standard deviation {spread})")


if __name__ == "__main__":
    exit_message.run(main)
