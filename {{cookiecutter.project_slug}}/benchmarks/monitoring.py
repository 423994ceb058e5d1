"""Data-quality monitoring of a large window: the monitor job's work against Evidently's.

    python -m benchmarks.monitoring [--rows 1000000] [--repeat 3] [--evidently] [--json FILE]

The same data for both: a baseline and a current table of ``--rows`` rows × 20 features (15
numeric, 5 categorical). In the current one, four numeric features are shifted by one standard
deviation and one categorical feature's mix changes (clearly drifted); the other fifteen are
drawn like the baseline (clearly stable). Each measurement runs in a fresh process, so peak
memory is that process's:

- **table**: the monitor's work once the window is parsed: the current ``statistics.json``, then
  the checks and drift distances against the baseline (whose statistics, as at training, are
  not timed);
- **table+baseline**: the same, plus the baseline's statistics and constraints from its table:
  the same work as Evidently's, which reads both tables each time;
- **capture**: the same window as capture JSON lines (one CSV row a record, as an endpoint
  writes them), read, then the same work;
- **Evidently** (with ``--evidently``): ``DataDriftPreset`` on the same two tables, in an
  environment of its own (``uv run --with evidently --with 'pandas<3'``: its pins are not ours).

Reported: medians and the ratio to Evidently, whether the per-feature verdicts agree with what
was drifted, and peak memory.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import measure

NUMERIC, CATEGORICAL = 15, 5
DRIFTED = ["n0", "n1", "n2", "n3", "c0"]
EVIDENTLY = "evidently==0.7.23"
START = "2026-12-05T10:00:00+00:00"
END = "2026-12-05T11:00:00+00:00"

EVIDENTLY_WORKER = """
import json, resource, sys, time
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
folder = sys.argv[1]
reference = pd.read_parquet(f"{folder}/baseline.parquet")
current = pd.read_parquet(f"{folder}/current.parquet")
started = time.perf_counter()
result = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference).dict()
seconds = time.perf_counter() - started
drifted = []
for metric in result["metrics"]:
    config = metric["config"]
    if config.get("type", "").endswith("ValueDrift"):
        p_value = "p_value" in config["method"]
        value, threshold = metric["value"], config["threshold"]
        if (value < threshold) if p_value else (value >= threshold):
            drifted.append(config["column"])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "drifted": sorted(drifted), "peak_mb": peak}))
