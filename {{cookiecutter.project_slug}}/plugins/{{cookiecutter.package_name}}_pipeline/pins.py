"""The pin files, ``ci/environments/<env>.toml``: what runs in each environment.

A pin file is the single truth of what an environment's endpoint serves: its production variants
under stable names (``primary``, ``candidate``: SageMaker's blue/green update keeps variant
names), each with the dev registry's model package version it serves, its weight and its
capacity; data capture; the deployment policy; and the metric floor the environment demands.
It changes only by pull request; ``python -m ci.promote apply`` makes the account match it, and
``git revert`` of a change is the rollback.

Read like ``pipeline.toml``: an unknown table or key, a missing one or a value of the wrong type
or out of SageMaker's range is refused, naming the file and the key.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .config import ConfigError, build_view

#: Where the pin files are, from the folder of ``pipeline.toml``.
PINS_FOLDER = Path("ci", "environments")
#: A versioned model package's ARN: the version is the last part.
PACKAGE_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):sagemaker:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):"
    r"model-package/(?P<group>[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62})/(?P<version>[1-9][0-9]*)"
)
#: SageMaker's pattern for endpoint and variant names.
NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
STRATEGIES = ("all_at_once", "canary", "linear")
#: SageMaker's bounds on a canary's size and a linear step (percent of a variant's capacity).
STEP_PERCENT = {"canary": (1, 50), "linear": (10, 50)}
#: SageMaker's limit of production variants an endpoint config holds.
MAX_VARIANTS = 10
TABLES = ("source_environment", "endpoint", "floor", "capture", "deployment", "variants")


def _between(name: str, value: int | float | None, low: float, high: float) -> None:
    if value is not None and not low <= value <= high:
        raise ValueError(f"{name} must be from {low:g} to {high:g}, not {value}")


@dataclass(frozen=True)
class Variant:
    """One production variant: a model package version, its share of traffic, its capacity."""

    name: str
    #: The dev registry's versioned package ARN, ``arn:aws:sagemaker:…:model-package/<group>/<n>``.
    package: str
    weight: float = 1.0
    #: Instances, or (``serverless_*``) a serverless variant: one or the other.
    instance_type: str | None = None
    instance_count: int = 1
    serverless_memory_mb: int | None = None
    serverless_max_concurrency: int | None = None
    #: The model artifact's sha256 as the pull request that pinned it was reviewed: ``plan``
    #: refuses the version if the registry now records another.
    model_sha256: str | None = None

    def __post_init__(self):
        if not NAME.fullmatch(self.name):
            raise ValueError(f"name {self.name!r} is not a SageMaker variant name")
        if not PACKAGE_ARN.fullmatch(self.package):
            raise ValueError(
                f"package {self.package!r} is not a versioned model package ARN "
                "(arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>)"
            )
        _between("weight", self.weight, 0, 1e6)
        if self.model_sha256 is not None and not re.fullmatch(r"[0-9a-f]{64}", self.model_sha256):
            raise ValueError(f"model_sha256 {self.model_sha256!r} is not a sha256 in hex")
        serverless = self.serverless_memory_mb is not None
        if serverless == (self.instance_type is not None) or (
            not serverless and self.serverless_max_concurrency is not None
        ):
            raise ValueError(
                "give either instance_type (and instance_count) or serverless_memory_mb "
                "(and serverless_max_concurrency)"
            )
        if serverless:
            memory = self.serverless_memory_mb
            if memory % 1024 or not 1024 <= memory <= 6144:
                raise ValueError(f"serverless_memory_mb must be 1024, 2048, … 6144, not {memory}")
            _between("serverless_max_concurrency", self.serverless_max_concurrency or 0, 1, 200)
        else:
            _between("instance_count", self.instance_count, 1, float("inf"))

    @property
    def serverless(self) -> bool:
        return self.serverless_memory_mb is not None

    @property
    def version(self) -> int:
        return int(PACKAGE_ARN.fullmatch(self.package)["version"])

    @property
    def group(self) -> str:
        return PACKAGE_ARN.fullmatch(self.package)["group"]

    @property
    def account(self) -> str:
        return PACKAGE_ARN.fullmatch(self.package)["account"]

    @property
    def region(self) -> str:
        return PACKAGE_ARN.fullmatch(self.package)["region"]


@dataclass(frozen=True)
class Capture:
    """The endpoint's data capture: what monitoring reads."""

    enabled: bool = True
    sampling_percent: int = 100
    #: Default: ``s3://<environment bucket>/<slug>/capture``.
    destination: str | None = None

    def __post_init__(self):
        _between("sampling_percent", self.sampling_percent, 0, 100)
        if self.destination is not None and not self.destination.startswith("s3://"):
            raise ValueError(f"destination {self.destination!r} is not an s3:// URI")


@dataclass(frozen=True)
class Deployment:
    """How an update shifts traffic (SageMaker's blue/green deployment guardrails)."""

    strategy: str = "all_at_once"
    #: A canary's size or a linear step, in percent of the variant's capacity.
    step_percent: int | None = None
    #: Seconds between traffic shifts, and after the last before the update is final.
    wait_seconds: int = 300
    termination_wait_seconds: int = 0
    maximum_execution_timeout_seconds: int = 3600
    #: CloudWatch alarms (in the environment's account) that roll an update back.
    rollback_alarms: list[str] = field(default_factory=list)

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy {self.strategy!r} is not one of {', '.join(STRATEGIES)}")
        if self.strategy == "all_at_once":
            if self.step_percent is not None:
                raise ValueError("step_percent is for the canary and linear strategies")
        else:
            if self.step_percent is None:
                raise ValueError(f"the {self.strategy} strategy needs step_percent")
            _between("step_percent", self.step_percent, *STEP_PERCENT[self.strategy])
        _between("wait_seconds", self.wait_seconds, 0, 3600)
        _between("termination_wait_seconds", self.termination_wait_seconds, 0, 3600)
        _between(
            "maximum_execution_timeout_seconds", self.maximum_execution_timeout_seconds, 600, 28800
        )
        if len(self.rollback_alarms) > 10:
            raise ValueError("at most 10 rollback_alarms (SageMaker's limit)")


