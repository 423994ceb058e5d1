"""Endpoints on the local AWS: a registered model served for real, driven through plain boto3.

The model is a real training run of the package; the server is the package's own ``serve``, as
the jobs' image runs it on SageMaker. Predictions are compared with the inference handlers called
in-process on the same rows.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import io
import json
import tarfile
import time
import uuid
from collections import Counter
from pathlib import Path

import boto3
import pandas as pd
import psutil
import pytest
from botocore.exceptions import ClientError

from {{ cookiecutter.package_name }} import inference

from tests.ml_runs import train_pipeline
from tests.support import PROJECT_ROOT, SAGEMAKER_TRUST, create_bucket, subscribed_queue

PACKAGE_DIR = PROJECT_ROOT / "{{ cookiecutter.package_name }}"
IMAGE = "111111111111.dkr.ecr.us-east-1.amazonaws.com/customer-churn-jobs:latest"
CAPTURE_TYPES = {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def source_tarball() -> bytes:
    """The package's files at the archive root, as the pipeline uploads them."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(PACKAGE_DIR.glob("*.py")):
            tar.add(path, arcname=path.name)
    return buffer.getvalue()


def tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_pipeline(
        tmp_path_factory.mktemp("serving"), "binary_classification", 1500, "--num_round", "30"
    )


@pytest.fixture(scope="module")
def model(aws_client, trained, execution_role):
    """The trained model and the code in S3, as a model package version awaiting approval."""
    s3, sm = aws_client("s3"), aws_client("sagemaker")
    bucket = unique("serving")
    create_bucket(s3, bucket)
    s3.put_object(
        Bucket=bucket,
        Key="model/model.tar.gz",
        Body=(trained.model_archive_dir / "model.tar.gz").read_bytes(),
    )
    s3.put_object(Bucket=bucket, Key="code/source.tar.gz", Body=source_tarball())
    group = unique("serving")
    sm.create_model_package_group(ModelPackageGroupName=group)
    environment = {
        "SAGEMAKER_PROGRAM": "inference.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": f"s3://{bucket}/code/source.tar.gz",
    }
    specification = {
        "Containers": [
            {
                "Image": IMAGE,
                "ModelDataUrl": f"s3://{bucket}/model/model.tar.gz",
                "Environment": environment,
            }
        ],
        "SupportedContentTypes": ["text/csv", "application/json"],
        "SupportedResponseMIMETypes": ["text/csv", "application/json"],
    }
    arn = sm.create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification=specification,
    )["ModelPackageArn"]
    return {
        "bucket": bucket,
        "group": group,
        "specification": specification,
        "package_arn": arn,
        "environment": environment,
        "role": execution_role,
        "model_dir": trained.model_dir,
        "rows": pd.read_csv(trained.prepared / "test" / "test.csv").head(20),
    }


@pytest.fixture(scope="module")
def approved(aws_client, model):
    aws_client("sagemaker").update_model_package(
        ModelPackageArn=model["package_arn"], ModelApprovalStatus="Approved"
    )
    return model


def deploy(sm, model_name: str, variants: list[dict], capture: dict | None = None) -> str:
    config, endpoint = unique("config"), unique("endpoint")
    extra = {"DataCaptureConfig": capture} if capture else {}
    sm.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {
                "VariantName": variant["name"],
                "ModelName": variant.get("model", model_name),
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
                "InitialVariantWeight": variant.get("weight", 1.0),
            }
            for variant in variants
        ],
        **extra,
    )
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
    return endpoint


def wait_for(sm, endpoint: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = sm.describe_endpoint(EndpointName=endpoint)
        if described["EndpointStatus"] not in (
            "Creating",
            "Updating",
            "SystemUpdating",
            "RollingBack",
        ):
            return described
        time.sleep(0.1)
    raise AssertionError(f"endpoint {endpoint} still {described['EndpointStatus']}")


def package_model(sm, model) -> str:
    name = unique("model")
    sm.create_model(
        ModelName=name,
        ExecutionRoleArn=model["role"],
        PrimaryContainer={"ModelPackageName": model["package_arn"]},
    )
    return name


def artifact_model(sm, model, key: str) -> str:
    name = unique("model")
    sm.create_model(
        ModelName=name,
        ExecutionRoleArn=model["role"],
        PrimaryContainer={
            "Image": IMAGE,
            "ModelDataUrl": f"s3://{model['bucket']}/{key}",
            "Environment": model["environment"],
        },
    )
    return name


@pytest.fixture(scope="module")
def endpoint(aws_client, approved):
    sm = aws_client("sagemaker")
    name = deploy(sm, package_model(sm, approved), [{"name": "AllTraffic"}])
    assert wait_for(sm, name)["EndpointStatus"] == "InService"
    yield name
    sm.delete_endpoint(EndpointName=name)


def handlers_predict(model_dir: Path, rows: pd.DataFrame) -> list[float]:
    loaded = inference.model_fn(str(model_dir))
    return [float(v) for v in inference.predict_fn(rows, loaded)]


def csv_rows(model, rows: pd.DataFrame) -> str:
    columns = inference.model_fn(str(model["model_dir"])).transform.raw_columns
    return rows[columns].to_csv(header=False, index=False)


@pytest.mark.parametrize("status", ["PendingManualApproval", "Rejected"])
def test_an_unapproved_package_cannot_become_a_model(aws_client, model, status):
    sm = aws_client("sagemaker")
    arn = sm.create_model_package(
        ModelPackageGroupName=model["group"],
        ModelApprovalStatus=status,
        InferenceSpecification=model["specification"],
    )["ModelPackageArn"]

    with pytest.raises(ClientError, match=status):
        package_model(sm, {**model, "package_arn": arn})


def test_an_approved_package_serves_the_handlers_predictions(aws_client, approved, endpoint):
    runtime, sm = aws_client("sagemaker-runtime"), aws_client("sagemaker")
    rows = approved["rows"]
    expected = handlers_predict(approved["model_dir"], rows)

    as_csv = runtime.invoke_endpoint(
        EndpointName=endpoint,
        ContentType="text/csv",
        Accept="text/csv",
        Body=csv_rows(approved, rows),
    )
    instances = json.loads(rows.to_json(orient="records"))  # sensitive columns included
    as_json = runtime.invoke_endpoint(
        EndpointName=endpoint,
        ContentType="application/json",
        Accept="application/json",
        Body=json.dumps({"instances": instances}),
    )

    csv_predictions = [float(line) for line in as_csv["Body"].read().decode().splitlines()]
    assert csv_predictions == pytest.approx(expected, abs=1e-6)
    assert json.loads(as_json["Body"].read())["predictions"] == pytest.approx(expected, abs=1e-6)
    assert as_csv["InvokedProductionVariant"] == "AllTraffic"
    assert as_csv["ContentType"] == "text/csv"
    described = sm.describe_endpoint(EndpointName=endpoint)
    variant = described["ProductionVariants"][0]
    assert variant["CurrentWeight"] == variant["DesiredWeight"] == 1.0
    assert variant["CurrentInstanceCount"] == variant["DesiredInstanceCount"] == 1
    assert variant["DeployedImages"][0]["SpecifiedImage"] == IMAGE


def test_a_container_error_is_a_model_error_with_its_status_and_message(aws_client, endpoint):
    runtime = aws_client("sagemaker-runtime")

    with pytest.raises(ClientError) as refused:
        runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body="1,2\n")

    error = refused.value.response
    assert error["Error"]["Code"] == "ModelError"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error["OriginalStatusCode"] == 400
    assert "each CSV row needs" in error["OriginalMessage"]
    assert f"/aws/sagemaker/Endpoints/{endpoint}" in error["LogStreamArn"]