"""


def tables(rows: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)

    def draw(shifted: bool) -> pd.DataFrame:
        columns = {}
        for index in range(NUMERIC):
            name = f"n{index}"
            shift = 1.0 if shifted and name in DRIFTED else 0.0
            columns[name] = rng.normal(10 * index + shift * (1 + index), 1 + index, rows).round(3)
        for index in range(CATEGORICAL):
            name = f"c{index}"
            mix = [0.4, 0.3, 0.2, 0.1]
            if shifted and name in DRIFTED:
                mix = [0.1, 0.2, 0.3, 0.4]
            columns[name] = rng.choice(["a", "b", "c", "d"], rows, p=mix)
        return pd.DataFrame(columns)

    return draw(False), draw(True)


def write_capture(current: pd.DataFrame, folder: Path) -> None:
    """The window as an endpoint's capture: one record a row, CSV, in one hour's folder."""
    hour = folder / "ep" / "AllTraffic" / "2026" / "12" / "05" / "10"
    hour.mkdir(parents=True, exist_ok=True)
    lines = current.to_csv(header=False, index=False).splitlines()
    with (hour / "capture.jsonl").open("w") as out:
        for number, line in enumerate(lines):
            record = {
                "captureData": {
                    "endpointInput": {
                        "observedContentType": "text/csv",
                        "mode": "INPUT",
                        "data": line,
                        "encoding": "CSV",
                    }
                },
                "eventMetadata": {
                    "eventId": str(number),
                    "inferenceTime": f"2026-12-05T10:{number % 60:02d}:00Z",
                },
                "eventVersion": "0",
            }
            out.write(json.dumps(record) + "\n")


def worker(kind: str, folder: Path) -> dict:
    """One measurement of ours, in this process."""
    from {{ cookiecutter.package_name }} import monitor
    from {{ cookiecutter.package_name }}.baseline import compute_statistics, suggest_constraints

    baseline_statistics = json.loads((folder / "statistics.json").read_text())
    constraints = json.loads((folder / "constraints.json").read_text())
    columns = [feature["name"] for feature in baseline_statistics["features"]]
    if kind == "table+baseline":
        reference = pd.read_parquet(folder / "baseline.parquet")
        current = pd.read_parquet(folder / "current.parquet")
        started = time.perf_counter()
        baseline_statistics = compute_statistics(reference)
        constraints = suggest_constraints(baseline_statistics)
    elif kind == "table":
        current = pd.read_parquet(folder / "current.parquet")
        started = time.perf_counter()
    else:
        started = time.perf_counter()
        current = monitor.read_capture(
            folder / "capture",
            monitor._moment(START),
            monitor._moment(END),
            columns,
        )
    compute_statistics(current)
    violations, _ = monitor.check(current, baseline_statistics, constraints)
    seconds = time.perf_counter() - started
    drifted = sorted(
        v["feature_name"]
        for v in violations
        if v["constraint_check_type"] == "baseline_drift_check"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "drifted": drifted, "peak_mb": peak, "rows": len(current)}


def measure_ours(kind: str, folder: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.monitoring", "--worker", kind, "--folder", str(folder)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure_evidently(folder: Path) -> dict:
    uv = os.environ.get("UV", "uv")
    result = subprocess.run(
        [uv, "run", "--no-project", "--python", "3.11", "--with", EVIDENTLY]
        + ["--with", "pandas<3", "--with", "pyarrow", "python", "-c", EVIDENTLY_WORKER]
        + [str(folder)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"Evidently's run failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = measure.arguments(__doc__, repeat=3)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--evidently", action="store_true", help="also time Evidently's preset")
    parser.add_argument(
        "--worker", choices=["table", "table+baseline", "capture"], help=argparse_hidden()
    )
    parser.add_argument("--folder", type=Path, help=argparse_hidden())
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.folder)))
        return 0

    from {{ cookiecutter.package_name }}.baseline import write_baseline

    with tempfile.TemporaryDirectory(prefix="monitoring-bench-") as tmp:
        folder = Path(tmp)
        baseline, current = tables(args.rows)
        baseline.to_parquet(folder / "baseline.parquet")
        current.to_parquet(folder / "current.parquet")
        write_baseline(baseline, folder)  # statistics.json, constraints.json, as at training
        write_capture(current, folder / "capture")
        runs: dict[str, list[dict]] = {
            "table": [],
            "table+baseline": [],
            "capture": [],
            "Evidently": [],
        }
        for _ in range(args.repeat):
            for kind in ("table", "table+baseline", "capture"):
                runs[kind].append(measure_ours(kind, folder))
            if args.evidently:
                runs["Evidently"].append(measure_evidently(folder))
    runs = {name: series for name, series in runs.items() if series}
    results = {
        name: {
            "seconds": measure.summary([run["seconds"] for run in series]),
            "peak_mb": round(max(run["peak_mb"] for run in series), 1),
            "drifted": series[0]["drifted"],
            "verdicts_agree": series[0]["drifted"] == sorted(DRIFTED),
        }
        for name, series in runs.items()
    }
    lines = [f"{args.rows} rows × {NUMERIC + CATEGORICAL} features; drifted: {', '.join(DRIFTED)}"]
    for name, result in results.items():
        lines.append(
            f"  {name:<14} median {result['seconds']['median']:7.2f} s   peak "
            f"{result['peak_mb']:7.1f} MB   drifted: {', '.join(result['drifted']) or 'none'} "
            f"({'agrees' if result['verdicts_agree'] else 'DISAGREES'})"
        )
    if "Evidently" in results:
        for name in ("table", "table+baseline", "capture"):
            ratio = results["Evidently"]["seconds"]["median"] / results[name]["seconds"]["median"]
            results[name]["times_faster_than_evidently"] = round(ratio, 1)
            lines.append(f"  {name}: {ratio:.1f}× faster than Evidently's DataDriftPreset")
    target = results["table"]["seconds"]["median"]
    verdict = "met" if target < 3 else "MISSED"
    lines.append(f"  from the parsed table: {target:.2f} s (target < 3 s: {verdict})")
    measure.report(args, "monitoring", results, lines)
    return 0


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    sys.exit(main())
