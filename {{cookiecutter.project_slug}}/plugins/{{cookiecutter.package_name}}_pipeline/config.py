"""The pipeline's configuration: ``pipeline.toml``, with the current environment's section.

Every setting lives in ``pipeline.toml``; this module only finds the file, picks the environment
named by ``PIPELINE_ENV`` and answers the questions the DAGs ask of it. It imports nothing heavy,
so DAG files can use it at parse time. ``PIPELINE_ENV`` has no default: a deployment that forgot
it must not quietly run against the local AWS's endpoint.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

CONFIG_FILE = "pipeline.toml"
#: Whether a higher value of a metric is better; the gate reads the direction from here.
HIGHER_IS_BETTER = {
    "auc": True,
    "f1": True,
    "accuracy": True,
    "precision": True,
    "recall": True,
    "r2": True,
    "rmse": False,
    "mae": False,
    "mse": False,
}


class ConfigError(ValueError):
    """pipeline.toml is missing, or lacks or contradicts a setting."""


def find_config_file() -> Path:
    """``$PIPELINE_CONFIG``, else the first ``pipeline.toml`` up from here or in the DAGs folder.

    In the repository the file sits at the root; a deployment (MWAA) ships it in the DAGs folder,
    which Airflow's configuration names however it is set (variable, ``airflow.cfg``, MWAA).
    """
    explicit = os.environ.get("PIPELINE_CONFIG")
    if explicit:
        return Path(explicit)
    from airflow.configuration import conf

    dags_folder = Path(conf.get("core", "dags_folder"))
    candidates = [dags_folder / CONFIG_FILE]
    candidates += [parent / CONFIG_FILE for parent in Path(__file__).resolve().parents]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"{CONFIG_FILE} not found: set PIPELINE_CONFIG, or ship it in the DAGs folder"
    )


@dataclass(frozen=True)
class Environment:
    """Where the pipeline runs: account, region, endpoint and the resources in that account."""

    name: str
    account_id: str
    region: str
    bucket: str
    role_name: str
    aws_conn_id: str
    poll_interval_seconds: int
    endpoint_url: str | None = None
    image_uri: str | None = None
    processing_instance_type: str = "ml.m5.xlarge"
    training_instance_type: str = "ml.m5.xlarge"
    deferrable: bool = False
    retry_delay_seconds: int = 60

    @property
    def partition(self) -> str:
        if self.region.startswith("cn-"):
            return "aws-cn"
        if self.region.startswith("us-gov-"):
            return "aws-us-gov"
        return "aws"

    @property
    def role_arn(self) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:role/{self.role_name}"

    def topic_arn(self, topic_name: str) -> str:
        return f"arn:{self.partition}:sns:{self.region}:{self.account_id}:{topic_name}"

    def queue_url(self, queue_name: str) -> str:
        """The SQS queue URL as the SQS API reports it for this environment's endpoint."""
        domain = "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"
        base = self.endpoint_url or f"https://sqs.{self.region}.{domain}"
        return f"{base.rstrip('/')}/{self.account_id}/{queue_name}"


class PipelineConfig:
    """``pipeline.toml`` read once; sections as dicts, the environment as an ``Environment``."""

    def __init__(self, settings: dict[str, Any], environment_name: str, path: Path | None = None):
        self.settings = settings
        self.environment_name = environment_name
        self.path = path

    @classmethod
    def load(cls, path: Path | None = None, environment: str | None = None) -> PipelineConfig:
        path = path or find_config_file()
        try:
            settings = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(f"cannot read {path}: {error}") from error
        environment = environment or os.environ.get("PIPELINE_ENV")
        if not environment:
            names = ", ".join(sorted(settings.get("environments", {})))
            raise ConfigError(
                f"PIPELINE_ENV is not set: name the [environments.*] section of {path} to run "
                f"with (one of {names}); make demo, make airflow and the tests set it to local"
            )
        return cls(settings, environment, path)

    def section(self, name: str) -> dict[str, Any]:
        try:
            return self.settings[name]
        except KeyError:
            raise ConfigError(f"{self.path}: section [{name}] is missing") from None

    @property
    def project(self) -> dict[str, Any]:
        return self.section("project")

    @property
    def data(self) -> dict[str, Any]:
        return self.section("data")

    @property
    def training(self) -> dict[str, Any]:
        return self.section("training")

    @property
    def registry(self) -> dict[str, Any]:
        return self.section("registry")

    @property
    def slug(self) -> str:
        return self.project["slug"]

    @property
    def package(self) -> str:
        return self.project["package"]

    @property
    def training_dag_id(self) -> str:
        return f"{self.package}_training"

    @cached_property
    def env(self) -> Environment:
        environments = self.section("environments")
        if self.environment_name not in environments:
            raise ConfigError(
                f"PIPELINE_ENV={self.environment_name!r} names no [environments.*] section in "
                f"{self.path}; expected one of {', '.join(sorted(environments))}"
            )
        merged = _resolve(environments, self.environment_name, seen=())
        fields = Environment.__dataclass_fields__
        unknown = set(merged) - set(fields)
        if unknown:
            raise ConfigError(
                f"[environments.{self.environment_name}] has unknown settings: {sorted(unknown)}"
            )
        try:
            return Environment(name=self.environment_name, **merged)
        except TypeError as error:
            raise ConfigError(f"[environments.{self.environment_name}]: {error}") from None

    @property
    def primary_metric(self) -> str:
        metric = self.training["primary_metric"]
        if metric not in HIGHER_IS_BETTER:
            raise ConfigError(f"training.primary_metric {metric!r} is not one the gate knows")
        return metric

    @property
    def artifact_root(self) -> str:
        """``s3://<bucket>/<slug>``: everything the pipeline writes lives below it."""
        return f"s3://{self.env.bucket}/{self.slug}"

    @property
    def raw_data_uri(self) -> str:
        return f"{self.artifact_root}/{self.data['raw_prefix'].strip('/')}/"


def _resolve(environments: dict, name: str, seen: tuple[str, ...]) -> dict[str, Any]:
    if name in seen:
        raise ConfigError(
            f"environments extend each other in a cycle: {' -> '.join(seen + (name,))}"
        )
    section = dict(environments[name])
    base = section.pop("extends", None)
    if base is None:
        return section
    if base not in environments:
        raise ConfigError(f"[environments.{name}] extends unknown environment {base!r}")
    return {**_resolve(environments, base, seen + (name,)), **section}


def load_config(environment: str | None = None) -> PipelineConfig:
    return PipelineConfig.load(environment=environment)