def test_the_runtime_refuses_what_aws_refuses(aws_client, endpoint):
    runtime = aws_client("sagemaker-runtime")

    with pytest.raises(ClientError, match="endpointName") as bad_name:
        runtime.invoke_endpoint(EndpointName="bad_name", ContentType="text/csv", Body="1")
    with pytest.raises(ClientError, match="inferenceId") as long_id:
        runtime.invoke_endpoint(
            EndpointName=endpoint, ContentType="text/csv", Body="1", InferenceId="x" * 65
        )
    with pytest.raises(ClientError, match="not found"):
        runtime.invoke_endpoint(EndpointName="no-such-endpoint", ContentType="text/csv", Body="1")
    with pytest.raises(ClientError, match="body") as too_big:
        runtime.invoke_endpoint(
            EndpointName=endpoint, ContentType="text/csv", Body=b"0" * (6 * 1024 * 1024 + 1)
        )

    for refusal in (bad_name, long_id, too_big):
        assert refusal.value.response["Error"]["Code"] == "ValidationError"


def test_traffic_splits_by_weight_and_capture_is_per_variant(aws_client, approved):
    sm, runtime, s3 = aws_client("sagemaker"), aws_client("sagemaker-runtime"), aws_client("s3")
    model_name = package_model(sm, approved)
    prefix = f"s3://{approved['bucket']}/capture"
    capture = {
        "EnableCapture": True,
        "InitialSamplingPercentage": 100,
        "DestinationS3Uri": prefix,
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": CAPTURE_TYPES,
    }
    endpoint = deploy(
        sm,
        model_name,
        [{"name": "Main", "weight": 0.8}, {"name": "Canary", "weight": 0.2}],
        capture,
    )
    assert wait_for(sm, endpoint)["EndpointStatus"] == "InService"
    body = csv_rows(approved, approved["rows"].head(1))

    variants = Counter(
        runtime.invoke_endpoint(
            EndpointName=endpoint, ContentType="text/csv", Body=body, InferenceId=f"id-{i}"
        )["InvokedProductionVariant"]
        for i in range(1000)
    )
    targeted = runtime.invoke_endpoint(
        EndpointName=endpoint, ContentType="text/csv", Body=body, TargetVariant="Canary"
    )

    # 1,000 draws at p = 0.8: the standard deviation is 12.6 requests; 5 of them is the tolerance
    assert abs(variants["Main"] - 800) < 63, variants
    assert targeted["InvokedProductionVariant"] == "Canary"
    records = {"Main": [], "Canary": []}
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and sum(map(len, records.values())) < 1001:
        for variant in records:
            listed = s3.list_objects_v2(
                Bucket=approved["bucket"], Prefix=f"capture/{endpoint}/{variant}/"
            )
            records[variant] = [
                json.loads(line)
                for item in listed.get("Contents", [])
                for line in s3.get_object(Bucket=approved["bucket"], Key=item["Key"])["Body"]
                .read()
                .decode()
                .splitlines()
            ]
        time.sleep(1)
    assert len(records["Main"]) == variants["Main"]
    assert len(records["Canary"]) == variants["Canary"] + 1
    record = records["Main"][0]
    assert record["eventVersion"] == "0"
    assert record["eventMetadata"]["inferenceId"].startswith("id-")
    assert record["captureData"]["endpointInput"] == {
        "observedContentType": "text/csv",
        "mode": "INPUT",
        "data": body,
        "encoding": "CSV",
    }
    assert record["captureData"]["endpointOutput"]["encoding"] == "JSON"
    assert json.loads(record["captureData"]["endpointOutput"]["data"])["predictions"]
    key = s3.list_objects_v2(Bucket=approved["bucket"], Prefix=f"capture/{endpoint}/Main/")[
        "Contents"
    ][0]["Key"]
    # capture/<endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl
    assert len(key.split("/")) == 8 and key.endswith(".jsonl")
    sm.delete_endpoint(EndpointName=endpoint)


