"""What serving a model through the local AWS adds to the model's own prediction time.

    python -m benchmarks.serving [--repeat 3] [--requests 2000] [--sustained 100000] [--json FILE]

A model trained by the package's own scripts (sample rows, a short training) answers one JSON
row per request, three ways:

- **handlers**: ``input_fn`` → ``predict_fn`` → ``output_fn`` called in-process: the floor;
- **model server**: the package's ``serve`` started directly, hit over HTTP on 127.0.0.1;
- **local AWS**: ``InvokeEndpoint`` to an endpoint whose variant is that server, with data
  capture on at 100 %, sent as a request signed once and replayed (a new connection each time,
  as for the model server: both servers close them): the difference from the model server is
  the routing, the request checks, capture and the endpoint metrics — what the local AWS adds;
- **local AWS, boto3**: the same through a boto3 client, which adds its own serialising, signing
  and parsing (the caller's cost, not the local AWS's).

Requests go one after another (latency: p50, p99; requests per second) and, for throughput, from
four client threads at once (each measurement repeated, the median reported). Also timed:
``CreateEndpoint`` until ``InService``. With ``--sustained N``, N more invocations are sent,
then p50 is measured again and the state snapshot (``<state>/services``) compared: neither may
grow with traffic.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

import {{ cookiecutter.package_name }}_pipeline.job_requests as jobs

from benchmarks import direct, measure
from local_aws.process import LocalAWSProcess
from tools.local_run import AWS, generate_sample_data
from tools.project import PROJECT_ROOT, config

ROUNDS = 30
THREADS = 4
TARGETS = {"overhead_ms": 2.0, "requests_per_second": 300.0, "in_service_seconds": 5.0}
ROLE_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sagemaker.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def train_model(cfg, work: Path, rows: int) -> tuple[Path, dict]:
    """The package's preprocess and training on sample rows; the model folder and one row."""
    data = generate_sample_data(work / "raw" / "data.csv", rows)
    run = direct.benchmark_run(cfg, "serving")
    request = jobs.preprocess_job(cfg, run)
    mounts = {f"{jobs.INPUT_DIR}/raw": data.parent, jobs.OUTPUT_DIR: work / "prepared"}
    measure.run(direct.processing_command(request, mounts), cwd=PROJECT_ROOT)
    request = jobs.training_job(cfg, run)
    request["HyperParameters"]["num_round"] = json.dumps(ROUNDS)
    command, env = direct.training_command(
        cfg, request, work / "prepared", work / "model", work / "training-output"
    )
    measure.run(command, env=env)
    first = pd.read_csv(data, nrows=1).drop(columns=[cfg.data.target_column])
    row = json.loads(first.to_json(orient="records"))[0]
    return work / "model", row


def latencies(call, count: int) -> dict:
    """Seconds of ``count`` calls one after another: p50, p99 (ms) and requests per second."""
    times = []
    started = time.perf_counter()
    for _ in range(count):
        before = time.perf_counter()
        call()
        times.append(time.perf_counter() - before)
    elapsed = time.perf_counter() - started
    times.sort()
    return {
        "p50_ms": round(statistics.median(times) * 1000, 3),
        "p99_ms": round(times[int(len(times) * 0.99) - 1] * 1000, 3),
        "requests_per_second": round(count / elapsed, 1),
    }


def throughput(make_call, count: int) -> float:
    """Requests per second from THREADS client threads, each with its own client."""
    per_thread = count // THREADS

    def work(_):
        call = make_call()
        for _ in range(per_thread):
            call()

    started = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(work, range(THREADS)))
    return round(per_thread * THREADS / (time.perf_counter() - started), 1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(cfg, model_dir: Path, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "SM_MODEL_DIR": str(model_dir),
        "SAGEMAKER_SUBMIT_DIRECTORY": str(PROJECT_ROOT / cfg.package),
        "SAGEMAKER_PROGRAM": "inference.py",
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "MODEL_SERVER_HOST": "127.0.0.1",
        "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
    }
    server = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / cfg.package / "serve.py")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/ping")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("the model server did not answer /ping within 60 s")


