"""The whole training DAG on the sample data, against the same five scripts run directly.

    python -m benchmarks.training_dag [--repeat 3] [--rows 10000] [--json FILE]

Each measured run is a new DAG run in a fresh interpreter, as ``make demo`` does it with
``tools.local_run``: start a local AWS on an empty state, deploy the infrastructure, upload the
data, then run the DAG to the end with ``dag.test()`` (``airflow db migrate`` and the DAG import
included). The Airflow home is shared and migrated once beforehand, as on a developer's machine
after the first ``make demo``. Each run reports its phases and every task's seconds from the
DAG run's task instances.

Baseline, in the same round: the DAG's five job scripts (data checks on the raw table,
preprocess, data checks on the features, train, evaluate) run one after the other on local files,
with the jobs' own arguments. Target: the DAG run under 90 s; the ratio says what orchestration,
S3 and the job contracts add. A second baseline says how much of that is Airflow's own: a DAG of
the same tasks, each doing nothing, run by ``dag.test()`` in a fresh interpreter too.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import direct, measure
from tools.airflow_env import airflow_environment, migrate_database
from tools.local_run import (
    AWS,
    generate_sample_data,
    local_aws,
    prepare_account,
    run_training,
    upload_training_data,
)
from tools.project import PROJECT_ROOT, config

TARGET_SECONDS = 90.0
SAMPLE_DATA = Path("raw") / "sample-data.csv"
#: The floor: the training DAG's tasks, in its order, each doing nothing.
FLOOR_DAG = """
from datetime import datetime

from airflow.sdk import DAG, chain, task

