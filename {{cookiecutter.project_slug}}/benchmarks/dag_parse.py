"""How long Airflow takes to parse the training DAG file, against an empty DAG file.

    python -m benchmarks.dag_parse [--repeat 7] [--json FILE]

Airflow's DAG processor parses every DAG file again and again, so a DAG file must stay cheap to
import: no heavy library at parse time. Each measurement runs the file with ``runpy.run_path`` in
a fresh interpreter (Airflow configured for this project) and times the run inside it. The
baseline is a DAG file with the same ``airflow.sdk`` imports as the training DAG and no tasks;
the ratio is what the DAG's own imports, config and tasks add. After parsing, none of the job
libraries (pandas, scikit-learn, xgboost, Great Expectations, the SageMaker SDK) may be loaded:
the command fails if one is.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks import measure
from tools.airflow_env import airflow_environment
from tools.project import PROJECT_ROOT, config

HEAVY_MODULES = ("pandas", "sklearn", "xgboost", "great_expectations", "sagemaker")
PROBE = """
import json, runpy, sys, time
started = time.perf_counter()
runpy.run_path(sys.argv[1])
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "loaded": [m for m in sys.argv[2:] if m in sys.modules]}))
"""
EMPTY_DAG = """
from datetime import datetime

with DAG(dag_id="empty", schedule=None, start_date=datetime(2026, 1, 1)):
    pass
"""


def empty_dag_source(dag_file: Path) -> str:
    """The DAG file's ``from airflow.sdk import ...`` statements and a DAG without tasks."""
    imports = [
        ast.unparse(node)
        for node in ast.parse(dag_file.read_text()).body
        if isinstance(node, ast.ImportFrom) and node.module == "airflow.sdk"
    ]
    return "\n".join(imports) + "\n" + EMPTY_DAG


def parse(dag_file: Path, env: dict[str, str]) -> dict:
    """Seconds to run ``dag_file`` in a fresh interpreter, and the heavy modules it loaded."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(dag_file), *HEAVY_MODULES],
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"parsing {dag_file} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    args = measure.arguments(__doc__, repeat=7).parse_args(argv)
    dag_file = PROJECT_ROOT / "dags" / f"{config().package}_training.py"
    timings = {"training": [], "empty": []}
    with tempfile.TemporaryDirectory(prefix="bench-dag-parse-") as tmp:
        env = {
            **os.environ,
            **airflow_environment(Path(tmp) / "airflow", endpoint_url="http://127.0.0.1:1"),
        }
        empty_file = Path(tmp) / "empty_dag.py"
        empty_file.write_text(empty_dag_source(dag_file))
        files = {"training": dag_file, "empty": empty_file}
        # Untimed: the first import writes airflow.cfg and the bytecode caches.
        loaded = {kind: parse(path, env)["loaded"] for kind, path in files.items()}
        for _ in range(args.repeat):
            for kind, path in files.items():
                timings[kind].append(parse(path, env)["seconds"])

    pairs = zip(timings["training"], timings["empty"], strict=True)
    results = {
        "training_dag_seconds": measure.summary(timings["training"]),
        "empty_dag_seconds": measure.summary(timings["empty"]),
        "ratio": measure.summary([training / empty for training, empty in pairs]),
        "heavy_modules_loaded": loaded["training"],
    }
    lines = [
        measure.line(f"parse {dag_file.name}", results["training_dag_seconds"]),
        measure.line("parse an empty DAG, same airflow.sdk imports", results["empty_dag_seconds"]),
        measure.line("ratio training / empty", results["ratio"], unit="x"),
        "heavy modules loaded after parsing: "
        + (", ".join(loaded["training"]) or f"none of {', '.join(HEAVY_MODULES)}"),
    ]
    measure.report(args, "DAG parse", results, lines)
    return 1 if loaded["training"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
