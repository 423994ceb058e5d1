"""Jobs written outside this project, as a new user writes them, against `make local-aws`.

The server is started exactly as `make local-aws` starts it (`python -m local_aws` with the
relative state folder `.local-aws`, from the project folder), and the jobs' scripts are written
here, the way AWS's examples write them: paths as arguments, or `/opt/ml/...` in the script's own
code. Each job's log says how it saw `/opt/ml`, and its messages show `/opt/ml` paths, never the
folder on this machine that stands for it.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path

import boto3
import pytest

import local_aws
from local_aws.jobs.sandbox import detect_isolation
from tests.support import (
    CONFIG,
    PROJECT_ROOT,
    REGION,
    SAGEMAKER_TRUST,
    create_bucket,
    health,
    source_tarball,
    wait,
)

pytestmark = pytest.mark.timeout(300)

HARD_CODED_PROCESSING = b"""
import pathlib, subprocess
rows = pathlib.Path("/opt/ml/processing/input/data/data.csv").read_text().splitlines()
pathlib.Path("/opt/ml/processing/output/rows.txt").write_text(str(len(rows) - 1))
print("read", len(rows) - 1, "rows from /opt/ml/processing/input/data/data.csv")
subprocess.run(["true"], stdout=subprocess.DEVNULL, check=True)  # devices work as in a container
"""

# Ends cleanly on SIGTERM, as a job that saves a checkpoint when SageMaker stops it.
STOPPABLE = b"""
import signal, sys, time
def stop(*_):
    time.sleep(1)
    print("cleaned up", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print("started", flush=True)
time.sleep(120)
"""

ARGUMENT_PROCESSING = b"""
import pathlib, sys
rows = (pathlib.Path(sys.argv[1]) / "data.csv").read_text().splitlines()
(pathlib.Path(sys.argv[2]) / "rows.txt").write_text(str(len(rows) - 1))
"""

TRAINING = b"""
import argparse, json, os
parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int)
args = parser.parse_args()
for epoch in range(args.epochs):
    print(f"epoch={epoch} loss: {1 / (epoch + 1):.3f}", flush=True)
files = sorted(os.listdir(os.environ["SM_CHANNEL_TRAIN"]))
with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.json"), "w") as f:
    json.dump({"epochs": args.epochs, "files": files}, f)
