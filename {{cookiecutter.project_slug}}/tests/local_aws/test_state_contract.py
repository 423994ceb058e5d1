"""The local AWS keeps its state on disk: it survives a restart and a kill -9."""

from __future__ import annotations

import json
import time

import boto3
import psutil
import pytest

from local_aws.process import LocalAWSError, LocalAWSProcess
from tests.support import (
    ACCOUNTS,
    PROJECT_ROOT,
    REGION,
    SAGEMAKER_TRUST,
    create_bucket,
    source_tarball,
    wait,
)

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def server(tmp_path):
    process = LocalAWSProcess(state_dir=tmp_path / "state", config=PROJECT_ROOT / "pipeline.toml")
    process.start()
    yield process
    process.stop()


def client(server, service):
    return boto3.client(service, endpoint_url=server.endpoint_url, region_name=REGION)


def role(server) -> str:
    iam = client(server, "iam")
    return iam.create_role(RoleName="state-tests", AssumeRolePolicyDocument=SAGEMAKER_TRUST)[
        "Role"
    ]["Arn"]


def test_s3_objects_and_jobs_survive_a_restart(server):
    s3, sm = client(server, "s3"), client(server, "sagemaker")
    create_bucket(s3, "kept-bucket")
    s3.put_object(Bucket="kept-bucket", Key="data/big.bin", Body=b"x" * 3_000_000)
    arn = role(server)
    sm.create_model_package_group(ModelPackageGroupName="kept-group")

    server.stop()
    server.start()

    s3, sm = client(server, "s3"), client(server, "sagemaker")
    body = s3.get_object(Bucket="kept-bucket", Key="data/big.bin")["Body"].read()
    assert body == b"x" * 3_000_000
    listed = s3.list_objects_v2(Bucket="kept-bucket")["Contents"]
    assert [o["Key"] for o in listed] == ["data/big.bin"]
    assert sm.describe_model_package_group(ModelPackageGroupName="kept-group")
    assert client(server, "iam").get_role(RoleName="state-tests")["Role"]["Arn"] == arn


def test_s3_data_lives_on_disk_not_in_the_state_snapshot(server):
    s3 = client(server, "s3")
    create_bucket(s3, "disk-bucket")
    s3.put_object(Bucket="disk-bucket", Key="blob", Body=b"y" * 5_000_000)

    snapshot = server.state_dir / "services" / "s3.pickle"
    blobs = [p for p in (server.state_dir / "s3-blobs").rglob("*") if p.is_file()]
    assert snapshot.stat().st_size < 100_000
    assert any(p.stat().st_size == 5_000_000 for p in blobs)


@pytest.mark.parametrize("ending", ["kill", "stop"], ids=["kill -9", "graceful stop"])
def test_every_acknowledged_write_survives_and_the_running_job_ends_failed(server, ending):
    s3, sm = client(server, "s3"), client(server, "sagemaker")
    create_bucket(s3, "crash-bucket")
    s3.put_object(
        Bucket="crash-bucket", Key="code/sleep.py", Body=b"import time\ntime.sleep(120)\n"
    )
    start_script_job(sm, role(server), "interrupted", "s3://crash-bucket/code/sleep.py")
    s3.put_object(Bucket="crash-bucket", Key="after-job.txt", Body=b"written last")
    job_pids = wait_for_job_processes(server)

    getattr(server, ending)()
    server.start()

    s3, sm = client(server, "s3"), client(server, "sagemaker")
    assert (
        s3.get_object(Bucket="crash-bucket", Key="after-job.txt")["Body"].read() == b"written last"
    )
    job = sm.describe_processing_job(ProcessingJobName="interrupted")
    assert job["ProcessingJobStatus"] == "Failed"
    assert "stopped while this job was running" in job["FailureReason"]
    assert not [pid for pid in job_pids if running(pid)], "orphaned job process left"


def start_script_job(sm, role_arn: str, name: str, script_uri: str, output_uri: str = "") -> None:
    """A processing job running one script from S3 with its output folder as argument; the
    folder is uploaded to ``output_uri`` when one is given."""
    code_dir, output_dir = "/opt/ml/processing/input/code", "/opt/ml/processing/output"
    folder, script = script_uri.rsplit("/", 1)
    request = {
        "ProcessingJobName": name,
        "RoleArn": role_arn,
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "VolumeSizeInGB": 5,
            }
        },
        "AppSpecification": {
            "ImageUri": "jobs:latest",
            "ContainerEntrypoint": ["python3", f"{code_dir}/{script}"],
            "ContainerArguments": [output_dir],
        },
        "ProcessingInputs": [
            {
                "InputName": "code",
                "S3Input": {
                    "S3Uri": f"{folder}/",
                    "LocalPath": code_dir,
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            }
        ],
    }
    if output_uri:
        output = {"S3Uri": output_uri, "LocalPath": output_dir, "S3UploadMode": "EndOfJob"}
        request["ProcessingOutputConfig"] = {
            "Outputs": [{"OutputName": "result", "S3Output": output}]
        }
    sm.create_processing_job(**request)


def running(pid: int) -> bool:
    """Whether ``pid`` still runs (a killed process waiting to be reaped does not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_for_job_processes(server, timeout: float = 30) -> list[int]:
    """The pids of the job processes the server has started, once there is one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records = [json.loads(p.read_text()) for p in (server.state_dir / "running").glob("*.json")]
        if records:
            return [record["pid"] for record in records]
        time.sleep(0.1)
    raise AssertionError("no job process started")


