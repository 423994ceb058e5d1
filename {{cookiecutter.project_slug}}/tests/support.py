"""Constants the tests share: the project's config and what AWS setup they assume."""

from __future__ import annotations

import io
import json
import tarfile
import time
import tomllib
import urllib.request
from pathlib import Path

from local_aws.server import HEALTH_PATH

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((PROJECT_ROOT / "pipeline.toml").read_text())
ACCOUNTS = {
    name: env["account_id"] for name, env in CONFIG["environments"].items() if "account_id" in env
}
REGION = CONFIG["environments"]["dev"]["region"]
SAGEMAKER_TRUST = json.dumps(
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


def create_bucket(s3, name: str) -> None:
    """Create a bucket in the client's region, as S3 requires outside us-east-1."""
    region = s3.meta.region_name
    location = (
        {}
        if region == "us-east-1"
        else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    )
    s3.create_bucket(Bucket=name, **location)


def source_tarball(train_script: bytes) -> bytes:
    """A script-mode source directory (``sagemaker_submit_directory``) holding ``train.py``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("train.py")
        info.size = len(train_script)
        tar.addfile(info, io.BytesIO(train_script))
    return buffer.getvalue()


def wait(sm, kind: str, name: str, timeout: float = 120) -> dict:
    """Describe a ``processing`` or ``training`` job until it has ended; return the description."""
    describe = getattr(sm, f"describe_{kind}_job")
    key = "ProcessingJobName" if kind == "processing" else "TrainingJobName"
    status_key = "ProcessingJobStatus" if kind == "processing" else "TrainingJobStatus"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = describe(**{key: name})
        if job[status_key] not in ("InProgress", "Stopping"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"{kind} job {name} still running after {timeout} s")


def health(endpoint_url: str) -> dict:
    """What a local AWS says of itself: project, state folder, version, job isolation."""
    with urllib.request.urlopen(endpoint_url + HEALTH_PATH, timeout=5) as response:
        return json.load(response)


def queue_for(sqs, name: str) -> tuple[str, str]:
    """A new SQS queue: its URL and ARN (to subscribe it, or make it a rule's target)."""
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return url, arn["QueueArn"]


def subscribed_queue(sns, sqs, topics: list[str], name: str) -> str:
    """A new SQS queue subscribed to ``topics`` (SNS's envelope kept); its URL."""
    url, arn = queue_for(sqs, name)
    for topic in topics:
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    return url


def register_bare_version(sagemaker, config, status: str = "Approved") -> str:
    """A version of the group with only an image (proposals read versions, not their files),
    its approval set to ``status``; its ARN."""
    package = sagemaker.create_model_package(
        ModelPackageGroupName=config.registry.model_package_group,
        InferenceSpecification={
            "Containers": [{"Image": config.env.image_uri}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]
    sagemaker.update_model_package(ModelPackageArn=package, ModelApprovalStatus=status)
    return package