"""

# Leaves the toolkit no folder to report in: it then exits 0 without reporting success.
BREAKS_THE_TOOLKIT = b"""
import os, shutil
shutil.rmtree(os.environ["SM_OUTPUT_DIR"])
open(os.environ["SM_OUTPUT_DIR"], "w").close()
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MakeLocalAWS:
    """`make local-aws` in a project folder: `python -m local_aws --state-dir .local-aws`."""

    def __init__(self, folder: Path, **environment: str):
        self.folder = folder
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        shutil.copy(PROJECT_ROOT / "pipeline.toml", folder / "pipeline.toml")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local_aws", "--state-dir", ".local-aws"],
            cwd=folder,
            env={
                **os.environ,
                "LOCAL_AWS_PORT": str(self.port),
                "PYTHONPATH": str(PROJECT_ROOT),
                **environment,
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        # what `make local-aws` prints once serving (or nothing, when it exits first)
        self.first_line = self.process.stdout.readline()
        if "Local AWS serving" not in self.first_line:
            self.stop()
            raise AssertionError(f"the local AWS did not start: {self.first_line!r}")

    def client(self, service: str):
        return boto3.client(service, endpoint_url=self.endpoint_url, region_name=REGION)

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    aws = MakeLocalAWS(tmp_path_factory.mktemp("project"))
    yield aws
    aws.stop()


@pytest.fixture(scope="module")
def paths_server(tmp_path_factory):
    """The same, on a machine without mount namespaces: jobs get their paths mapped."""
    aws = MakeLocalAWS(tmp_path_factory.mktemp("project"), LOCAL_AWS_JOB_ISOLATION="paths")
    yield aws
    aws.stop()


def prepare(aws: MakeLocalAWS, key: str, script: bytes) -> tuple[str, str]:
    """A bucket holding data and the script at ``key``, and a role SageMaker may assume."""
    s3, iam = aws.client("s3"), aws.client("iam")
    bucket = f"own-scripts-{uuid.uuid4().hex[:8]}"
    create_bucket(s3, bucket)
    s3.put_object(Bucket=bucket, Key="data/data.csv", Body=b"a,b\n1,2\n3,4\n5,6\n")
    s3.put_object(Bucket=bucket, Key=key, Body=script)
    try:
        role = iam.create_role(RoleName="own-scripts", AssumeRolePolicyDocument=SAGEMAKER_TRUST)
    except iam.exceptions.EntityAlreadyExistsException:
        role = iam.get_role(RoleName="own-scripts")
    return bucket, role["Role"]["Arn"]


def run_processing(
    aws: MakeLocalAWS, script: bytes, arguments: list[str] | None = None, stop_after: str = ""
) -> dict:
    """``python3 /opt/ml/processing/input/code/script.py <arguments>`` as a processing job.

    With ``stop_after``, the job is stopped once its log shows that text.
    """
    bucket, role = prepare(aws, "code/script.py", script)
    name = f"own-process-{uuid.uuid4().hex[:8]}"
    sm = aws.client("sagemaker")
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
        AppSpecification={
            "ImageUri": "111111111111.dkr.ecr.us-east-1.amazonaws.com/own:latest",
            "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/script.py"],
            **({"ContainerArguments": arguments} if arguments else {}),
        },
        ProcessingInputs=[
            {
                "InputName": name,
                "S3Input": {
                    "S3Uri": f"s3://{bucket}/{prefix}/",
                    "LocalPath": f"/opt/ml/processing/input/{prefix}",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            }
            for name, prefix in (("data", "data"), ("code", "code"))
        ],
        ProcessingOutputConfig={
            "Outputs": [
                {
                    "OutputName": "result",
                    "S3Output": {
                        "S3Uri": f"s3://{bucket}/outputs/{name}",
                        "LocalPath": "/opt/ml/processing/output",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
    )
    if stop_after:
        deadline = time.monotonic() + 60
        while stop_after not in log_of(aws, "/aws/sagemaker/ProcessingJobs", name):
            assert time.monotonic() < deadline, f"{stop_after!r} never appeared in the log"
            time.sleep(0.2)
        sm.stop_processing_job(ProcessingJobName=name)
    job = wait(sm, "processing", name)
    job["bucket"], job["log"] = bucket, log_of(aws, "/aws/sagemaker/ProcessingJobs", name)
    return job


def run_training(aws: MakeLocalAWS, script: bytes, program: str = "train.py") -> dict:
    """Script mode: ``script`` as ``train.py`` of the source tarball, run by the toolkit."""
    bucket, role = prepare(aws, "code/source.tar.gz", source_tarball(script))
    name = f"own-train-{uuid.uuid4().hex[:8]}"
    sm = aws.client("sagemaker")
    sm.create_training_job(
        TrainingJobName=name,
        RoleArn=role,
        AlgorithmSpecification={
            "TrainingImage": "111111111111.dkr.ecr.us-east-1.amazonaws.com/own:latest",
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "loss", "Regex": "loss: ([0-9.]+)"}],
        },
        HyperParameters={
            "sagemaker_program": json.dumps(program),
            "sagemaker_submit_directory": json.dumps(f"s3://{bucket}/code/source.tar.gz"),
            "epochs": "3",
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
        StoppingCondition={"MaxRuntimeInSeconds": 300},
    )
    job = wait(sm, "training", name)
    job["bucket"], job["log"] = bucket, log_of(aws, "/aws/sagemaker/TrainingJobs", name)
    return job


def log_of(aws: MakeLocalAWS, group: str, name: str) -> str:
    logs = aws.client("logs")
    streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=f"{name}/")
    return "\n".join(
        event["message"]
        for stream in streams["logStreams"]
        for event in logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])[
            "events"
        ]
    )


