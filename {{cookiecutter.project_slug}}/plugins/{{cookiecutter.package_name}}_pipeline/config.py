"""The pipeline's configuration: ``pipeline.toml``, with the current environment's section.

Every setting lives in ``pipeline.toml``; this module only finds the file, picks the environment
named by ``PIPELINE_ENV`` and answers the questions the DAGs ask of it. Each section is read into
a typed view (``config.data.target_column``), checked when it is first read: a misspelt or unknown
key, a missing one or a value of the wrong type fails there, naming the file and the key, not
three tasks later. It imports nothing heavy, so DAG files can use it at parse time.
``PIPELINE_ENV`` has no default: a deployment that forgot it must not quietly run against the
local AWS's endpoint.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
import typing
from dataclasses import MISSING, dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .metrics import Metric, MetricTableError, read_metric_table

CONFIG_FILE = "pipeline.toml"
#: The sections of pipeline.toml; any other is refused as a misspelling.
SECTIONS = (
    "project",
    "data",
    "training",
    "processing",
    "registry",
    "promotion",
    "monitoring",
    "notifications",
    "environments",
)
#: ``${NAME}`` or ``${NAME:-default}`` in an environment's values: a variable of the process
#: (``LOCAL_AWS_PORT`` moves the local AWS for every command).
_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


#: Model Monitor's data-quality checks (constraint_violations.json's constraint_check_type).
VIOLATION_CHECKS = (
    "data_type_check",
    "completeness_check",
    "baseline_drift_check",
    "missing_column_check",
    "extra_column_check",
    "categorical_values_check",
)


#: Where, below the artifact root, the monitoring DAG keeps drifted windows' labelled rows.
FEEDBACK_PREFIX = "data/feedback"


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
class ProjectSettings:
    """``[project]``: what the model is called."""

    name: str
    slug: str
    package: str
    owner_email: str
    #: The GitHub repository (owner/name) whose workflows promote: the roles trust only it.
    repository: str = ""

    def __post_init__(self):
        if self.repository and not re.fullmatch(r"[\w.-]+/[\w.-]+", self.repository):
            raise ValueError(f"repository {self.repository!r} is not owner/name")


@dataclass(frozen=True)
class DataSettings:
    """``[data]``: the training table and where it lands."""

    problem_type: str
    target_column: str
    raw_prefix: str
    raw_data_queue: str
    raw_suite: str
    features_suite: str
    sensitive_columns: list[str] = field(default_factory=list)
    sample_rows: int = 10000

    def __post_init__(self):
        raw, feedback = self.raw_prefix.strip("/") + "/", FEEDBACK_PREFIX + "/"
        if raw.startswith(feedback) or feedback.startswith(raw):
            raise ValueError(
                f"raw_prefix {self.raw_prefix!r} overlaps {FEEDBACK_PREFIX!r}, where monitoring "
                "keeps labelled capture (which must not start runs of its own): choose a "
                "raw_prefix beside it, such as data/raw"
            )


@dataclass(frozen=True)
class TrainingSettings:
    """``[training]``: when and how the model is trained, and the gate it must pass."""

    schedule: str
    primary_metric: str
    metric_threshold: float
    validation_fraction: float
    test_fraction: float
    seed: int
    max_runtime_seconds: int
    max_active_runs: int = 1
    #: ``train.py``'s own; a test holds them to the ones it accepts.
    hyperparameters: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not (self.validation_fraction > 0 and self.test_fraction > 0):
            raise ValueError("validation_fraction and test_fraction must be above 0")
        if self.validation_fraction + self.test_fraction >= 1:
            raise ValueError("validation_fraction and test_fraction must leave rows to train on")
        _at_least_one(max_runtime_seconds=self.max_runtime_seconds)
        _at_least_one(max_active_runs=self.max_active_runs)


@dataclass(frozen=True)
class ProcessingSettings:
    """``[processing]``: the processing jobs (data checks, preprocessing, evaluation)."""

    max_runtime_seconds: int = 3600

    def __post_init__(self):
        _at_least_one(max_runtime_seconds=self.max_runtime_seconds)


SERVING_IMAGES = ("jobs", "framework")


@dataclass(frozen=True)
class RegistrySettings:
    """``[registry]``: the Model Registry group and how its versions are served."""

    model_package_group: str
    #: The SQS queue the group's approval changes reach (the promotion DAG watches it).
    approval_events_queue: str
    content_types: list[str]
    inference_framework: str
    inference_framework_version: str
    #: The framework's serving image for the environments' region ("" where SageMaker has none).
    inference_image_uri: str
    #: What serves registered versions: "jobs" (the jobs' image, running the package's model
    #: server) or "framework" (``inference_image_uri``, SageMaker's own container).
    serving_image: str = "jobs"

    def __post_init__(self):
        if self.serving_image not in SERVING_IMAGES:
            raise ConfigError(
                f"[registry] serving_image = {self.serving_image!r}; expected one of "
                f"{', '.join(SERVING_IMAGES)}"
            )


@dataclass(frozen=True)
class PromotionSettings:
    """``[promotion]``: how approved versions are proposed to staging, then prod."""

    #: The Airflow connection holding the GitHub App that opens the pull requests.
    github_conn_id: str = "github_promotion"
    #: Hours staging serves a version, InService with no rollback alarm, before prod's turn.
    staging_soak_hours: float = 24.0
    #: The instance type of the first variant a proposal adds to an empty pin.
    instance_type: str = "ml.m5.large"

    def __post_init__(self):
        if self.staging_soak_hours < 0:
            raise ValueError("staging_soak_hours must not be negative")


@dataclass(frozen=True)
class MonitoringSettings:
    """``[monitoring]``: when the endpoints' capture is checked, and when drift retrains."""

    schedule: str
    #: The violations that count towards retraining, and in how many features at least.
    retrain_checks: list[str] = field(default_factory=lambda: ["baseline_drift_check"])
    retrain_min_features: int = 1
    #: Hours after a drift event in which another starts no run.
    cooldown_hours: float = 24.0
    #: Whether runs on the raw data also learn from drifted windows' rows with ground truth.
    retrain_on_labelled_capture: bool = True
    #: Minutes past a scheduled interval's end before it is checked: SageMaker writes capture
    #: within minutes of the requests.
    capture_delay_minutes: float = 10.0
    #: Where the metrics go (REFERENCE: AWS's drift sample's namespace).
    metric_namespace: str = "aws/sagemaker/Endpoints/data-metrics"
    quality_metric_namespace: str = "aws/sagemaker/Endpoints/model-metrics"

    def __post_init__(self):
        checks = set(self.retrain_checks) - set(VIOLATION_CHECKS)
        if checks:
            raise ValueError(
                f"retrain_checks {sorted(checks)} are not Model Monitor's checks "
                f"({', '.join(VIOLATION_CHECKS)})"
            )
        _at_least_one(retrain_min_features=self.retrain_min_features)
        for name in ("cooldown_hours", "capture_delay_minutes"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more, not {getattr(self, name)}")


@dataclass(frozen=True)
class NotificationSettings:
    """``[notifications]``: where run results are published."""

    topic_name: str


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
    #: The roles promotion assumes (``ci/promote``): in the account it copies versions from, one
    #: that reads the registry; in the accounts it deploys to, one that plans and one that deploys.
    registry_read_role_name: str | None = None
    plan_role_name: str | None = None
    deploy_role_name: str | None = None
    #: The role Airflow (in the dev account) assumes here to watch the endpoint: promotion's
    #: soak reads its status and alarms.
    watch_role_name: str | None = None
    #: The KMS key (ID, ARN or alias) promotion encrypts copied model files with.
    kms_key_id: str | None = None

    def __post_init__(self):
        if not re.fullmatch(r"[0-9]{12}", self.account_id):
            raise ValueError(f"account_id {self.account_id!r} is not 12 digits")
        _at_least_one(poll_interval_seconds=self.poll_interval_seconds)
        if self.retry_delay_seconds < 0:
            raise ValueError("retry_delay_seconds must not be negative")

    @property
    def partition(self) -> str:
        if self.region.startswith("cn-"):
            return "aws-cn"
        if self.region.startswith("us-gov-"):
            return "aws-us-gov"
        return "aws"

    @property
    def role_arn(self) -> str:
        return self.arn_of_role(self.role_name)

    def arn_of_role(self, name: str) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:role/{name}"

    def topic_arn(self, topic_name: str) -> str:
        return f"arn:{self.partition}:sns:{self.region}:{self.account_id}:{topic_name}"

    def queue_url(self, queue_name: str) -> str:
        """The SQS queue URL as the SQS API reports it for this environment's endpoint."""
        domain = "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"
        base = self.endpoint_url or f"https://sqs.{self.region}.{domain}"
        return f"{base.rstrip('/')}/{self.account_id}/{queue_name}"


class PipelineConfig:
    """``pipeline.toml`` read once; each section as a typed view, the environment's included."""

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
        unknown = [name for name in settings if name not in SECTIONS]
        if unknown:
            close = difflib.get_close_matches(unknown[0], SECTIONS, n=1)
            hint = f"; did you mean [{close[0]}]?" if close else ""
            raise ConfigError(
                f"{path} has an unknown section [{unknown[0]}]{hint} (sections: "
                f"{', '.join(SECTIONS)})"
            )
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

    def _view(self, kind: type, name: str, values: dict[str, Any] | None = None):
        """``values`` (default: section ``[name]``) as ``kind``, every key and type checked."""
        return build_view(
            kind, self.section(name) if values is None else values, f"{self.path}: [{name}]"
        )

    @cached_property
    def project(self) -> ProjectSettings:
        return self._view(ProjectSettings, "project")

    @cached_property
    def data(self) -> DataSettings:
        return self._view(DataSettings, "data")

    @cached_property
    def training(self) -> TrainingSettings:
        return self._view(TrainingSettings, "training")

    @cached_property
    def processing(self) -> ProcessingSettings:
        return self._view(ProcessingSettings, "processing", self.settings.get("processing", {}))

    @cached_property
    def registry(self) -> RegistrySettings:
        return self._view(RegistrySettings, "registry")

    @cached_property
    def promotion(self) -> PromotionSettings:
        return self._view(PromotionSettings, "promotion", self.settings.get("promotion", {}))

    @cached_property
    def monitoring(self) -> MonitoringSettings:
        return self._view(MonitoringSettings, "monitoring")

    @cached_property
    def notifications(self) -> NotificationSettings:
        return self._view(NotificationSettings, "notifications")

    @property
    def slug(self) -> str:
        return self.project.slug

    @property
    def package(self) -> str:
        return self.project.package

    @property
    def training_dag_id(self) -> str:
        return f"{self.package}_training"

    @cached_property
    def env(self) -> Environment:
        """The environment ``PIPELINE_ENV`` names: where the DAGs run."""
        return self.environment(self.environment_name)

    def environment(self, name: str) -> Environment:
        """Any ``[environments.<name>]`` section (promotion works across them)."""
        environments = self.section("environments")
        if name not in environments:
            raise ConfigError(
                f"the environment {name!r} (PIPELINE_ENV, or promotion's --env) names no "
                f"[environments.*] section in {self.path}; expected one of "
                f"{', '.join(sorted(environments))}"
            )
        merged = {
            key: self._expand(name, key, value)
            for key, value in _resolve(environments, name, seen=()).items()
        }
        environment = self._view(Environment, f"environments.{name}", {"name": name, **merged})
        try:
            _ = urlparse(environment.endpoint_url or "").port  # checks the port
        except ValueError:
            raise ConfigError(
                f"{self.path}: [environments.{name}] endpoint_url "
                f"{environment.endpoint_url!r} has no valid port (a number from 0 to 65535)"
            ) from None
        return environment

    def _expand(self, environment: str, key: str, value: Any) -> Any:
        if not isinstance(value, str):
            return value

        def variable(match: re.Match) -> str:
            found = os.environ.get(match["name"]) or match["default"]
            if found is None:
                raise ConfigError(
                    f"{self.path}: [environments.{environment}] {key} needs the "
                    f"environment variable {match['name']}, which is not set"
                )
            return found

        return _VARIABLE.sub(variable, value)

    @cached_property
    def metric_table(self) -> list[Metric]:
        """``<package>/metrics.csv``: every metric the pipeline knows, for every problem type."""
        path = self.path.parent / self.package / "metrics.csv"
        try:
            return read_metric_table(path)
        except OSError as error:
            raise ConfigError(f"cannot read the metric table {path}: {error}") from error
        except MetricTableError as error:
            raise ConfigError(str(error)) from None

    @property
    def problem_type(self) -> str:
        problem_type = self.data.problem_type
        known = sorted({metric.problem_type for metric in self.metric_table})
        if problem_type not in known:
            raise ConfigError(
                f"{self.path}: [data] problem_type {problem_type!r} is not one the metric table "
                f"knows; expected one of {', '.join(known)}"
            )
        return problem_type

    @property
    def metrics(self) -> list[Metric]:
        """The metrics of this pipeline's problem type."""
        return [m for m in self.metric_table if m.problem_type == self.problem_type]

    def metric(self, name: str) -> Metric:
        """One metric of this pipeline's problem type, by name."""
        for metric in self.metrics:
            if metric.name == name:
                return metric
        raise ConfigError(f"{name!r} is not a metric of {self.problem_type}")

    @property
    def primary_metric(self) -> Metric:
        """The metric the gate checks: one the table lets gate this problem type."""
        name = self.training.primary_metric
        gates = [metric for metric in self.metrics if metric.gates]
        for metric in gates:
            if metric.name == name:
                return metric
        raise ConfigError(
            f"{self.path}: [training] primary_metric {name!r} does not fit [data] problem_type "
            f"{self.problem_type!r}; expected one of {', '.join(m.name for m in gates)}"
        )

    @property
    def metric_threshold(self) -> float:
        """The gate's threshold, within what the metric can reach."""
        where = f"{self.path}: [training] metric_threshold"
        return self.check_threshold(self.training.metric_threshold, where)

    def check_threshold(self, value: Any, where: str) -> float:
        """``value`` as a threshold of the primary metric; ``ConfigError`` naming ``where``."""
        metric = self.primary_metric
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where} {value!r} is not a number")
        if value not in metric.thresholds:
            raise ConfigError(
                f"{where} {value:g} is out of range for {metric.name}; expected a number "
                f"{metric.thresholds}"
            )
        return float(value)

    @property
    def artifact_root(self) -> str:
        """``s3://<bucket>/<slug>``: everything the pipeline writes lives below it."""
        return f"s3://{self.env.bucket}/{self.slug}"

    @property
    def raw_data_uri(self) -> str:
        return f"{self.artifact_root}/{self.data.raw_prefix.strip('/')}/"


