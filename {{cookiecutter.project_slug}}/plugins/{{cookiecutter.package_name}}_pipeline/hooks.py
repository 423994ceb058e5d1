"""The amazon provider's hooks for the environment the config names, and S3 URIs split.

Every AWS call of the pipeline's Python tasks goes through these, so the same code runs against
AWS and the local AWS: only the Airflow connection differs.

Airflow is imported when a hook is made, not when this module is: the developer tools import
the modules that use these (packaging, the registry request) before they point Airflow at its
home, and Airflow reads its settings once, on first import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .config import PipelineConfig

if TYPE_CHECKING:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook


def s3_hook(config: PipelineConfig) -> S3Hook:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=config.env.aws_conn_id, region_name=config.env.region)


def sagemaker_client(config: PipelineConfig):
    """A boto3 SageMaker client through the environment's connection."""
    from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

    return SageMakerHook(aws_conn_id=config.env.aws_conn_id, region_name=config.env.region).conn


def aws_client(config: PipelineConfig, service: str, environment: str | None = None):
    """A boto3 client of any service through an environment's connection (by default the one
    the DAGs run in; another's, such as ``aws_staging``, for what runs there)."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    env = config.environment(environment) if environment else config.env
    return AwsBaseHook(
        aws_conn_id=env.aws_conn_id, region_name=env.region, client_type=service
    ).conn


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` → ``("bucket", "key")``."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key
