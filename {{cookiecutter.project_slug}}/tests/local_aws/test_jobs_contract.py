"""The local AWS runs SageMaker jobs by SageMaker's contracts, driven only through plain boto3."""

from __future__ import annotations

import io
import json
import tarfile
import time
import uuid

import pytest

from tests.support import create_bucket, health, source_tarball, wait

pytestmark = pytest.mark.timeout(300)

PROCESSING_SCRIPT = b"""
import json, os, pathlib, sys
source, target = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
rows = (source / "data.csv").read_text().splitlines()
(target / "summary.json").write_text(json.dumps({
    "rows": len(rows) - 1,
    "greeting": os.environ["GREETING"],
    "args": sys.argv[1:],
}))
if os.environ.get("MESSAGE"):
    message = os.environ["MESSAGE"] * int(os.environ.get("REPEAT", "1"))
    pathlib.Path(os.environ["MESSAGE_FILE"]).write_text(message)
if os.environ.get("FAIL"):
    raise ValueError("the data has no rows with a target")
"""

TRAINING_SCRIPT = b"""
import argparse, json, os, time
parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int)
parser.add_argument("--fail", default="no")
parser.add_argument("--sleep", type=float, default=0)
args = parser.parse_args()
for epoch in range(args.epochs):
    print(f"epoch={epoch} validation-auc: {0.6 + epoch / 10:.2f}", flush=True)
time.sleep(args.sleep)
if args.fail == "yes":
    raise RuntimeError("the loss diverged")
seen = {k: v for k, v in os.environ.items() if k.startswith("SM_")}
seen["channel_files"] = sorted(os.listdir(os.environ["SM_CHANNEL_TRAIN"]))
with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.json"), "w") as f:
    json.dump(seen, f)
with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "history.txt"), "w") as f:
    f.write("done")
"""


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def bucket(aws_client) -> str:
    name = unique("contract")
    s3 = aws_client("s3")
    create_bucket(s3, name)
    s3.put_object(Bucket=name, Key="data/data.csv", Body=b"a,b\n1,2\n3,4\n")
    s3.put_object(Bucket=name, Key="code/process.py", Body=PROCESSING_SCRIPT)
    s3.put_object(Bucket=name, Key="code/sourcedir.tar.gz", Body=source_tarball(TRAINING_SCRIPT))
    return name


def start_processing(
    sm, bucket, role, name, environment=None, max_runtime=600, script="process.py"
):
    sm.create_processing_job(
        ProcessingJobName=name,
        RoleArn=role,
        ProcessingResources={
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "VolumeSizeInGB": 5,
            }
        },
        StoppingCondition={"MaxRuntimeInSeconds": max_runtime},
        AppSpecification={
            "ImageUri": "111111111111.dkr.ecr.us-east-1.amazonaws.com/jobs:latest",
            "ContainerEntrypoint": ["python3", f"/opt/ml/processing/input/code/{script}"],
            "ContainerArguments": ["/opt/ml/processing/input/data", "/opt/ml/processing/output"],
        },
        Environment={"GREETING": "hello", **(environment or {})},
        ProcessingInputs=[
            {
                "InputName": "data",
                "S3Input": {
                    "S3Uri": f"s3://{bucket}/data/",
                    "LocalPath": "/opt/ml/processing/input/data",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            },
            {
                "InputName": "code",
                "S3Input": {
                    "S3Uri": f"s3://{bucket}/code/{script}",
                    "LocalPath": "/opt/ml/processing/input/code",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            },
        ],
        ProcessingOutputConfig={
            "Outputs": [
                {
                    "OutputName": "summary",
                    "S3Output": {
                        "S3Uri": f"s3://{bucket}/outputs/{name}",
                        "LocalPath": "/opt/ml/processing/output",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
    )


def start_training(sm, bucket, role, name, hyperparameters, max_runtime=600):
    sm.create_training_job(
        TrainingJobName=name,
        RoleArn=role,
        AlgorithmSpecification={
            "TrainingImage": "111111111111.dkr.ecr.us-east-1.amazonaws.com/jobs:latest",
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "validation:auc", "Regex": "validation-auc: ([0-9.]+)"}],
        },
        HyperParameters={
            "sagemaker_program": json.dumps("train.py"),
            "sagemaker_submit_directory": json.dumps(f"s3://{bucket}/code/sourcedir.tar.gz"),
            **hyperparameters,
        },
        InputDataConfig=[
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/data/"}
                },
            }
        ],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/models"},
        ResourceConfig={"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": max_runtime},
    )


def read_json(s3, bucket, key):
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def log_messages(logs, group: str, job_name: str) -> list[str]:
    streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=f"{job_name}/")
    (stream,) = streams["logStreams"]
    events = logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])
    return [event["message"] for event in events["events"]]