@dataclass(frozen=True)
class Pin:
    """One environment's pin file, read and checked."""

    environment: str
    path: Path
    endpoint: str
    #: The environment (``pipeline.toml``) whose registry the versions are copied from.
    source_environment: str
    variants: tuple[Variant, ...]
    capture: Capture
    deployment: Deployment
    #: Metric → the least (or, for lower-is-better metrics, most) a version may score.
    floor: dict[str, float]

    def model_name(self, variant: Variant) -> str:
        """The SageMaker model serving ``variant``: named by endpoint, variant and version."""
        name = f"{self.endpoint}-{variant.name}-v{variant.version}"
        if len(name) <= 63:
            return name
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        return f"{name[:54]}-{digest}"

    def variant(self, name: str) -> Variant | None:
        return next((variant for variant in self.variants if variant.name == name), None)


def pins_folder(config_path: Path) -> Path:
    """``$PIPELINE_PINS``, else ``ci/environments`` beside ``pipeline.toml`` (the repository's,
    or a deployment bundle's, which ships them in the DAGs folder)."""
    explicit = os.environ.get("PIPELINE_PINS")
    return Path(explicit) if explicit else config_path.parent / PINS_FOLDER


def pin_path(environment: str, directory: Path) -> Path:
    return directory / f"{environment}.toml"


def load_pin(environment: str, directory: Path) -> Pin:
    """``<directory>/<environment>.toml``, every table and key checked."""
    path = pin_path(environment, directory)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(
            f"{path} does not exist: the environment {environment!r} has no pin file"
        ) from None
    return parse_pin(text, environment, path)


def parse_pin(text: str, environment: str, path: Path) -> Pin:
    """A pin file's text (``path`` names it in errors), every table and key checked."""
    try:
        settings = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"cannot read {path}: {error}") from error
    unknown = [key for key in settings if key not in TABLES]
    if unknown:
        raise ConfigError(
            f"{path} has an unknown setting {unknown[0]!r} (it holds {', '.join(TABLES)})"
        )
    endpoint = settings.get("endpoint")
    if not isinstance(endpoint, str) or not NAME.fullmatch(endpoint):
        raise ConfigError(f"{path}: endpoint {endpoint!r} is not a SageMaker endpoint name")
    source = settings.get("source_environment", "dev")
    if not isinstance(source, str):
        raise ConfigError(f"{path}: source_environment {source!r} is not text")
    raw_variants = settings.get("variants", [])
    if not isinstance(raw_variants, list):
        raise ConfigError(f"{path}: variants must be [[variants]] tables")
    variants = tuple(
        build_view(Variant, table, f"{path}: [[variants]] {number}")
        for number, table in enumerate(raw_variants, start=1)
    )
    if len(variants) > MAX_VARIANTS:
        raise ConfigError(f"{path}: at most {MAX_VARIANTS} [[variants]] (SageMaker's limit)")
    names = [variant.name for variant in variants]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: two [[variants]] share a name ({', '.join(names)})")
    if variants and not sum(variant.weight for variant in variants) > 0:
        raise ConfigError(f"{path}: the [[variants]] weights are all 0: no traffic would go")
    if len({variant.group for variant in variants}) > 1:
        raise ConfigError(f"{path}: the [[variants]] name versions of different groups")
    capture = build_view(Capture, settings.get("capture", {}), f"{path}: [capture]")
    deployment = build_view(Deployment, settings.get("deployment", {}), f"{path}: [deployment]")
    serverless = [variant.name for variant in variants if variant.serverless]
    if serverless and capture.enabled:
        raise ConfigError(
            f"{path}: [capture] enabled, but SageMaker captures no data of serverless variants "
            f"({', '.join(serverless)}): set enabled = false or give them instances"
        )
    if serverless and deployment.strategy != "all_at_once":
        raise ConfigError(
            f"{path}: [deployment] strategy {deployment.strategy!r} shifts traffic by instance; "
            f"serverless variants ({', '.join(serverless)}) update all at once"
        )
    if deployment.strategy != "all_at_once":
        single = [v.name for v in variants if not v.serverless and v.instance_count < 2]
        if single:
            raise ConfigError(
                f"{path}: [deployment] strategy {deployment.strategy!r} moves part of a "
                f"variant's capacity at a time: {', '.join(single)} need instance_count of "
                "at least 2 (or strategy all_at_once)"
            )
    floor = settings.get("floor", {})
    if not isinstance(floor, dict) or not all(
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        for value in floor.values()
    ):
        raise ConfigError(f"{path}: [floor] maps metric names to numbers")
    return Pin(
        environment=environment,
        path=path,
        endpoint=endpoint,
        source_environment=source,
        variants=variants,
        capture=capture,
        deployment=deployment,
        floor={name: float(value) for name, value in floor.items()},
    )