def test_capture_without_content_types_is_base64(aws_client, approved):
    sm, runtime, s3 = aws_client("sagemaker"), aws_client("sagemaker-runtime"), aws_client("s3")
    capture = {
        "EnableCapture": True,
        "InitialSamplingPercentage": 100,
        "DestinationS3Uri": f"s3://{approved['bucket']}/capture-b64",
        "CaptureOptions": [{"CaptureMode": "Input"}],
    }
    endpoint = deploy(sm, package_model(sm, approved), [{"name": "AllTraffic"}], capture)
    wait_for(sm, endpoint)
    body = csv_rows(approved, approved["rows"].head(2))
    runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=body)

    deadline, listed = time.monotonic() + 40, {}
    while time.monotonic() < deadline and not listed.get("Contents"):
        time.sleep(1)
        listed = s3.list_objects_v2(Bucket=approved["bucket"], Prefix="capture-b64/")
    line = s3.get_object(Bucket=approved["bucket"], Key=listed["Contents"][0]["Key"])["Body"]
    record = json.loads(line.read().decode().splitlines()[0])
    assert record["captureData"]["endpointInput"]["encoding"] == "BASE64"
    assert base64.b64decode(record["captureData"]["endpointInput"]["data"]).decode() == body
    assert "endpointOutput" not in record["captureData"]
    sm.delete_endpoint(EndpointName=endpoint)


def test_a_model_that_will_not_load_fails_the_endpoint_with_aws_reason(aws_client, approved):
    sm, s3, logs = aws_client("sagemaker"), aws_client("s3"), aws_client("logs")
    s3.put_object(
        Bucket=approved["bucket"],
        Key="broken/model.tar.gz",
        Body=tarball({"model_info.json": b"{}"}),
    )
    endpoint = deploy(
        sm, artifact_model(sm, approved, "broken/model.tar.gz"), [{"name": "AllTraffic"}]
    )

    described = wait_for(sm, endpoint)

    assert described["EndpointStatus"] == "Failed"
    assert described["FailureReason"] == (
        "The primary container for production variant AllTraffic did not pass the ping health "
        "check. Please check CloudWatch logs for this endpoint."
    )
    group = f"/aws/sagemaker/Endpoints/{endpoint}"
    messages = [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]]
    assert any("xgboost-model.json" in message for message in messages), messages[-5:]


def test_a_missing_artifact_fails_the_endpoint(aws_client, approved):
    sm = aws_client("sagemaker")
    endpoint = deploy(
        sm, artifact_model(sm, approved, "nothing/model.tar.gz"), [{"name": "AllTraffic"}]
    )

    described = wait_for(sm, endpoint)

    assert described["EndpointStatus"] == "Failed"
    assert described["FailureReason"].startswith("Failed to download model data")


def test_a_failed_update_keeps_the_old_config_serving(aws_client, approved):
    sm, runtime, s3 = aws_client("sagemaker"), aws_client("sagemaker-runtime"), aws_client("s3")
    endpoint = deploy(sm, package_model(sm, approved), [{"name": "AllTraffic"}])
    first = wait_for(sm, endpoint)["EndpointConfigName"]
    s3.put_object(Bucket=approved["bucket"], Key="broken2/model.tar.gz", Body=tarball({"x": b""}))
    broken = unique("config")
    sm.create_endpoint_config(
        EndpointConfigName=broken,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": artifact_model(sm, approved, "broken2/model.tar.gz"),
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )

    sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=broken)
    assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "Updating"
    with pytest.raises(ClientError, match="Cannot update in-progress endpoint"):
        sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=broken)
    described = wait_for(sm, endpoint)

    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == first
    assert "did not pass the ping health check" in described["FailureReason"]
    answer = runtime.invoke_endpoint(
        EndpointName=endpoint,
        ContentType="text/csv",
        Body=csv_rows(approved, approved["rows"].head(1)),
    )
    assert answer["InvokedProductionVariant"] == "AllTraffic"
    sm.delete_endpoint(EndpointName=endpoint)


def test_names_already_taken_are_refused(aws_client, approved, endpoint):
    sm = aws_client("sagemaker")
    config = sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]

    with pytest.raises(ClientError, match="Cannot create already existing endpoint"):
        sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
    with pytest.raises(ClientError, match="already existing endpoint configuration"):
        sm.create_endpoint_config(
            EndpointConfigName=config,
            ProductionVariants=[
                {
                    "VariantName": "x",
                    "ModelName": package_model(sm, approved),
                    "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": 1,
                }
            ],
        )


@contextlib.contextmanager
def private_local_aws(tmp_path: Path, env: dict[str, str], model: bytes, code: bytes):
    """A local AWS of the test's own (started with ``env``) serving the model ``m``: the
    archive ``model`` and the handlers' code tarball ``code``, in the bucket ``models``.

    Yields ``(process, client)``, ``client(service, **kwargs)`` making its boto3 clients.
    """
    from local_aws.process import LocalAWSProcess

    aws = LocalAWSProcess(
        state_dir=tmp_path / "state", config=PROJECT_ROOT / "pipeline.toml", env=env
    )
    aws.start()
    try:
        session = boto3.Session(region_name="us-east-1")

        def client(service: str, **kwargs):
            return session.client(service, endpoint_url=aws.endpoint_url, **kwargs)

        role = client("iam").create_role(RoleName="r", AssumeRolePolicyDocument=SAGEMAKER_TRUST)
        s3 = client("s3")
        create_bucket(s3, "models")
        s3.put_object(Bucket="models", Key="model.tar.gz", Body=model)
        s3.put_object(Bucket="models", Key="code.tar.gz", Body=code)
        client("sagemaker").create_model(
            ModelName="m",
            ExecutionRoleArn=role["Role"]["Arn"],
            PrimaryContainer={
                "Image": IMAGE,
                "ModelDataUrl": "s3://models/model.tar.gz",
                "Environment": {
                    "SAGEMAKER_PROGRAM": "inference.py",
                    "SAGEMAKER_SUBMIT_DIRECTORY": "s3://models/code.tar.gz",
                },
            },
        )
        yield aws, client
    finally:
        aws.stop()


