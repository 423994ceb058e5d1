"""How long baking the template takes, through cookiecutter's Python API and its command line.

    python benchmarks/bake.py [--repeat 5] [--json FILE]

Each round bakes the template with the default answers into a new temporary folder, once with
``cookiecutter.main.cookiecutter`` in this process and once with the ``cookiecutter`` command (a
new interpreter, as a user runs it); both include the hooks. Baseline: copying the template
folder with ``shutil.copytree``, so the ratio is what rendering, the hooks and (for the command)
starting Python add to moving the files. Target: a bake under 2 s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
PROJECT_FOLDER = TEMPLATE / "{{cookiecutter.project_slug}}"
TARGET_SECONDS = 2.0


def copy(output_dir: Path) -> None:
    shutil.copytree(PROJECT_FOLDER, output_dir / PROJECT_FOLDER.name)


def bake_api(output_dir: Path) -> None:
    with hooks_silenced():
        cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(output_dir))


@contextlib.contextmanager
def hooks_silenced():
    """Send this process's standard output, which the hooks inherit, to /dev/null."""
    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def bake_cli(output_dir: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(output_dir), str(TEMPLATE)],
        check=True,
        capture_output=True,
    )


def timed(action, output_dir: Path) -> float:
    started = time.perf_counter()
    action(output_dir)
    return time.perf_counter() - started


def summary(values: list[float]) -> dict:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "values": [round(value, 3) for value in values],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="bakes of each kind (default 5)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)

    actions = {"copytree": copy, "api": bake_api, "cli": bake_cli}
    timings = {name: [] for name in actions}
    with tempfile.TemporaryDirectory(prefix="bench-bake-") as tmp:
        for round_number in range(args.repeat):
            for name, action in actions.items():
                timings[name].append(timed(action, Path(tmp) / f"{name}-{round_number}"))

    results = {f"{name}_seconds": summary(values) for name, values in timings.items()}
    for name in ("api", "cli"):
        pairs = zip(timings[name], timings["copytree"], strict=True)
        results[f"{name}_ratio"] = summary([bake / copied for bake, copied in pairs])
    results["target_seconds"] = TARGET_SECONDS

    load = [round(value, 2) for value in os.getloadavg()]
    print(f"bake (repeat {args.repeat}; load average {' '.join(map(str, load))})")
    labels = {
        "copytree": "baseline: shutil.copytree of the template",
        "api": "cookiecutter() in this process",
        "cli": "cookiecutter command",
    }
    for name, label in labels.items():
        values = results[f"{name}_seconds"]
        ratio = results.get(f"{name}_ratio")
        print(
            f"  {label:<42} median {values['median']:7.3f} s (min {values['min']:.3f},"
            f" max {values['max']:.3f})" + (f"  {ratio['median']:.0f}x the copy" if ratio else "")
        )
    worst = max(results["api_seconds"]["median"], results["cli_seconds"]["median"])
    verdict = "met" if worst < TARGET_SECONDS else "MISSED"
    print(f"  target: bake under {TARGET_SECONDS:.0f} s: {verdict}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {"benchmark": "bake", "repeat": args.repeat, "load_average": load, **results},
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