def test_processing_job_runs_its_command_and_uploads_its_outputs(
    aws_client, bucket, execution_role, local_aws
):
    sm, s3 = aws_client("sagemaker"), aws_client("s3")
    name = unique("process")
    start_processing(sm, bucket, execution_role, name)
    assert sm.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"] == "InProgress"

    job = wait(sm, "processing", name)

    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["Environment"] == {"GREETING": "hello"}
    assert job["ProcessingResources"]["ClusterConfig"]["InstanceType"] == "ml.m5.large"
    summary = read_json(s3, bucket, f"outputs/{name}/summary.json")
    assert summary["rows"] == 2 and summary["greeting"] == "hello"
    expected = ["/opt/ml/processing/input/data", "/opt/ml/processing/output"]
    if health(local_aws.endpoint_url)["job_isolation"] == "namespace":
        assert summary["args"] == expected  # its own /opt/ml, in a mount namespace
    else:  # container paths mapped into its own sandbox, not /opt/ml itself
        assert all(arg.endswith(tuple(expected)) for arg in summary["args"])
        assert not any(arg.startswith("/opt/ml") for arg in summary["args"])


def test_processing_job_whose_script_raises_fails_with_that_error(
    aws_client, bucket, execution_role
):
    sm = aws_client("sagemaker")
    name = unique("process-fail")
    start_processing(sm, bucket, execution_role, name, environment={"FAIL": "1"})

    job = wait(sm, "processing", name)

    assert job["ProcessingJobStatus"] == "Failed"
    assert "ValueError: the data has no rows with a target" in job["FailureReason"]
    logs = log_messages(aws_client("logs"), "/aws/sagemaker/ProcessingJobs", name)
    assert any("Traceback" in line for line in logs)


def test_what_a_processing_container_writes_to_its_message_file_is_the_exit_message(
    aws_client, bucket, execution_role
):
    sm = aws_client("sagemaker")
    failed, completed = unique("process-message-fail"), unique("process-message")
    message_file = {"MESSAGE_FILE": "/opt/ml/output/message"}
    start_processing(
        sm,
        bucket,
        execution_role,
        failed,
        environment={**message_file, "FAIL": "1", "MESSAGE": "no target"},
    )
    long_message = {**message_file, "MESSAGE": "x" * 200, "REPEAT": "10"}  # 2,000 characters
    start_processing(sm, bucket, execution_role, completed, environment=long_message)

    failed_job, completed_job = wait(sm, "processing", failed), wait(sm, "processing", completed)

    assert failed_job["ProcessingJobStatus"] == "Failed"
    assert failed_job["ExitMessage"] == "no target"
    assert completed_job["ProcessingJobStatus"] == "Completed"
    assert completed_job["ExitMessage"] == "x" * 1024