@pytest.mark.parametrize("isolation", ["auto", "paths"])
def test_endpoints_come_back_after_the_local_aws_is_killed(tmp_path, trained, isolation):
    """``kill -9`` of the local AWS, then start: the endpoint answers again, no server left over.

    Under ``paths`` isolation nothing ties a server to the local AWS's life: the start reaps it.
    """
    servers = tmp_path / "state" / "endpoints"
    archive = (trained.model_archive_dir / "model.tar.gz").read_bytes()
    environment = {"LOCAL_AWS_JOB_ISOLATION": isolation}
    with private_local_aws(tmp_path, environment, archive, source_tarball()) as (aws, client):
        sm = client("sagemaker")
        endpoint = deploy(sm, "m", [{"name": "AllTraffic"}])
        assert wait_for(sm, endpoint)["EndpointStatus"] == "InService"
        rows = pd.read_csv(trained.prepared / "test" / "test.csv").head(3)
        body = rows[inference.model_fn(str(trained.model_dir)).transform.raw_columns].to_csv(
            header=False, index=False
        )

        def invoke():
            answer = client("sagemaker-runtime").invoke_endpoint(
                EndpointName=endpoint, ContentType="text/csv", Accept="text/csv", Body=body
            )
            return answer["Body"].read()

        before = invoke()
        old = {p.pid for p in psutil.process_iter() if _cwd_under(p, servers)}
        assert old, "no model server process found"

        aws.kill()
        aws.start()

        assert wait_for(sm, endpoint)["EndpointStatus"] == "InService"
        assert invoke() == before
        deadline = time.monotonic() + 5  # SIGKILLed processes take a moment to go
        while (left := {pid for pid in old if _alive(pid)}) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not left, f"servers of the killed local AWS still run: {_described(left)}"
    assert not [p for p in psutil.process_iter() if _cwd_under(p, servers)], "servers left running"


def _described(pids: set[int]) -> list[str]:
    found = []
    for pid in pids:
        try:
            process = psutil.Process(pid)
            found.append(f"{pid} {process.status()} {' '.join(process.cmdline())[:120]}")
        except psutil.Error:
            found.append(f"{pid} gone")
    return found


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _cwd_under(process, folder: Path) -> bool:
    try:
        return Path(process.cwd()).is_relative_to(folder)
    except Exception:  # gone, or not ours to read
        return False


def transform_request(model, model_name: str, name: str, prefix: str, **extra) -> dict:
    return {
        "TransformJobName": name,
        "ModelName": model_name,
        "TransformInput": {
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": f"s3://{model['bucket']}/{prefix}/in/",
                }
            },
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {
            "S3OutputPath": f"s3://{model['bucket']}/{prefix}/out/",
            "Accept": "text/csv",
            "AssembleWith": "Line",
        },
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        **extra,
    }


