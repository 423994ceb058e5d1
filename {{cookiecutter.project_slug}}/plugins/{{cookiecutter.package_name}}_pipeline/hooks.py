"""The amazon provider's hooks for the environment the config names, and S3 URIs split.

Every AWS call of the pipeline's Python tasks goes through these, so the same code runs against
AWS and the local AWS: only the Airflow connection differs.
"""

from __future__ import annotations

from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

from .config import PipelineConfig


def s3_hook(config: PipelineConfig) -> S3Hook:
    return S3Hook(aws_conn_id=config.env.aws_conn_id, region_name=config.env.region)


def sagemaker_client(config: PipelineConfig):
    """A boto3 SageMaker client through the environment's connection."""
    return SageMakerHook(aws_conn_id=config.env.aws_conn_id, region_name=config.env.region).conn


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` → ``("bucket", "key")``."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key
