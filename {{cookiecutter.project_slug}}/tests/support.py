"""Constants the tests share: the project's config and what AWS setup they assume."""

from __future__ import annotations

import io
import json
import tarfile
import tomllib
from pathlib import Path

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