def test_training_job_runs_script_mode_through_the_training_toolkit(
    aws_client, bucket, execution_role
):
    sm, s3 = aws_client("sagemaker"), aws_client("s3")
    name = unique("train")
    start_training(sm, bucket, execution_role, name, {"epochs": "3"})

    job = wait(sm, "training", name)

    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    model_uri = f"s3://{bucket}/models/{name}/output/model.tar.gz"
    assert job["ModelArtifacts"]["S3ModelArtifacts"] == model_uri
    archive = s3.get_object(Bucket=bucket, Key=f"models/{name}/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        seen = json.load(tar.extractfile("model.json"))
    assert json.loads(seen["SM_HPS"]) == {"epochs": 3}
    assert seen["SM_CHANNEL_TRAIN"].endswith("/opt/ml/input/data/train")
    assert seen["channel_files"] == ["data.csv"]
    assert seen["SM_CURRENT_HOST"] == "algo-1"
    assert s3.head_object(Bucket=bucket, Key=f"models/{name}/output/output.tar.gz")
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]] == [
        "Starting",
        "Downloading",
        "Training",
        "Uploading",
        "Completed",
    ]


def test_training_job_keeps_its_metric_definitions_and_parses_metrics_from_its_log(
    aws_client, bucket, execution_role
):
    sm = aws_client("sagemaker")
    name = unique("train-metrics")
    start_training(sm, bucket, execution_role, name, {"epochs": "4"})

    job = wait(sm, "training", name)

    assert job["AlgorithmSpecification"]["MetricDefinitions"] == [
        {"Name": "validation:auc", "Regex": "validation-auc: ([0-9.]+)"}
    ]
    metrics = {m["MetricName"]: m["Value"] for m in job["FinalMetricDataList"]}
    assert metrics == {"validation:auc": pytest.approx(0.9)}
    logs = log_messages(aws_client("logs"), "/aws/sagemaker/TrainingJobs", name)
    assert "epoch=3 validation-auc: 0.90" in logs


def test_training_job_whose_script_raises_fails_with_that_error(aws_client, bucket, execution_role):
    sm = aws_client("sagemaker")
    name = unique("train-fail")
    start_training(sm, bucket, execution_role, name, {"epochs": "1", "fail": "yes"})

    job = wait(sm, "training", name)

    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("AlgorithmError: ")
    assert "RuntimeError: the loss diverged" in job["FailureReason"]
    assert job["SecondaryStatus"] == "Failed"


def test_jobs_over_their_max_runtime_end_stopped_with_aws_reason(
    aws_client, bucket, execution_role
):
    sm, s3 = aws_client("sagemaker"), aws_client("s3")
    s3.put_object(Bucket=bucket, Key="code/slow.py", Body=b"import time\ntime.sleep(60)\n")
    training, processing = unique("train-slow"), unique("process-slow")
    start_training(
        sm, bucket, execution_role, training, {"epochs": "1", "sleep": "60"}, max_runtime=2
    )
    start_processing(sm, bucket, execution_role, processing, max_runtime=2, script="slow.py")

    trained, processed = wait(sm, "training", training), wait(sm, "processing", processing)

    assert trained["TrainingJobStatus"] == "Stopped"
    assert trained["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert trained["SecondaryStatusTransitions"][-1]["StatusMessage"] == (
        "Training job runtime exceeded MaxRuntimeInSeconds provided"
    )
    assert processed["ProcessingJobStatus"] == "Stopped"
    assert "MaxRuntimeInSeconds" in processed["ExitMessage"]


def test_stop_training_job_stops_a_running_job(aws_client, bucket, execution_role):
    sm = aws_client("sagemaker")
    name = unique("train-stop")
    start_training(sm, bucket, execution_role, name, {"epochs": "1", "sleep": "60"})
    time.sleep(1)

    sm.stop_training_job(TrainingJobName=name)
    job = wait(sm, "training", name, timeout=30)

    assert job["TrainingJobStatus"] == "Stopped"
    assert job["SecondaryStatus"] == "Stopped"