def test_a_finished_jobs_outputs_survive_a_kill_9(server):
    s3, sm = client(server, "s3"), client(server, "sagemaker")
    create_bucket(s3, "outputs-bucket")
    s3.put_object(
        Bucket="outputs-bucket",
        Key="code/write.py",
        Body=b"import pathlib, sys\npathlib.Path(sys.argv[1], 'result.txt').write_text('done')\n",
    )
    start_script_job(
        sm,
        role(server),
        "finished",
        "s3://outputs-bucket/code/write.py",
        "s3://outputs-bucket/result",
    )
    assert wait(sm, "processing", "finished", timeout=60)["ProcessingJobStatus"] == "Completed"

    server.kill()
    server.start()

    s3, sm = client(server, "s3"), client(server, "sagemaker")
    assert sm.describe_processing_job(ProcessingJobName="finished")["ProcessingJobStatus"] == (
        "Completed"
    )
    body = s3.get_object(Bucket="outputs-bucket", Key="result/result.txt")["Body"].read()
    assert body == b"done"


def test_a_training_job_interrupted_by_kill_9_ends_failed_with_its_logged_metrics(server):
    """As after any failure: a closed Failed transition, an end time, the metrics logged."""
    s3, sm = client(server, "s3"), client(server, "sagemaker")
    create_bucket(s3, "kill-training")
    script = b"import time\nfor i in range(3):\n    print(f'loss: 0.{9 - i}', flush=True)\n"
    s3.put_object(
        Bucket="kill-training",
        Key="code/source.tar.gz",
        Body=source_tarball(script + b"time.sleep(120)\n"),
    )
    s3.put_object(Bucket="kill-training", Key="data/a.csv", Body=b"a\n1\n")
    sm.create_training_job(
        TrainingJobName="killed",
        RoleArn=role(server),
        AlgorithmSpecification={
            "TrainingImage": "111111111111.dkr.ecr.us-east-1.amazonaws.com/jobs:latest",
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "loss", "Regex": "loss: ([0-9.]+)"}],
        },
        HyperParameters={
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": '"s3://kill-training/code/source.tar.gz"',
        },
        InputDataConfig=[
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://kill-training/data/"}
                },
            }
        ],
        OutputDataConfig={"S3OutputPath": "s3://kill-training/models"},
        ResourceConfig={"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )
    wait_for_log_line(client(server, "logs"), "killed", "loss: 0.7")
    time.sleep(1.5)  # the log reaches the state on disk at least once a second

    server.kill()
    server.start()

    job = client(server, "sagemaker").describe_training_job(TrainingJobName="killed")
    transitions = job["SecondaryStatusTransitions"]
    assert job["TrainingJobStatus"] == job["SecondaryStatus"] == "Failed"
    assert "stopped while this job was running" in job["FailureReason"]
    assert job["TrainingEndTime"] >= job["TrainingStartTime"]
    assert [t["Status"] for t in transitions][-2:] == ["Training", "Failed"]
    assert all("EndTime" in transition for transition in transitions)
    assert [(m["MetricName"], m["Value"]) for m in job["FinalMetricDataList"]] == [("loss", 0.7)]


def wait_for_log_line(logs, job_name: str, text: str, timeout: float = 60) -> None:
    group = "/aws/sagemaker/TrainingJobs"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=job_name)
        for stream in streams.get("logStreams", []):
            events = logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])
            if any(text in event["message"] for event in events["events"]):
                return
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared in the log of {job_name}")


def test_state_from_an_incompatible_version_is_refused_with_a_clear_message(server):
    server.stop()
    (server.state_dir / "format.json").write_text(json.dumps({"state_format": 0, "moto": "4.0.0"}))

    with pytest.raises(LocalAWSError, match="written by state format 0 with moto 4.0.0"):
        server.start()


def test_a_snapshot_this_code_cannot_read_is_refused_with_a_clear_message(server):
    create_bucket(client(server, "s3"), "some-bucket")
    server.stop()
    (server.state_dir / "services" / "s3.pickle").write_bytes(b"not a snapshot")

    with pytest.raises(LocalAWSError, match=r"s3\.pickle cannot be read"):
        server.start()


def test_accounts_are_separate_and_reached_by_assuming_a_role(server):
    dev_s3 = client(server, "s3")
    create_bucket(dev_s3, "dev-only-bucket")
    sts = client(server, "sts")
    assert sts.get_caller_identity()["Account"] == ACCOUNTS["dev"]
    credentials = sts.assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNTS['staging']}:role/deployer",
        RoleSessionName="promotion",
    )["Credentials"]
    staging = boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=REGION,
    )
    staging_sts = staging.client("sts", endpoint_url=server.endpoint_url)
    staging_s3 = staging.client("s3", endpoint_url=server.endpoint_url)

    assert staging_sts.get_caller_identity()["Account"] == ACCOUNTS["staging"]
    assert "dev-only-bucket" not in [b["Name"] for b in staging_s3.list_buckets()["Buckets"]]


def test_s3_event_notifications_reach_sqs(server):
    s3, sqs = client(server, "s3"), client(server, "sqs")
    create_bucket(s3, "events-bucket")
    queue_url = sqs.create_queue(QueueName="raw-data-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket="events-bucket",
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "raw/"}]}},
                }
            ]
        },
    )
    s3.put_object(Bucket="events-bucket", Key="other/ignored.csv", Body=b"a")
    s3.put_object(Bucket="events-bucket", Key="raw/new.csv", Body=b"a")

    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=2)
    keys = [
        record["s3"]["object"]["key"]
        for message in messages.get("Messages", [])
        for record in json.loads(message["Body"]).get("Records", [])
    ]
    assert keys == ["raw/new.csv"]