with DAG(dag_id="airflow_floor", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
    chain(*[task(task_id=name)(lambda: None)() for name in {names!r}])
"""


def floor_run(run_dir: Path, airflow_home: Path) -> dict:
    """``dag.test()`` of the training DAG's tasks doing nothing: what Airflow itself costs."""
    import importlib.util
    import os

    names = json.loads((run_dir / "tasks.json").read_text())
    dags = run_dir / "dags"
    dags.mkdir()
    (dags / "airflow_floor.py").write_text(FLOOR_DAG.format(names=names))
    environment = airflow_environment(airflow_home, "http://127.0.0.1:1", dags_folder=dags)
    os.environ.update(environment)
    migrate_database(environment)
    spec = importlib.util.spec_from_file_location("airflow_floor", dags / "airflow_floor.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    started = time.perf_counter()
    dag_run = module.dag.test()
    return {"floor_seconds": round(time.perf_counter() - started, 2), "state": str(dag_run.state)}


def one_run(data: Path, airflow_home: Path, state_dir: Path) -> dict:
    """One DAG run as ``make demo`` does it, on a local AWS with an empty state."""
    phases: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal clock
        phases[phase] = round(time.perf_counter() - clock, 2)
        clock = time.perf_counter()

    with local_aws(state_dir, endpoint_url="http://127.0.0.1:0") as endpoint_url:
        lap("start local AWS")
        aws = AWS(endpoint_url)
        inbox = prepare_account(aws)
        lap("deploy infrastructure")
        raw_data_uri = upload_training_data(aws, data)
        lap("upload data")
        outcome = run_training(aws, inbox, airflow_home, conf={"raw_data_uri": raw_data_uri})
        lap("airflow db migrate, DAG import, dag.test()")
    lap("stop local AWS")
    if not outcome.succeeded:
        raise RuntimeError(f"the DAG run {outcome.state}; failed tasks: {outcome.failed_tasks}")

    from airflow.models.dagrun import DagRun  # only now: run_training has configured Airflow

    [dag_run] = DagRun.find(dag_id=config().training_dag_id, run_id=outcome.run_id)
    instances = sorted(dag_run.get_task_instances(), key=lambda ti: ti.start_date)
    return {
        "run_id": outcome.run_id,
        "dag_test_seconds": round(outcome.seconds, 2),
        "phases": phases,
        "tasks": {ti.task_id: round(ti.duration, 2) for ti in instances},
    }


def main(argv: list[str] | None = None) -> int:
    parser = measure.arguments(__doc__, repeat=3)
    parser.add_argument("--rows", type=int, default=config().data.sample_rows)
    # Internal: one DAG run in a fresh interpreter; main() put its data and Airflow home beside it.
    parser.add_argument("--one-run", type=Path, metavar="RUN_DIR", help=argparse.SUPPRESS)
    parser.add_argument("--floor-run", type=Path, metavar="RUN_DIR", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one_run:
        root = args.one_run.parent
        result = one_run(root / SAMPLE_DATA, root / "airflow", args.one_run / "state")
        (args.one_run / "run.json").write_text(json.dumps(result))
        return 0
    if args.floor_run:
        result = floor_run(args.floor_run, args.floor_run.parent / "airflow")
        (args.floor_run / "floor.json").write_text(json.dumps(result))
        return 0

    cfg = config()
    rounds = []
    with tempfile.TemporaryDirectory(prefix="bench-dag-") as tmp:
        root = Path(tmp)
        data = generate_sample_data(root / SAMPLE_DATA, args.rows)
        started = time.perf_counter()
        migrate_database(airflow_environment(root / "airflow", endpoint_url="http://127.0.0.1:1"))
        first_migrate = time.perf_counter() - started
        for number in range(args.repeat):
            steps = direct.run_pipeline(cfg, data.parent, root / f"direct-{number}")
            run_dir = root / f"run-{number}"
            run_dir.mkdir()
            child = [sys.executable, "-m", "benchmarks.training_dag", "--one-run", str(run_dir)]
            wall = measure.run(child, cwd=PROJECT_ROOT)
            run = json.loads((run_dir / "run.json").read_text())
            (run_dir / "tasks.json").write_text(json.dumps(list(run["tasks"])))
            floor = [sys.executable, "-m", "benchmarks.training_dag", "--floor-run", str(run_dir)]
            measure.run(floor, cwd=PROJECT_ROOT)
            run |= json.loads((run_dir / "floor.json").read_text())
            run["phases"] = {
                "interpreter start, imports": round(wall - sum(run["phases"].values()), 2),
                **run["phases"],
            }
            rounds.append(
                {
                    "dag_wall_seconds": round(wall, 2),
                    "direct_seconds": round(sum(steps.values()), 2),
                    "direct_steps": steps,
                    **run,
                }
            )

    def series(field: str) -> dict:
        return measure.summary([one[field] for one in rounds])

    def ratio(field: str) -> dict:
        return measure.summary([one[field] / one["direct_seconds"] for one in rounds])

    def medians(field: str) -> dict[str, float]:
        names = rounds[0][field]
        return {name: statistics.median(one[field][name] for one in rounds) for name in names}

    results = {
        "rows": args.rows,
        "dag_wall_seconds": series("dag_wall_seconds"),
        "dag_test_seconds": series("dag_test_seconds"),
        "direct_seconds": series("direct_seconds"),
        "ratio_wall_to_direct": ratio("dag_wall_seconds"),
        "ratio_dag_test_to_direct": ratio("dag_test_seconds"),
        "airflow_floor_seconds": series("floor_seconds"),
        "median_phase_seconds": medians("phases"),
        "median_task_seconds": medians("tasks"),
        "median_direct_step_seconds": medians("direct_steps"),
        "first_airflow_db_migrate_seconds": round(first_migrate, 2),
        "target_seconds": TARGET_SECONDS,
        "rounds": rounds,
    }
    lines = [
        measure.line("DAG run as make demo (fresh interpreter)", results["dag_wall_seconds"]),
        measure.line("  of which dag.test()", results["dag_test_seconds"]),
        measure.line("the five scripts run directly", results["direct_seconds"]),
        measure.line("ratio DAG run / direct", results["ratio_wall_to_direct"], unit="x"),
        measure.line("ratio dag.test() / direct", results["ratio_dag_test_to_direct"], unit="x"),
        measure.line("the same tasks doing nothing (Airflow)", results["airflow_floor_seconds"]),
        measure.target("DAG run", results["dag_wall_seconds"]["median"], TARGET_SECONDS),
        "phases of a DAG run (median s):",
    ]
    for phase, seconds in results["median_phase_seconds"].items():
        lines.append(f"    {phase:<46} {seconds:6.2f}")
    lines.append(f"  {'tasks (median s)':<48} {'DAG':>6} {'direct':>8}")
    direct_steps = results["median_direct_step_seconds"]
    for task, seconds in results["median_task_seconds"].items():
        alone = f" {direct_steps[task]:8.2f}" if task in direct_steps else ""
        lines.append(f"    {task:<46} {seconds:6.2f}{alone}")
    lines.append(f"(first airflow db migrate, not counted: {first_migrate:.1f} s)")
    measure.report(args, "training DAG", results, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