def wait_for_job(sm, name: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = sm.describe_transform_job(TransformJobName=name)
        if job["TransformJobStatus"] not in ("InProgress", "Stopping"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"transform job {name} still running")


def test_a_transform_job_writes_what_the_endpoint_answers(aws_client, approved, endpoint):
    sm, s3, runtime = aws_client("sagemaker"), aws_client("s3"), aws_client("sagemaker-runtime")
    rows = approved["rows"]
    body = csv_rows(approved, rows)
    s3.put_object(Bucket=approved["bucket"], Key="batch/in/part-1.csv", Body=body)
    s3.put_object(Bucket=approved["bucket"], Key="batch/in/more/part-2.csv", Body=body)
    realtime = runtime.invoke_endpoint(
        EndpointName=endpoint, ContentType="text/csv", Accept="text/csv", Body=body
    )["Body"].read()
    name = unique("transform")

    sm.create_transform_job(
        **transform_request(
            approved, package_model(sm, approved), name, "batch", BatchStrategy="MultiRecord"
        )
    )
    job = wait_for_job(sm, name)

    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    for key in ("batch/out/part-1.csv.out", "batch/out/more/part-2.csv.out"):
        written = s3.get_object(Bucket=approved["bucket"], Key=key)["Body"].read()
        assert written.splitlines() == realtime.splitlines()


def test_a_transform_job_filters_and_joins_records(aws_client, approved):
    sm, s3 = aws_client("sagemaker"), aws_client("s3")
    rows = approved["rows"].head(5)
    features = csv_rows(approved, rows).splitlines()
    with_ids = "".join(f"id-{i},{line}\n" for i, line in enumerate(features))
    s3.put_object(Bucket=approved["bucket"], Key="joined/in/rows.csv", Body=with_ids)
    name = unique("transform")

    sm.create_transform_job(
        **transform_request(
            approved,
            package_model(sm, approved),
            name,
            "joined",
            BatchStrategy="SingleRecord",
            DataProcessing={
                "InputFilter": "$[1:]",
                "JoinSource": "Input",
                "OutputFilter": "$[0,-1]",
            },
        )
    )
    job = wait_for_job(sm, name)

    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    lines = s3.get_object(Bucket=approved["bucket"], Key="joined/out/rows.csv.out")["Body"]
    pairs = [line.split(",") for line in lines.read().decode().splitlines()]
    expected = handlers_predict(approved["model_dir"], rows)
    assert [pair[0] for pair in pairs] == [f"id-{i}" for i in range(5)]
    assert [float(pair[1]) for pair in pairs] == pytest.approx(expected, abs=1e-6)


def test_a_transform_job_captures_manifests_and_inference_ids(aws_client, approved):
    """Batch capture as SageMaker documents it: manifests of what was read and written."""
    sm, s3 = aws_client("sagemaker"), aws_client("s3")
    rows = approved["rows"].head(4)
    s3.put_object(Bucket=approved["bucket"], Key="captured/in/a.csv", Body=csv_rows(approved, rows))
    s3.put_object(Bucket=approved["bucket"], Key="captured/in/b.csv", Body=csv_rows(approved, rows))
    name = unique("transform")
    destination = f"s3://{approved['bucket']}/batch-capture"

    sm.create_transform_job(
        **transform_request(
            approved,
            package_model(sm, approved),
            name,
            "captured",
            DataCaptureConfig={"DestinationS3Uri": destination, "GenerateInferenceId": True},
        )
    )
    job = wait_for_job(sm, name)

    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    hour = job["TransformStartTime"].astimezone(datetime.UTC).strftime("%Y/%m/%d/%H")
    manifests = {}
    for kind in ("input", "output"):
        key = f"batch-capture/{kind}/{hour}/{name}.jsonl"
        manifests[kind] = json.loads(
            s3.get_object(Bucket=approved["bucket"], Key=key)["Body"].read()
        )
    assert manifests["input"] == [
        {"prefix": f"s3://{approved['bucket']}/captured/in/"},
        "a.csv",
        "b.csv",
    ]
    assert manifests["output"] == [
        {"prefix": f"s3://{approved['bucket']}/captured/out/"},
        "a.csv.out",
        "b.csv.out",
    ]
    started = job["TransformStartTime"].astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = s3.get_object(Bucket=approved["bucket"], Key="captured/out/a.csv.out")["Body"].read()
    fields = [line.split(",") for line in lines.decode().splitlines()]
    assert [float(f[0]) for f in fields] == pytest.approx(
        handlers_predict(approved["model_dir"], rows), abs=1e-6
    )
    assert all(str(uuid.UUID(f[1])) == f[1] and f[2] == started for f in fields)
    assert len({f[1] for f in fields}) == len(fields)  # one ID a record


def test_inference_ids_need_one_answer_line_per_record(aws_client, approved):
    """One JSON document answering many records cannot carry an ID per record: refused."""
    sm, s3 = aws_client("sagemaker"), aws_client("s3")
    rows = approved["rows"].head(3)
    s3.put_object(Bucket=approved["bucket"], Key="ids/in/a.csv", Body=csv_rows(approved, rows))
    capture = {"DestinationS3Uri": f"s3://{approved['bucket']}/ids-capture"}
    model = package_model(sm, approved)
    jobs = {}
    for strategy, assemble in (("MultiRecord", "Line"), ("SingleRecord", "None")):
        jobs[strategy] = unique("transform")
        request = transform_request(
            approved,
            model,
            jobs[strategy],
            f"ids/{strategy}",
            BatchStrategy=strategy,
            DataCaptureConfig={**capture, "GenerateInferenceId": True},
        )
        request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] = (
            f"s3://{approved['bucket']}/ids/in/"
        )
        request["TransformOutput"] |= {"Accept": "application/json", "AssembleWith": assemble}
        sm.create_transform_job(**request)

    refused = wait_for_job(sm, jobs["MultiRecord"])
    answered = wait_for_job(sm, jobs["SingleRecord"])

    assert refused["TransformJobStatus"] == "Failed"
    assert "one answer line per record" in refused["FailureReason"]
    assert answered["TransformJobStatus"] == "Completed", answered.get("FailureReason")
    key = "ids/SingleRecord/out/a.csv.out"
    written = s3.get_object(Bucket=approved["bucket"], Key=key)["Body"].read().decode()
    documents = [json.loads(part) for part in written.replace("}{", "}\n{").splitlines()]
    assert len(documents) == 3  # AssembleWith None: the answers one after another
    assert len({document["SageMakerInferenceId"] for document in documents}) == 3
    assert [d["predictions"][0] for d in documents] == pytest.approx(
        handlers_predict(approved["model_dir"], rows), abs=1e-6
    )


def test_a_transform_job_the_model_refuses_fails_with_its_message(aws_client, approved):
    sm, s3 = aws_client("sagemaker"), aws_client("s3")
    s3.put_object(Bucket=approved["bucket"], Key="bad/in/rows.csv", Body=b"1,2\n")
    name = unique("transform")

    sm.create_transform_job(**transform_request(approved, package_model(sm, approved), name, "bad"))
    job = wait_for_job(sm, name)

    assert job["TransformJobStatus"] == "Failed"
    assert "each CSV row needs" in job["FailureReason"]


class _TaskInstance:
    """What the provider's operators push their console links to (Airflow's task instance)."""

    def __init__(self):
        self.xcom: dict = {}

    def xcom_push(self, key, value, **_):
        self.xcom[key] = value