def read(aws: MakeLocalAWS, bucket: str, key: str) -> bytes:
    return aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()


def assert_no_host_path(aws: MakeLocalAWS, *texts: str) -> None:
    """Messages show the job's /opt/ml, not the folder standing for it on this machine."""
    for text in texts:
        assert str(aws.folder) not in text and "/jobs/" not in text, text


# --- started as `make local-aws` starts it --------------------------------------------------------


def test_the_server_keeps_its_state_in_an_absolute_folder_and_says_whose_it_is(server):
    said = health(server.endpoint_url)

    assert said["state_dir"] == str(server.folder / ".local-aws")
    assert said["project"] == CONFIG["project"]["slug"]
    assert said["project_root"] == str(server.folder)
    assert said["version"] == local_aws.__version__
    assert str(server.folder / ".local-aws") in server.first_line


def test_a_processing_job_given_its_paths_as_arguments_runs(server):
    job = run_processing(
        server, ARGUMENT_PROCESSING, ["/opt/ml/processing/input/data", "/opt/ml/processing/output"]
    )

    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    assert read(server, job["bucket"], f"outputs/{job['ProcessingJobName']}/rows.txt") == b"3"


def test_a_script_mode_training_job_runs_its_script_through_the_toolkit(server):
    job = run_training(server, TRAINING)

    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    archive = read(server, job["bucket"], f"models/{job['TrainingJobName']}/output/model.tar.gz")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert json.load(tar.extractfile("model.json")) == {"epochs": 3, "files": ["data.csv"]}
    assert [m["Value"] for m in job["FinalMetricDataList"]] == [pytest.approx(0.333)]
    assert "Invoking script with the following command" in job["log"]


def test_a_training_job_whose_entry_script_is_missing_fails_as_in_a_container(server):
    job = run_training(server, TRAINING, program="missing.py")

    assert job["TrainingJobStatus"] == "Failed"
    assert "ExecuteUserScriptError" in job["FailureReason"]
    assert "missing.py" in job["FailureReason"]
    assert "can't open file '/opt/ml/code/missing.py'" in job["log"]
    assert "ModelArtifacts" not in job or not job["ModelArtifacts"].get("S3ModelArtifacts")
    assert_no_host_path(server, job["FailureReason"], job["log"])


def test_a_training_job_the_toolkit_does_not_report_successful_never_ends_completed(server):
    job = run_training(server, BREAKS_THE_TOOLKIT)

    assert job["TrainingJobStatus"] == "Failed"
    assert (
        "exited without running the training script or reporting success" in (job["FailureReason"])
    )


# --- how jobs see /opt/ml ---------------------------------------------------------------------


@pytest.mark.skipif(
    detect_isolation().mode != "namespace",
    reason=f"no mount namespace here: {detect_isolation().reason}",
)
def test_with_namespaces_a_script_opening_opt_ml_itself_runs_and_the_host_is_untouched(server):
    existed = Path("/opt/ml").exists()

    job = run_processing(server, HARD_CODED_PROCESSING)

    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    assert read(server, job["bucket"], f"outputs/{job['ProcessingJobName']}/rows.txt") == b"3"
    assert job["log"].splitlines()[0] == (
        "[local AWS] the job has its own /opt/ml, in a private mount namespace"
    )
    assert "from /opt/ml/processing/input/data/data.csv" in job["log"]
    assert Path("/opt/ml").exists() == existed, "the job wrote /opt/ml on the host"
    assert health(server.endpoint_url)["job_isolation"] == "namespace"