def state_sizes(state_dir: Path) -> dict[str, int]:
    return {path.stem: path.stat().st_size for path in (state_dir / "services").glob("*.pickle")}


def deploy(aws: AWS, model_dir: Path, cfg, bucket: str) -> tuple[str, list[float]]:
    """The model behind an endpoint with capture on; ``CreateEndpoint`` → InService times."""
    s3, sm, iam = aws.client("s3"), aws.client("sagemaker"), aws.client("iam")
    s3.create_bucket(Bucket=bucket)
    archive = model_dir.parent / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in model_dir.iterdir():
            tar.add(path, arcname=path.name)
    s3.upload_file(str(archive), bucket, "model/model.tar.gz")
    code = model_dir.parent / "code.tar.gz"
    with tarfile.open(code, "w:gz") as tar:
        for path in sorted((PROJECT_ROOT / cfg.package).glob("*.py")):
            tar.add(path, arcname=path.name)
    s3.upload_file(str(code), bucket, "code/source.tar.gz")
    role = iam.create_role(RoleName="serving-bench", AssumeRolePolicyDocument=ROLE_TRUST)
    sm.create_model(
        ModelName="bench",
        ExecutionRoleArn=role["Role"]["Arn"],
        PrimaryContainer={
            "Image": cfg.env.image_uri,
            "ModelDataUrl": f"s3://{bucket}/model/model.tar.gz",
            "Environment": {
                "SAGEMAKER_PROGRAM": "inference.py",
                "SAGEMAKER_SUBMIT_DIRECTORY": f"s3://{bucket}/code/source.tar.gz",
            },
        },
    )
    sm.create_endpoint_config(
        EndpointConfigName="bench",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "bench",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": f"s3://{bucket}/capture",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        },
    )
    creations = []
    for attempt in range(3):
        name = f"bench-{attempt}"
        started = time.perf_counter()
        sm.create_endpoint(EndpointName=name, EndpointConfigName="bench")
        while sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "Creating":
            time.sleep(0.05)
        creations.append(time.perf_counter() - started)
        if attempt < 2:
            sm.delete_endpoint(EndpointName=name)
    return name, creations