def test_the_providers_operators_deploy_update_and_transform(
    aws_client, approved, local_aws, monkeypatch
):
    from airflow.providers.amazon.aws.operators.sagemaker import (
        SageMakerEndpointConfigOperator,
        SageMakerEndpointOperator,
        SageMakerModelOperator,
        SageMakerTransformOperator,
    )
    from airflow.providers.amazon.aws.sensors.sagemaker import SageMakerEndpointSensor

    connection = {
        "conn_type": "aws",
        "login": "local",
        "password": "local",
        "extra": {"endpoint_url": local_aws.endpoint_url, "region_name": "us-east-1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SERVING_TEST", json.dumps(connection))
    common = {"aws_conn_id": "serving_test"}
    context = {"ti": _TaskInstance()}
    models = [unique("model"), unique("model")]
    for name in models:
        SageMakerModelOperator(
            task_id="model",
            config={
                "ModelName": name,
                "ExecutionRoleArn": approved["role"],
                "PrimaryContainer": {"ModelPackageName": approved["package_arn"]},
            },
            **common,
        ).execute(context)
    configs = [unique("config"), unique("config")]
    for config, model_name in zip(configs, models, strict=True):
        SageMakerEndpointConfigOperator(
            task_id="config",
            config={
                "EndpointConfigName": config,
                "ProductionVariants": [
                    {
                        "VariantName": "AllTraffic",
                        "ModelName": model_name,
                        "InstanceType": "ml.m5.large",
                        "InitialInstanceCount": 1,
                    }
                ],
            },
            **common,
        ).execute(context)
    endpoint = unique("endpoint")

    for config, operation in zip(configs, ("create", "update"), strict=True):
        result = SageMakerEndpointOperator(
            task_id=operation,
            config={"EndpointName": endpoint, "EndpointConfigName": config},
            operation=operation,
            check_interval=1,
            max_ingestion_time=120,
            **common,
        ).execute(context)
        assert result["Endpoint"]["EndpointStatus"] == "InService"
        assert result["Endpoint"]["EndpointConfigName"] == config
    SageMakerEndpointSensor(task_id="sensor", endpoint_name=endpoint, **common).execute(context)
    s3 = aws_client("s3")
    s3.put_object(
        Bucket=approved["bucket"],
        Key="operator/in/rows.csv",
        Body=csv_rows(approved, approved["rows"].head(3)),
    )
    transformed = SageMakerTransformOperator(
        task_id="transform",
        config=transform_request(approved, models[1], unique("transform"), "operator"),
        check_interval=1,
        max_ingestion_time=120,
        **common,
    ).execute(context)

    assert transformed["Transform"]["TransformJobStatus"] == "Completed"
    written = s3.get_object(Bucket=approved["bucket"], Key="operator/out/rows.csv.out")["Body"]
    assert len(written.read().decode().splitlines()) == 3


def statistic(cloudwatch, endpoint: str, metric: str, stat: str, variant: str = "AllTraffic"):
    now = time.time()
    points = cloudwatch.get_metric_statistics(
        Namespace="AWS/SageMaker",
        MetricName=metric,
        Dimensions=[
            {"Name": "EndpointName", "Value": endpoint},
            {"Name": "VariantName", "Value": variant},
        ],
        StartTime=now - 600,
        EndTime=now + 60,
        Period=60,
        Statistics=[stat],
    )["Datapoints"]
    return sum(point[stat] for point in points) if points else None


def test_invocations_emit_the_endpoint_metrics(aws_client, approved):
    sm, runtime, cloudwatch = (
        aws_client("sagemaker"),
        aws_client("sagemaker-runtime"),
        aws_client("cloudwatch"),
    )
    endpoint = deploy(sm, package_model(sm, approved), [{"name": "AllTraffic"}])
    wait_for(sm, endpoint)
    body = csv_rows(approved, approved["rows"].head(1))
    for _ in range(5):
        runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=body)
    for _ in range(2):
        with pytest.raises(ClientError):
            runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body="1\n")

    deadline = time.monotonic() + 30
    while (
        time.monotonic() < deadline and statistic(cloudwatch, endpoint, "Invocations", "Sum") != 7
    ):
        time.sleep(1)

    assert statistic(cloudwatch, endpoint, "Invocations", "Sum") == 7
    assert statistic(cloudwatch, endpoint, "Invocation4XXErrors", "Sum") == 2
    assert statistic(cloudwatch, endpoint, "Invocation5XXErrors", "Sum") == 0
    assert statistic(cloudwatch, endpoint, "ModelLatency", "Minimum") > 0
    assert statistic(cloudwatch, endpoint, "OverheadLatency", "SampleCount") == 7
    sm.delete_endpoint(EndpointName=endpoint)


FAILING_HANDLERS = b"""
def model_fn(model_dir):
    return "model"


def input_fn(body, content_type):
    return body


def predict_fn(data, model):
    if data.strip() == b"boom":
        raise RuntimeError("the model broke on this input")
    return data


def output_fn(prediction, accept):
    return prediction
"""


@pytest.mark.slow
def test_an_alarm_on_server_errors_of_an_endpoint_notifies(aws_client, approved):
    """A container whose predict_fn raises: Invocation5XXErrors over a minute sets off the alarm."""
    sm, s3, runtime = aws_client("sagemaker"), aws_client("s3"), aws_client("sagemaker-runtime")
    cloudwatch, sns, sqs = aws_client("cloudwatch"), aws_client("sns"), aws_client("sqs")
    bucket = approved["bucket"]
    s3.put_object(Bucket=bucket, Key="failing/model.tar.gz", Body=tarball({"weights": b"0"}))
    s3.put_object(
        Bucket=bucket, Key="failing/code.tar.gz", Body=tarball({"inference.py": FAILING_HANDLERS})
    )
    model_name = unique("model")
    sm.create_model(
        ModelName=model_name,
        ExecutionRoleArn=approved["role"],
        PrimaryContainer={
            "Image": IMAGE,
            "ModelDataUrl": f"s3://{bucket}/failing/model.tar.gz",
            "Environment": {
                "SAGEMAKER_PROGRAM": "inference.py",
                "SAGEMAKER_SUBMIT_DIRECTORY": f"s3://{bucket}/failing/code.tar.gz",
            },
        },
    )
    endpoint = deploy(sm, model_name, [{"name": "AllTraffic"}])
    assert wait_for(sm, endpoint)["EndpointStatus"] == "InService"
    topic = sns.create_topic(Name=unique("errors"))["TopicArn"]
    queue = subscribed_queue(sns, sqs, [topic], unique("errors"))
    alarm = unique("server-errors")
    cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        Namespace="AWS/SageMaker",
        MetricName="Invocation5XXErrors",
        Dimensions=[
            {"Name": "EndpointName", "Value": endpoint},
            {"Name": "VariantName", "Value": "AllTraffic"},
        ],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[topic],
    )

    assert runtime.invoke_endpoint(EndpointName=endpoint, Body=b"fine")["Body"].read() == b"fine"
    with pytest.raises(ClientError) as failed:
        runtime.invoke_endpoint(EndpointName=endpoint, Body=b"boom")
    assert failed.value.response["OriginalStatusCode"] == 500
    assert failed.value.response["OriginalMessage"] == "the model broke on this input"

    deadline = time.monotonic() + 150
    state = None
    while time.monotonic() < deadline and state != "ALARM":
        time.sleep(2)
        state = cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"]
    assert state == "ALARM"
    message = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=10)["Messages"][0]
    assert json.loads(json.loads(message["Body"])["Message"])["AlarmName"] == alarm
    sm.delete_endpoint(EndpointName=endpoint)