def test_jobs_run_concurrently_and_apart(aws_client, bucket, execution_role):
    sm, s3 = aws_client("sagemaker"), aws_client("s3")
    s3.put_object(
        Bucket=bucket,
        Key="code/nap.py",
        # each writes a token of its own: two jobs sharing a folder would upload the same one
        Body=b"import sys, time, pathlib, uuid\n"
        b"pathlib.Path(sys.argv[2], 'who.txt').write_text(uuid.uuid4().hex)\ntime.sleep(3)\n",
    )
    names = [unique("concurrent") for _ in range(2)]
    started = time.monotonic()
    for name in names:
        start_processing(sm, bucket, execution_role, name, script="nap.py")
    jobs = [wait(sm, "processing", name) for name in names]

    assert time.monotonic() - started < 5.5, "the two 3-second jobs ran one after the other"
    assert [job["ProcessingJobStatus"] for job in jobs] == ["Completed", "Completed"]
    written = [
        s3.get_object(Bucket=bucket, Key=f"outputs/{name}/who.txt")["Body"].read().decode()
        for name in names
    ]
    assert written[0] != written[1], "both jobs wrote into the same folder"


def test_a_job_name_already_used_is_refused(aws_client, bucket, execution_role):
    sm = aws_client("sagemaker")
    name = unique("dup")
    start_processing(sm, bucket, execution_role, name)
    with pytest.raises(sm.exceptions.ClientError, match="must be unique"):
        start_processing(sm, bucket, execution_role, name)
    wait(sm, "processing", name)


def test_a_role_sagemaker_cannot_assume_is_refused(aws_client, bucket):
    sm = aws_client("sagemaker")
    missing = "arn:aws:iam::111111111111:role/does-not-exist"
    with pytest.raises(sm.exceptions.ClientError, match="Could not assume role"):
        start_processing(sm, bucket, missing, unique("norole"))


def test_a_processing_path_outside_opt_ml_processing_is_refused(aws_client, bucket, execution_role):
    sm = aws_client("sagemaker")
    with pytest.raises(sm.exceptions.ClientError, match="must be a path under") as refused:
        sm.create_processing_job(
            ProcessingJobName=unique("escape"),
            RoleArn=execution_role,
            ProcessingResources={
                "ClusterConfig": {
                    "InstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                    "VolumeSizeInGB": 5,
                }
            },
            AppSpecification={"ImageUri": "img:1", "ContainerEntrypoint": ["python3", "-V"]},
            ProcessingInputs=[
                {
                    "InputName": "data",
                    "S3Input": {
                        "S3Uri": f"s3://{bucket}/data/",
                        "LocalPath": "/home/someone/data",
                        "S3DataType": "S3Prefix",
                        "S3InputMode": "File",
                    },
                }
            ],
            ProcessingOutputConfig={
                "Outputs": [
                    {
                        "OutputName": "out",
                        "S3Output": {
                            "S3Uri": f"s3://{bucket}/out",
                            "LocalPath": "/opt/ml/processing/../../../etc",
                            "S3UploadMode": "EndOfJob",
                        },
                    }
                ]
            },
        )
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "'/home/someone/data'" in str(refused.value)
    assert "/opt/ml/processing/../../../etc" in str(refused.value)


def test_what_the_local_aws_cannot_emulate_is_refused_with_a_message_saying_so(
    aws_client, bucket, execution_role
):
    sm = aws_client("sagemaker")
    with pytest.raises(sm.exceptions.ClientError, match="not emulated by the local AWS") as refused:
        sm.create_training_job(
            TrainingJobName=unique("spot"),
            RoleArn=execution_role,
            AlgorithmSpecification={"TrainingImage": "img:1", "TrainingInputMode": "Pipe"},
            OutputDataConfig={"S3OutputPath": f"s3://{bucket}/models"},
            ResourceConfig={"InstanceCount": 2, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 5},
            StoppingCondition={"MaxRuntimeInSeconds": 60},
            EnableManagedSpotTraining=True,
        )
    message = str(refused.value)
    assert "TrainingInputMode Pipe" in message
    assert "more than one instance" in message
    assert "EnableManagedSpotTraining" in message
