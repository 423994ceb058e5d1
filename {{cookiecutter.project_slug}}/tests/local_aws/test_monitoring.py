"""The data-quality monitor over what a local endpoint really captured through InvokeEndpoint.

A model trained on sample data serves an endpoint with data capture on; ``tools.traffic`` sends
it requests, unchanged or drifted; the monitor then reads the capture files as SageMaker lays
them out, for the window each batch was sent in, against the training run's own baseline.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }} import monitor
from {{ cookiecutter.package_name }}_pipeline import job_requests
from {{ cookiecutter.package_name }}_pipeline.packaging import source_files

from tests.local_aws.test_endpoints import IMAGE, deploy, source_tarball, wait_for
from tests.ml_runs import train_pipeline
from tests.support import CONFIG, PROJECT_ROOT, create_bucket
from tools import traffic
from tools.local_run import generate_sample_data
from tools.project import config

pytestmark = pytest.mark.timeout(600)

TARGET = CONFIG["data"]["target_column"]
SENSITIVE = CONFIG["data"]["sensitive_columns"]
ROWS = 300


@pytest.fixture(scope="module")
def served(aws_client, execution_role, tmp_path_factory):
    """An endpoint capturing every request, and the baseline of the model it serves."""
    run = train_pipeline(
        tmp_path_factory.mktemp("monitored"),
        CONFIG["data"]["problem_type"],
        1500,
        "--num_round",
        "20",
    )
    s3, sm = aws_client("s3"), aws_client("sagemaker")
    bucket = f"monitored-{uuid.uuid4().hex[:8]}"
    create_bucket(s3, bucket)
    archive = (run.model_archive_dir / "model.tar.gz").read_bytes()
    s3.put_object(Bucket=bucket, Key="model/model.tar.gz", Body=archive)
    s3.put_object(Bucket=bucket, Key="code/source.tar.gz", Body=source_tarball())
    model = f"monitored-{uuid.uuid4().hex[:8]}"
    sm.create_model(
        ModelName=model,
        ExecutionRoleArn=execution_role,
        PrimaryContainer={
            "Image": IMAGE,
            "ModelDataUrl": f"s3://{bucket}/model/model.tar.gz",
            "Environment": {
                "SAGEMAKER_PROGRAM": "inference.py",
                "SAGEMAKER_SUBMIT_DIRECTORY": f"s3://{bucket}/code/source.tar.gz",
            },
        },
    )
    capture = {
        "EnableCapture": True,
        "InitialSamplingPercentage": 100,
        "DestinationS3Uri": f"s3://{bucket}/capture",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
    }
    endpoint = deploy(sm, model, [{"name": "AllTraffic"}], capture)
    assert wait_for(sm, endpoint)["EndpointStatus"] == "InService"
    yield {
        "endpoint": endpoint,
        "bucket": bucket,
        "baseline": run.prepared / "baseline",
        "runtime": aws_client("sagemaker-runtime"),
        "s3": s3,
        "rows": pd.read_csv(
            generate_sample_data(tmp_path_factory.mktemp("traffic") / "rows.csv", 4 * ROWS, 7)
        ),
    }
    sm.delete_endpoint(EndpointName=endpoint)


def monitored(served, tmp_path: Path, drift: traffic.Drift, part: int) -> dict:
    """Send one batch (``part`` of the rows), wait for its capture, run the monitor on it."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    rows = served["rows"].iloc[part * ROWS : (part + 1) * ROWS]
    moved = traffic.drifted(rows, drift, np.random.default_rng(part))
    start = datetime.now(UTC) - timedelta(seconds=1)  # capture keeps milliseconds only
    answers = traffic.send(served["runtime"], served["endpoint"], moved, TARGET, drift.drop)
    end = datetime.now(UTC) + timedelta(seconds=1)
    source = tmp_path / "endpointdata"
    ids = {inference_id for inference_id, _ in answers}
    deadline = time.monotonic() + 60
    while _captured(served, source) & ids != ids:  # written with the next capture flush
        assert time.monotonic() < deadline, "the capture did not arrive"
        time.sleep(1)
    (tmp_path / "window.json").write_text(
        json.dumps({"start": start.isoformat(), "end": end.isoformat()})
    )
    environment = {
        "dataset_format": json.dumps(
            {"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput"]}}
        ),
        "dataset_source": str(source),
        "output_path": str(tmp_path / "result"),
        "start_time": start.isoformat(),
        "end_time": end.isoformat(),
        "baseline_statistics": str(served["baseline"] / "statistics.json"),
        "baseline_constraints": str(served["baseline"] / "constraints.json"),
        "sensitive_columns": json.dumps(SENSITIVE),
        "sagemaker_endpoint_name": served["endpoint"],
    }
    return monitor.run(environment, tmp_path / "metrics")


def _captured(served, folder: Path) -> set[str]:
    """Download the endpoint's capture; the inference ids it holds."""
    listed = served["s3"].list_objects_v2(Bucket=served["bucket"], Prefix="capture/")
    ids = set()
    for item in listed.get("Contents", []):
        path = folder / item["Key"].removeprefix("capture/")
        path.parent.mkdir(parents=True, exist_ok=True)
        body = served["s3"].get_object(Bucket=served["bucket"], Key=item["Key"])["Body"].read()
        path.write_bytes(body)
        ids |= {json.loads(line)["eventMetadata"].get("inferenceId") for line in body.splitlines()}
    return ids