SLOW_HANDLERS = b"""
import time


def model_fn(model_dir):
    return "model"


def input_fn(body, content_type):
    return body


def predict_fn(data, model):
    if data.strip() == b"slow":
        time.sleep(3)
    return data


def output_fn(prediction, accept):
    return prediction
"""


def test_a_serverless_variant_starts_cold_throttles_and_stops_when_idle(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from botocore.config import Config

    servers = tmp_path / "state" / "endpoints"
    running = lambda: [p for p in psutil.process_iter() if _cwd_under(p, servers)]  # noqa: E731
    environment = {"LOCAL_AWS_SERVERLESS_IDLE_SECONDS": "3"}
    model, code = tarball({"weights": b"0"}), tarball({"inference.py": SLOW_HANDLERS})
    with private_local_aws(tmp_path, environment, model, code) as (_aws, client):
        sm = client("sagemaker")
        sm.create_endpoint_config(
            EndpointConfigName="serverless",
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": "m",
                    "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 1},
                }
            ],
        )
        sm.create_endpoint(EndpointName="serverless", EndpointConfigName="serverless")
        described = wait_for(sm, "serverless")
        assert described["EndpointStatus"] == "InService"
        assert described["ProductionVariants"][0]["CurrentServerlessConfig"]["MaxConcurrency"] == 1
        assert running() == [], "a serverless variant has no server before its first request"

        runtime = client("sagemaker-runtime", config=Config(retries={"total_max_attempts": 1}))
        invoke = lambda body: runtime.invoke_endpoint(  # noqa: E731
            EndpointName="serverless", ContentType="text/plain", Body=body
        )["Body"].read()
        assert invoke(b"cold") == b"cold"
        assert running(), "the first request started the server"
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(invoke, b"slow")
            time.sleep(1)
            with pytest.raises(ClientError) as throttled:
                invoke(b"second")
            assert slow.result() == b"slow"
        assert throttled.value.response["Error"]["Code"] == "ThrottlingException"
        with pytest.raises(ClientError, match="serverless"):
            invoke(b"0" * (4 * 1024 * 1024 + 1))

        deadline = time.monotonic() + 15
        while running() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert running() == [], "the idle server was not stopped"
        assert invoke(b"warm again") == b"warm again"
    assert running() == []


def test_asynchronous_inference_writes_the_answer_and_notifies(aws_client, approved):
    sm, s3, runtime = aws_client("sagemaker"), aws_client("s3"), aws_client("sagemaker-runtime")
    sns, sqs = aws_client("sns"), aws_client("sqs")
    bucket = approved["bucket"]
    topics = {kind: sns.create_topic(Name=unique(kind))["TopicArn"] for kind in ("ok", "error")}
    queue = subscribed_queue(sns, sqs, list(topics.values()), unique("async"))
    config, endpoint = unique("config"), unique("endpoint")
    sm.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": package_model(sm, approved),
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
        AsyncInferenceConfig={
            "OutputConfig": {
                "S3OutputPath": f"s3://{bucket}/async/out",
                "S3FailurePath": f"s3://{bucket}/async/failed",
                "NotificationConfig": {
                    "SuccessTopic": topics["ok"],
                    "ErrorTopic": topics["error"],
                },
            }
        },
    )
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
    assert wait_for(sm, endpoint)["EndpointStatus"] == "InService"
    rows = approved["rows"].head(3)
    s3.put_object(Bucket=bucket, Key="async/in/rows.csv", Body=csv_rows(approved, rows))
    s3.put_object(Bucket=bucket, Key="async/in/bad.csv", Body=b"1,2\n")

    answered = runtime.invoke_endpoint_async(
        EndpointName=endpoint,
        InputLocation=f"s3://{bucket}/async/in/rows.csv",
        ContentType="text/csv",
        Accept="text/csv",
        InferenceId="request-1",
    )
    failed = runtime.invoke_endpoint_async(
        EndpointName=endpoint,
        InputLocation=f"s3://{bucket}/async/in/bad.csv",
        ContentType="text/csv",
    )
    inline = runtime.invoke_endpoint_async(
        EndpointName=endpoint,
        Body=csv_rows(approved, rows),
        ContentType="text/csv",
        Accept="text/csv",
        InferenceId="request-2",
        S3OutputPathExtension="daily/2026",
        Filename="rows.csv",
    )
    with pytest.raises(ClientError, match="exactly one of them"):
        runtime.invoke_endpoint_async(EndpointName=endpoint, ContentType="text/csv")

    assert inline["OutputLocation"] == f"s3://{bucket}/async/out/daily/2026/rows.csv"
    assert answered["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert answered["InferenceId"] == "request-1"
    assert answered["OutputLocation"].startswith(f"s3://{bucket}/async/out/")
    notes, deadline = [], time.monotonic() + 30
    while len(notes) < 3 and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=2).get("Messages", []):
            notes.append(json.loads(json.loads(message["Body"])["Message"]))
    by_id = {note["inferenceId"]: note for note in notes}
    by_status = {note["invocationStatus"]: note for note in notes}
    expected = handlers_predict(approved["model_dir"], rows)
    for call in (answered, inline):
        note = by_id[call["InferenceId"]]
        assert note["invocationStatus"] == "Completed"
        assert note["responseParameters"]["outputLocation"] == call["OutputLocation"]
        key = call["OutputLocation"].split(f"s3://{bucket}/", 1)[1]
        written = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        assert [float(v) for v in written.splitlines()] == pytest.approx(expected, abs=1e-6)
    assert by_status["Failed"]["inferenceId"] == failed["InferenceId"]
    error_key = failed["FailureLocation"].split(f"s3://{bucket}/", 1)[1]
    assert b"each CSV row needs" in s3.get_object(Bucket=bucket, Key=error_key)["Body"].read()
    sm.delete_endpoint(EndpointName=endpoint)


