"""What every benchmark shares: its command line, timing, medians and the JSON it writes."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
from pathlib import Path


def arguments(doc: str, repeat: int) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument(
        "--repeat", type=int, default=repeat, help=f"measurements of each kind (default {repeat})"
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    return parser


def run(argv: list[str], **kwargs) -> float:
    """Run a command to the end; return its wall seconds. A failure shows the command's output."""
    started = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited with {result.returncode}:\n"
            f"{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    return seconds


def summary(values: list[float]) -> dict:
    """Median, min and max of a series of seconds (or ratios), and the values themselves."""
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "values": [round(value, 3) for value in values],
    }


def line(label: str, values: dict, unit: str = "s") -> str:
    return (
        f"  {label:<46} median {values['median']:8.2f} {unit}"
        f"  (min {values['min']:.2f}, max {values['max']:.2f})"
    )


def target(what: str, median: float, limit: float) -> str:
    """The verdict line of a target: ``what`` under ``limit`` seconds, judged on the median."""
    return f"  target: {what} under {limit:.0f} s: " + ("met" if median < limit else "MISSED")


def report(args: argparse.Namespace, name: str, results: dict, lines: list[str]) -> None:
    """Print the human summary; write the results (and the machine's load) as JSON if asked."""
    load = [round(value, 2) for value in os.getloadavg()]
    print(f"\n{name} (repeat {args.repeat}; load average {' '.join(map(str, load))})")
    print("\n".join(lines))
    if args.json:
        document = {
            "benchmark": name,
            "repeat": args.repeat,
            "cpus": os.cpu_count(),
            "load_average": load,
            **results,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        print(f"(written to {args.json})")