def build_view(kind: type, values: dict[str, Any], where: str):
    """``kind(**values)``, refusing unknown and missing keys and values of the wrong type.

    ``where`` names the file and table in every refusal. The promotion pins
    (``ci/environments/<env>.toml``) are read the same way.
    """
    if not isinstance(values, dict):
        raise ConfigError(f"{where} is not a table of settings")
    known = {item.name: item for item in fields(kind)}
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{where} has an unknown setting {key!r}{hint}")
    hints = typing.get_type_hints(kind)
    checked = {}
    for name, item in known.items():
        if name not in values:
            if item.default is MISSING and item.default_factory is MISSING:
                raise ConfigError(f"{where} lacks the setting {name!r}")
            continue
        checked[name] = _typed(values[name], hints[name], f"{where} {name}")
    try:
        return kind(**checked)
    except ValueError as error:  # a value of the right type, out of its range
        raise ConfigError(f"{where}: {error}") from None


def _at_least_one(**setting: int) -> None:
    ((name, value),) = setting.items()
    if value < 1:
        raise ValueError(f"{name} must be at least 1, not {value}")


_TYPE_WORDS = {
    str: "text",
    int: "a whole number",
    float: "a number",
    bool: "true or false",
    list: "a list",
    dict: "a table",
    type(None): "nothing",
}


def _typed(value: Any, hint: Any, where: str) -> Any:
    """``value`` if it has the type ``hint`` says (an int for a float becomes one), else refused."""
    options = (
        typing.get_args(hint)
        if typing.get_origin(hint) in (typing.Union, type(int | None))
        else (hint,)
    )
    for option in options:
        if option is type(None) and value is None:
            return value
        origin = typing.get_origin(option) or option
        if origin is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if origin is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if origin in (str, bool, dict) and isinstance(value, origin):
            return value
        if origin is list and isinstance(value, list):
            (item,) = typing.get_args(option) or (Any,)
            if item is Any or all(isinstance(entry, item) for entry in value):
                return value
    expected = " or ".join(_TYPE_WORDS.get(typing.get_origin(o) or o, str(o)) for o in options)
    raise ConfigError(f"{where} is {value!r}; expected {expected}")


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