# --- deployment guardrails ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def second_model(aws_client, approved, tmp_path_factory):
    """Another model of the same rows (fewer rounds, other predictions), as an artifact in S3."""
    run = train_pipeline(
        tmp_path_factory.mktemp("second"), "binary_classification", 1500, "--num_round", "3"
    )
    aws_client("s3").put_object(
        Bucket=approved["bucket"],
        Key="second/model.tar.gz",
        Body=(run.model_archive_dir / "model.tar.gz").read_bytes(),
    )
    return run.model_dir


def one_row_predictions(runtime, endpoint: str, approved, count: int) -> list[float]:
    body = csv_rows(approved, approved["rows"].head(1))
    return [
        float(
            runtime.invoke_endpoint(
                EndpointName=endpoint, ContentType="text/csv", Accept="text/csv", Body=body
            )["Body"].read()
        )
        for _ in range(count)
    ]


def config_of(sm, model_name: str, instances: int = 2, variant: str = "AllTraffic") -> str:
    name = unique("config")
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": variant,
                "ModelName": model_name,
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": instances,
            }
        ],
    )
    return name


def test_a_canary_that_trips_its_alarm_rolls_back_and_a_linear_update_completes(
    aws_client, approved, second_model
):
    sm, runtime = aws_client("sagemaker"), aws_client("sagemaker-runtime")
    cloudwatch = aws_client("cloudwatch")
    first = handlers_predict(approved["model_dir"], approved["rows"].head(1))[0]
    second = handlers_predict(second_model, approved["rows"].head(1))[0]
    assert abs(first - second) > 1e-4
    endpoint, old_config = unique("endpoint"), config_of(sm, package_model(sm, approved))
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=old_config)
    assert wait_for(sm, endpoint)["EndpointStatus"] == "InService"
    new_config = config_of(sm, artifact_model(sm, approved, "second/model.tar.gz"))
    alarm, dimensions = unique("canary-errors"), [{"Name": "Endpoint", "Value": endpoint}]
    cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        Namespace="Tests/Canary",
        MetricName="Errors",
        Dimensions=dimensions,
        Statistic="Maximum",
        Period=10,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    canary = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 50},
                "WaitIntervalInSeconds": 120,
            },
            "MaximumExecutionTimeoutInSeconds": 600,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": alarm}]},
    }
    renamed = config_of(sm, artifact_model(sm, approved, "second/model.tar.gz"), variant="Other")
    with pytest.raises(ClientError, match="same variant names"):
        sm.update_endpoint(
            EndpointName=endpoint, EndpointConfigName=renamed, DeploymentConfig=canary
        )
    too_big = json.loads(json.dumps(canary))
    too_big["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["CanarySize"]["Value"] = 60
    with pytest.raises(ClientError, match="at most 50"):
        sm.update_endpoint(
            EndpointName=endpoint, EndpointConfigName=new_config, DeploymentConfig=too_big
        )

    sm.update_endpoint(
        EndpointName=endpoint, EndpointConfigName=new_config, DeploymentConfig=canary
    )
    deadline = time.monotonic() + 60
    while "PendingDeploymentSummary" not in sm.describe_endpoint(EndpointName=endpoint):
        assert time.monotonic() < deadline, "the canary never started"
        time.sleep(0.2)
    during = one_row_predictions(runtime, endpoint, approved, 60)
    described = sm.describe_endpoint(EndpointName=endpoint)
    cloudwatch.put_metric_data(
        Namespace="Tests/Canary",
        MetricData=[
            {
                "MetricName": "Errors",
                "Dimensions": dimensions,
                "Timestamp": datetime.datetime.now(datetime.UTC),
                "Value": 1,
                "StorageResolution": 1,
            }
        ],
    )
    rolled_back = wait_for(sm, endpoint, timeout=90)
    after = one_row_predictions(runtime, endpoint, approved, 30)

    assert described["EndpointStatus"] == "Updating"
    assert described["PendingDeploymentSummary"]["EndpointConfigName"] == new_config
    canaries = sum(abs(p - second) < 1e-6 for p in during)
    assert 10 <= canaries <= 50, f"{canaries} of 60 requests reached the canary"
    assert rolled_back["EndpointStatus"] == "InService"
    assert rolled_back["EndpointConfigName"] == old_config
    assert alarm in rolled_back["FailureReason"]
    assert "PendingDeploymentSummary" not in rolled_back
    assert after == pytest.approx([first] * 30, abs=1e-6)

    linear = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "LINEAR",
                "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 50},
                "WaitIntervalInSeconds": 1,
            },
            "TerminationWaitInSeconds": 0,
        }
    }
    sm.update_endpoint(
        EndpointName=endpoint, EndpointConfigName=new_config, DeploymentConfig=linear
    )
    done = wait_for(sm, endpoint, timeout=90)

    assert done["EndpointStatus"] == "InService" and done["EndpointConfigName"] == new_config
    assert "FailureReason" not in done
    assert one_row_predictions(runtime, endpoint, approved, 10) == pytest.approx(
        [second] * 10, abs=1e-6
    )
    sm.delete_endpoint(EndpointName=endpoint)
