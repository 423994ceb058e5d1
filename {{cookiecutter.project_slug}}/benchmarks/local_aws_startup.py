"""How long the local AWS takes to be ready, with no state and with a restored one.

    python -m benchmarks.local_aws_startup [--repeat 5] [--objects 1000] [--json FILE]

Each round starts ``LocalAWSProcess`` (what ``make demo``, ``make airflow`` and the tests use) and
times it until its health check answers: once on an empty state folder, once on a state holding
the pipeline's infrastructure, ``--objects`` S3 objects and a few completed jobs. The server's
own log says how much of that is its ``start()`` (restoring state, installing the services); the
rest is the interpreter and imports. Baseline: ``python -c "import boto3, moto"``, the least any
moto-based server pays. Target: ready in under 5 s.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import measure
from local_aws.process import LocalAWSProcess
from tools import infrastructure
from tools.local_run import AWS
from tools.project import PROJECT_ROOT, config

TARGET_SECONDS = 5.0
JOBS = 3
_SERVER_READY = re.compile(r"local AWS ready on \S+ in ([\d.]+) s")


def local_aws(state_dir: Path) -> LocalAWSProcess:
    return LocalAWSProcess(state_dir, config=PROJECT_ROOT / "pipeline.toml")


def build_state(state_dir: Path, objects: int) -> None:
    """A state as a project accumulates it: the stack, S3 objects and finished jobs."""
    cfg = config()
    with local_aws(state_dir) as process:
        aws = AWS(process.endpoint_url)
        infrastructure.deploy(aws.client("cloudformation"), cfg)
        s3, sagemaker = aws.client("s3"), aws.client("sagemaker")
        for number in range(objects):
            key = f"{cfg.slug}/benchmark/{number % 10}/object-{number}.json"
            s3.put_object(Bucket=cfg.env.bucket, Key=key, Body=str(number).encode())
        names = [f"{cfg.slug}-benchmark-{number}" for number in range(JOBS)]
        for name in names:
            sagemaker.create_processing_job(
                ProcessingJobName=name,
                RoleArn=cfg.env.role_arn,
                AppSpecification={
                    "ImageUri": cfg.env.image_uri,
                    "ContainerEntrypoint": ["python3", "-c", "print('done')"],
                },
                ProcessingResources={
                    "ClusterConfig": {
                        "InstanceCount": 1,
                        "InstanceType": cfg.env.processing_instance_type,
                        "VolumeSizeInGB": 1,
                    }
                },
            )
        for name in names:
            status = "InProgress"
            while status == "InProgress":
                time.sleep(0.1)
                job = sagemaker.describe_processing_job(ProcessingJobName=name)
                status = job["ProcessingJobStatus"]
            if status != "Completed":
                raise RuntimeError(f"{name} {status}: {job.get('FailureReason')}")


def time_start(state_dir: Path) -> tuple[float, float]:
    """Seconds until ready, and the seconds the server's ``start()`` reported of them."""
    started = time.perf_counter()
    process = local_aws(state_dir).start()
    seconds = time.perf_counter() - started
    process.stop()
    server_seconds = float(_SERVER_READY.findall(process.log_file.read_text())[-1])
    return seconds, server_seconds


def main(argv: list[str] | None = None) -> int:
    parser = measure.arguments(__doc__, repeat=5)
    parser.add_argument("--objects", type=int, default=1000, help="S3 objects in the state")
    args = parser.parse_args(argv)
    kinds = {"fresh": "empty state", "restored": f"{args.objects} objects, {JOBS} jobs"}
    timings = {"baseline": []} | {f"{kind}{part}": [] for kind in kinds for part in ("", "_server")}

    with tempfile.TemporaryDirectory(prefix="bench-local-aws-") as tmp:
        restored_state = Path(tmp) / "restored"
        build_state(restored_state, args.objects)
        for round_number in range(args.repeat):
            timings["baseline"].append(measure.run([sys.executable, "-c", "import boto3, moto"]))
            states = {"fresh": Path(tmp) / f"fresh-{round_number}", "restored": restored_state}
            for kind, state_dir in states.items():
                ready, server = time_start(state_dir)
                timings[kind].append(ready)
                timings[f"{kind}_server"].append(server)

    results = {f"{key}_seconds": measure.summary(values) for key, values in timings.items()}
    for kind in kinds:
        pairs = zip(timings[kind], timings["baseline"], strict=True)
        results[f"{kind}_ratio"] = measure.summary([ready / base for ready, base in pairs])
    results["target_seconds"] = TARGET_SECONDS
    lines = [measure.line('baseline: python -c "import boto3, moto"', results["baseline_seconds"])]
    for kind, label in kinds.items():
        lines += [
            measure.line(f"ready, {label}", results[f"{kind}_seconds"]),
            measure.line("  of which the server's start()", results[f"{kind}_server_seconds"]),
            measure.line("  ratio to the baseline", results[f"{kind}_ratio"], unit="x"),
            measure.target("ready", results[f"{kind}_seconds"]["median"], TARGET_SECONDS),
        ]
    measure.report(args, "local AWS startup", results, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