def checks(found: dict) -> set[tuple[str, str]]:
    return {(v["feature_name"], v["constraint_check_type"]) for v in found["violations"]}


def test_traffic_like_the_training_data_violates_nothing(served, tmp_path):
    found = monitored(served, tmp_path, traffic.Drift(), part=0)

    assert found["records"] == ROWS
    assert checks(found) == set()


def test_two_shifted_features_drift_and_only_they(served, tmp_path):
    numeric = [c for c in served["rows"].columns if c != TARGET and c not in SENSITIVE]
    numeric = [c for c in numeric if pd.api.types.is_numeric_dtype(served["rows"][c])][:2]
    shift = {name: 3 * float(served["rows"][name].std()) for name in numeric}

    found = monitored(served, tmp_path, traffic.Drift(shift=shift), part=1)

    assert checks(found) == {(name, "baseline_drift_check") for name in numeric}
    for name in numeric:
        assert found["distances"][name] > 0.5
    metrics = json.loads((tmp_path / "result" / monitor.METRICS_FILE).read_text())
    drifts = {d["MetricName"]: d["Value"] for d in metrics["MetricData"] if "Value" in d}
    assert drifts[f"feature_baseline_drift_{numeric[0]}"] == found["distances"][numeric[0]]


def test_a_new_category_and_a_dropped_column_are_flagged(served, tmp_path):
    categorical = next(
        c
        for c in served["rows"].columns
        if c != TARGET
        and c not in SENSITIVE
        and not pd.api.types.is_numeric_dtype(served["rows"][c])
    )
    numeric = next(
        c
        for c in served["rows"].columns
        if c != TARGET and c not in SENSITIVE and pd.api.types.is_numeric_dtype(served["rows"][c])
    )
    drift = traffic.Drift(category={categorical: ("never-seen", 0.5)}, drop=[numeric])

    found = monitored(served, tmp_path, drift, part=2)

    assert (categorical, "categorical_values_check") in checks(found)
    assert (numeric, "missing_column_check") in checks(found)


def test_the_monitor_runs_as_a_processing_job_shaped_as_model_monitors(
    served, tmp_path, aws_client, execution_role
):
    """The job request the monitoring DAG sends: capture by day, baseline, code; the verdict
    is the one the monitor gives run directly."""
    s3, sm = served["s3"], aws_client("sagemaker")
    bucket, endpoint = served["bucket"], served["endpoint"]
    numeric = [
        c
        for c in served["rows"].columns
        if c != TARGET and c not in SENSITIVE and pd.api.types.is_numeric_dtype(served["rows"][c])
    ][:1]
    drift = traffic.Drift(shift={numeric[0]: 3 * float(served["rows"][numeric[0]].std())})
    direct = monitored(served, tmp_path / "direct", drift, part=3)
    window = json.loads((tmp_path / "direct" / "window.json").read_text())
    for name in ("statistics.json", "constraints.json"):
        s3.put_object(
            Bucket=bucket, Key=f"baseline/{name}", Body=(served["baseline"] / name).read_bytes()
        )
    package = config().package
    for path in source_files(PROJECT_ROOT / package):
        key = f"code/src/{path.relative_to(PROJECT_ROOT).as_posix()}"
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
    keys = [
        item["Key"]
        for item in s3.list_objects_v2(Bucket=bucket, Prefix=f"capture/{endpoint}/")["Contents"]
    ]
    days = {"/".join(key.split("/")[3:6]) for key in keys}
    prefix = f"s3://{bucket}/capture/{endpoint}/AllTraffic"
    name = f"monitor-{uuid.uuid4().hex[:8]}"

    request = job_requests.monitoring_job(
        config(),
        name=name,
        image_uri=IMAGE,
        code_uri=f"s3://{bucket}/code/src/",
        endpoint=endpoint,
        variant="AllTraffic",
        capture={day: f"{prefix}/{day}/" for day in days},
        start=window["start"],
        end=window["end"],
        statistics_uri=f"s3://{bucket}/baseline/statistics.json",
        constraints_uri=f"s3://{bucket}/baseline/constraints.json",
        output_uri=f"s3://{bucket}/monitoring/{name}",
    )
    sm.create_processing_job(**{**request, "RoleArn": execution_role})

    deadline = time.monotonic() + 180
    while (job := sm.describe_processing_job(ProcessingJobName=name))["ProcessingJobStatus"] in (
        "InProgress",
        "Stopping",
    ):
        assert time.monotonic() < deadline, "the monitoring job did not end"
        time.sleep(1)
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    result = s3.get_object(Bucket=bucket, Key=f"monitoring/{name}/constraint_violations.json")
    violations = json.loads(result["Body"].read())["violations"]
    assert violations == direct["violations"]
    assert {v["feature_name"] for v in violations} == set(numeric)
    metrics = s3.get_object(Bucket=bucket, Key=f"monitoring/{name}/cloudwatch_metrics.json")
    assert json.loads(metrics["Body"].read())["Namespace"] == monitor.DEFAULT_NAMESPACE