def main(argv: list[str] | None = None) -> int:
    parser = measure.arguments(__doc__, repeat=3)
    parser.add_argument("--requests", type=int, default=2000, help="requests per measurement")
    parser.add_argument("--sustained", type=int, default=0, help="invocations before re-measuring")
    args = parser.parse_args(argv)
    cfg = config()
    from {{ cookiecutter.package_name }} import inference

    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        tmp = Path(tmp)
        model_dir, row = train_model(cfg, tmp / "work", 2000)
        body = json.dumps({"instances": [row]}).encode()

        model = inference.model_fn(str(model_dir))

        def handlers():
            data = inference.input_fn(body, "application/json")
            inference.output_fn(inference.predict_fn(data, model), "application/json")

        port = free_port()
        server = start_server(cfg, model_dir, port)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}

        def make_direct():
            def call():
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                connection.request("POST", "/invocations", body=body, headers=headers)
                connection.getresponse().read()
                connection.close()

            return call

        state_dir = tmp / "state"
        with LocalAWSProcess(state_dir, config=PROJECT_ROOT / "pipeline.toml") as aws_process:
            aws = AWS(aws_process.endpoint_url)
            endpoint, creations = deploy(aws, model_dir, cfg, f"bench-{uuid.uuid4().hex[:8]}")

            signed = AWSRequest(
                "POST",
                f"{aws.endpoint_url}/endpoints/{endpoint}/invocations",
                data=body,
                headers=headers,
            )
            SigV4Auth(Credentials("local", "local"), "sagemaker", aws.region).add_auth(signed)
            location = urlparse(aws.endpoint_url)

            def make_raw():
                connection = http.client.HTTPConnection(
                    location.hostname, location.port, timeout=10
                )

                def call():
                    connection.request(
                        "POST", urlparse(signed.url).path, body=body, headers=dict(signed.headers)
                    )
                    answer = connection.getresponse()
                    if answer.status != 200:
                        raise RuntimeError(f"InvokeEndpoint answered {answer.status}")
                    answer.read()

                return call

            def make_invoke():
                runtime = aws.client("sagemaker-runtime")

                def call():
                    runtime.invoke_endpoint(
                        EndpointName=endpoint,
                        ContentType="application/json",
                        Accept="application/json",
                        Body=body,
                    )["Body"].read()

                return call

            series = {"handlers": [], "model server": [], "local AWS": [], "local AWS, boto3": []}
            for _ in range(args.repeat):
                series["handlers"].append(latencies(handlers, args.requests))
                series["model server"].append(latencies(make_direct(), args.requests))
                series["local AWS"].append(latencies(make_raw(), args.requests))
                series["local AWS, boto3"].append(latencies(make_invoke(), args.requests))
            # interleaved like the latencies, so that the machine's load falls on each alike
            concurrent_runs = {"model server": [], "local AWS": [], "local AWS, boto3": []}
            for _ in range(args.repeat):
                concurrent_runs["model server"].append(throughput(make_direct, args.requests))
                concurrent_runs["local AWS"].append(throughput(make_raw, args.requests))
                concurrent_runs["local AWS, boto3"].append(throughput(make_invoke, args.requests))
            sustained = {}
            if args.sustained:
                before = state_sizes(state_dir)
                invoke = make_raw()
                for _ in range(args.sustained):
                    invoke()
                time.sleep(12)  # one more flush of capture and metrics
                sustained = {
                    "invocations": args.sustained,
                    "after": latencies(make_raw(), args.requests),
                    "state_bytes_before": before,
                    "state_bytes_after": state_sizes(state_dir),
                }
        server.terminate()
        server.wait(timeout=10)

    for name, runs in series.items():
        results[name] = {key: measure.summary([run[key] for run in runs]) for key in runs[0]}
    overhead = [
        aws["p50_ms"] - direct_run["p50_ms"]
        for aws, direct_run in zip(series["local AWS"], series["model server"], strict=True)
    ]
    results["overhead_p50_ms"] = measure.summary(overhead)
    results["concurrent_requests_per_second"] = {
        name: measure.summary(runs) for name, runs in concurrent_runs.items()
    }
    concurrent = {
        name: round(summary["median"], 1)
        for name, summary in results["concurrent_requests_per_second"].items()
    }
    results["create_to_in_service_seconds"] = measure.summary(creations)
    results["sustained"] = sustained
    results["targets"] = TARGETS
    lines = [f"one JSON row per request, {args.requests} requests a measurement"]
    for name in series:
        p50, p99, rate = (results[name][key]["median"] for key in series[name][0])
        lines.append(f"  {name:<16} p50 {p50:7.3f} ms   p99 {p99:7.3f} ms   {rate:7.1f} req/s")
    rate = concurrent["local AWS"]
    lines += [
        f"  local AWS over the model server at p50: {results['overhead_p50_ms']['median']:.3f} ms"
        f" (target < {TARGETS['overhead_ms']} ms: "
        f"{'met' if results['overhead_p50_ms']['median'] < TARGETS['overhead_ms'] else 'MISSED'})",
        f"  {THREADS} client threads, median req/s of {args.repeat}: "
        + ", ".join(f"{name} {value}" for name, value in concurrent.items())
        + f" (target for the local AWS >= {TARGETS['requests_per_second']:.0f}: "
        f"{'met' if rate >= TARGETS['requests_per_second'] else 'MISSED'})",
        measure.line("CreateEndpoint -> InService", results["create_to_in_service_seconds"]),
        measure.target(
            "CreateEndpoint -> InService",
            results["create_to_in_service_seconds"]["median"],
            TARGETS["in_service_seconds"],
        ),
    ]
    if sustained:
        lines += [
            f"  after {sustained['invocations']} more invocations: local AWS p50 "
            f"{sustained['after']['p50_ms']:.3f} ms",
            f"  state snapshot bytes before {sustained['state_bytes_before']}",
            f"                       after  {sustained['state_bytes_after']}",
        ]
    measure.report(args, "serving", results, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
