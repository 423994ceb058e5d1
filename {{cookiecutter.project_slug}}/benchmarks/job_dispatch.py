"""What running a script as a SageMaker job on the local AWS adds to the script's own run time.

    python -m benchmarks.job_dispatch [--repeat 5] [--rows 10000] [--json FILE]

Two scripts, each run both ways in every round:

- the package's ``preprocess`` on the sample rows: ``python -m <package>.preprocess`` on local
  files, then the DAG's own preprocess request as a processing job, timed from
  ``CreateProcessingJob`` until ``DescribeProcessingJob`` says Completed (polled every 0.1 s);
- a tiny training job (the DAG's request, ``num_round`` cut to 10): ``train.py`` started directly
  with the ``SM_*`` variables set, then the job, which the training toolkit runs in script mode.

The difference is the dispatch overhead (sandbox, S3 transfers, the toolkit, the status
updates and persistence); the target is under 1 s. Medians of the per-round differences and
ratios are reported.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import {{ cookiecutter.package_name }}_pipeline.job_requests as jobs
import {{ cookiecutter.package_name }}_pipeline.packaging as packaging

from benchmarks import direct, measure
from local_aws.process import LocalAWSProcess
from tools import infrastructure
from tools.local_run import AWS, generate_sample_data
from tools.project import PROJECT_ROOT, config

POLL_SECONDS = 0.1
TINY_ROUNDS = 10
TARGET_OVERHEAD_SECONDS = 1.0


def time_job(sagemaker, kind: str, request: dict) -> float:
    """Seconds from ``Create<Kind>Job`` until ``Describe<Kind>Job`` says Completed."""
    name_field, status_field = f"{kind.title()}JobName", f"{kind.title()}JobStatus"
    describe = getattr(sagemaker, f"describe_{kind}_job")
    started = time.perf_counter()
    getattr(sagemaker, f"create_{kind}_job")(**request)
    while True:
        job = describe(**{name_field: request[name_field]})
        if job[status_field] == "Completed":
            return time.perf_counter() - started
        if job[status_field] in ("Failed", "Stopped"):
            raise RuntimeError(
                f"{request[name_field]} {job[status_field]}: {job.get('FailureReason')}"
            )
        time.sleep(POLL_SECONDS)


def comparison(direct: list[float], job: list[float]) -> dict:
    pairs = list(zip(direct, job, strict=True))
    return {
        "direct_seconds": measure.summary(direct),
        "job_seconds": measure.summary(job),
        "overhead_seconds": measure.summary([job - alone for alone, job in pairs]),
        "ratio": measure.summary([job / alone for alone, job in pairs]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = measure.arguments(__doc__, repeat=5)
    parser.add_argument("--rows", type=int, default=config().data.sample_rows)
    args = parser.parse_args(argv)
    cfg = config()
    timings = {kind: {"direct": [], "job": []} for kind in ("processing", "training")}

    with tempfile.TemporaryDirectory(prefix="bench-dispatch-") as tmp:
        tmp = Path(tmp)
        data = generate_sample_data(tmp / "raw" / "data.csv", args.rows)
        state_dir = tmp / "state"
        with LocalAWSProcess(state_dir, config=PROJECT_ROOT / "pipeline.toml") as aws_process:
            aws = AWS(aws_process.endpoint_url)
            infrastructure.deploy(aws.client("cloudformation"), cfg)
            s3, sagemaker = aws.client("s3"), aws.client("sagemaker")
            for round_number in range(args.repeat):
                run = direct.benchmark_run(cfg, f"dispatch-{round_number}")
                packaging.upload(s3, run.layout, PROJECT_ROOT, cfg.package, manifest_doc={})
                bucket, key = run.raw_data_uri.removeprefix("s3://").split("/", 1)
                s3.upload_file(str(data), bucket, key + data.name)
                work = tmp / f"direct-{round_number}"

                request = jobs.preprocess_job(cfg, run)
                mounts = {f"{jobs.INPUT_DIR}/raw": data.parent, jobs.OUTPUT_DIR: work}
                command = direct.processing_command(request, mounts)
                timings["processing"]["direct"].append(measure.run(command, cwd=PROJECT_ROOT))
                timings["processing"]["job"].append(time_job(sagemaker, "processing", request))

                request = jobs.training_job(cfg, run)
                request["HyperParameters"]["num_round"] = json.dumps(TINY_ROUNDS)
                command, env = direct.training_command(
                    cfg, request, work, work / "model", work / "training-output"
                )
                timings["training"]["direct"].append(measure.run(command, env=env))
                timings["training"]["job"].append(time_job(sagemaker, "training", request))

    results = {kind: comparison(**series) for kind, series in timings.items()}
    results["rows"] = args.rows
    results["target_overhead_seconds"] = TARGET_OVERHEAD_SECONDS
    titles = {
        "processing": f"preprocess on {args.rows} rows",
        "training": f"train.py, {TINY_ROUNDS} rounds on the preprocessed rows",
    }
    lines = []
    for kind, title in titles.items():
        result = results[kind]
        lines += [
            f"{title}: run directly vs as a {kind} job",
            measure.line("directly", result["direct_seconds"]),
            measure.line(f"as a {kind} job", result["job_seconds"]),
            measure.line("overhead", result["overhead_seconds"]),
            measure.line("ratio job / direct", result["ratio"], unit="x"),
            measure.target(
                "overhead", result["overhead_seconds"]["median"], TARGET_OVERHEAD_SECONDS
            ),
        ]
    measure.report(args, "job dispatch", results, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