@pytest.mark.skipif(detect_isolation().mode != "namespace", reason="no mount namespace here")
def test_with_namespaces_the_tools_under_opt_stay_visible(server):
    listing = b"import json, os, pathlib, sys\n" + (
        b"pathlib.Path(sys.argv[1], 'opt.json').write_text(json.dumps(os.listdir('/opt')))\n"
    )

    job = run_processing(server, listing, ["/opt/ml/processing/output"])

    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    seen = json.loads(read(server, job["bucket"], f"outputs/{job['ProcessingJobName']}/opt.json"))
    assert set(os.listdir("/opt")) | {"ml"} == set(seen)


def test_with_path_mapping_the_log_says_so_and_errors_show_opt_ml_paths(paths_server):
    job = run_processing(paths_server, HARD_CODED_PROCESSING)

    assert health(paths_server.endpoint_url)["job_isolation"] == "paths"
    first_line = job["log"].splitlines()[0]
    assert first_line.startswith("[local AWS] /opt/ml is mapped to the job's folder in its command")
    assert job["ProcessingJobStatus"] == "Failed"
    assert "/opt/ml/processing/input/data/data.csv" in job["FailureReason"]
    assert_no_host_path(paths_server, job["FailureReason"], job["log"])


def test_with_path_mapping_scripts_given_their_paths_run(paths_server):
    processing = run_processing(
        paths_server,
        ARGUMENT_PROCESSING,
        ["/opt/ml/processing/input/data", "/opt/ml/processing/output"],
    )
    training = run_training(paths_server, TRAINING)

    assert processing["ProcessingJobStatus"] == "Completed", processing.get("FailureReason")
    assert training["TrainingJobStatus"] == "Completed", training.get("FailureReason")


def test_a_job_isolation_mode_that_does_not_exist_is_refused(tmp_path):
    result = start_make_local_aws(
        tmp_path, LOCAL_AWS_PORT=str(free_port()), LOCAL_AWS_JOB_ISOLATION="chroot"
    )

    assert result.returncode == 2
    assert "LOCAL_AWS_JOB_ISOLATION='chroot' is not a job isolation mode" in result.stderr


@pytest.mark.parametrize("mode", ["namespace", "paths"])
def test_a_stopped_job_gets_its_grace_period_to_end_cleanly(mode, server, paths_server):
    if mode == "namespace" and detect_isolation().mode != "namespace":
        pytest.skip(f"no mount namespace here: {detect_isolation().reason}")
    aws = server if mode == "namespace" else paths_server

    job = run_processing(aws, STOPPABLE, stop_after="started")

    assert job["ProcessingJobStatus"] == "Stopped"
    assert "cleaned up" in job["log"], "the job was killed before its SIGTERM handler ran"


def test_a_port_another_program_holds_is_refused_saying_how_to_move(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = start_make_local_aws(tmp_path, LOCAL_AWS_PORT=str(port))

    assert result.returncode == 2
    assert f"error: cannot serve on http://127.0.0.1:{port}" in result.stderr
    assert "export LOCAL_AWS_PORT=" in result.stderr


@pytest.mark.parametrize("value", ["abc", "99999"])
def test_a_local_aws_port_that_is_not_a_port_is_refused_naming_the_setting(tmp_path, value):
    result = start_make_local_aws(tmp_path, LOCAL_AWS_PORT=value)

    assert result.returncode == 2
    assert "endpoint_url" in result.stderr and "LOCAL_AWS_PORT sets it" in result.stderr
    assert "Traceback" not in result.stderr


def start_make_local_aws(tmp_path: Path, **environment: str) -> subprocess.CompletedProcess:
    """`make local-aws` that is expected to refuse to start."""
    shutil.copy(PROJECT_ROOT / "pipeline.toml", tmp_path)
    return subprocess.run(
        [sys.executable, "-m", "local_aws", "--state-dir", ".local-aws"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **environment},
        capture_output=True,
        text=True,
        timeout=60,
    )
