"""Run-scoped names: one S3 prefix per DAG run and deterministic SageMaker job names.

Airflow run ids (``manual__2026-11-26T08:00:00.123456+00:00``) hold characters that SageMaker job
names refuse, and job names stop at 63 characters. A run key is a short, sanitised, stable form
of the run id; every artifact of the run lives under ``<artifact_root>/runs/<run_key>/`` and every
job the run starts is named ``<slug>-<step>-<run_key>``, so a retried task finds the job its run
already started, and two runs never share a file or a job.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass

MAX_JOB_NAME = 63
_JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_RUN_ID = re.compile(
    r"^(?P<kind>[a-z_]+?)__(?P<date>\d{4}-\d{2}-\d{2})T(?P<time>\d{2}:\d{2}:\d{2})(?P<rest>.*)$"
)
_KINDS = {"manual": "m", "scheduled": "s", "asset_triggered": "a", "backfill": "b"}


def run_key(run_id: str) -> str:
    """``manual__2026-11-26T08:00:00.123+00:00`` → ``m-20261126t080000-1a2b3c``.

    The kind and timestamp keep keys readable and sortable; the digest of the whole run id keeps
    them unique (two runs can start in the same second). Custom run ids keep a sanitised prefix.
    """
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:6]
    match = _RUN_ID.match(run_id)
    if match:
        kind = _KINDS.get(match["kind"], match["kind"][:1])
        stamp = (match["date"] + "t" + match["time"]).replace("-", "").replace(":", "")
        return f"{kind}-{stamp}-{digest}"
    readable = re.sub(r"[^a-z0-9]+", "-", run_id.lower()).strip("-")[:17].strip("-")
    return f"{readable or 'run'}-{digest}"


def job_name(slug: str, step: str, key: str) -> str:
    """A SageMaker job name unique to this run and step, within AWS's 63 characters."""
    suffix = f"-{step}-{key}"
    name = slug[: MAX_JOB_NAME - len(suffix)].rstrip("-") + suffix
    if not _JOB_NAME.match(name):
        raise ValueError(f"{name!r} is not a valid SageMaker job name")
    return name


@dataclass(frozen=True)
class RunLayout:
    """Where one run's artifacts live in S3."""

    artifact_root: str
    key: str

    @property
    def prefix(self) -> str:
        return f"{self.artifact_root}/runs/{self.key}"

    def uri(self, *parts: str) -> str:
        return "/".join([self.prefix, *parts])

    @property
    def code(self) -> str:
        return self.uri("code")

    @property
    def source_tarball(self) -> str:
        return self.uri("code", "source.tar.gz")

    def data_checks(self, suite: str) -> str:
        return self.uri("data-checks", suite)

    def preprocessed(self, split: str) -> str:
        """``train``, ``validation``, ``test``, ``transform`` or ``baseline``."""
        return self.uri("preprocess", split)

    @property
    def model_output(self) -> str:
        return self.uri("model")

    def model_artifact(self, training_job: str) -> str:
        return self.uri("model", training_job, "output", "model.tar.gz")

    @property
    def evaluation(self) -> str:
        return self.uri("evaluation")

    @property
    def summary(self) -> str:
        return self.uri("summary.json")


#: The task that resolves a run's inputs; every later step reads them from its XCom.
RUN_INPUTS_TASK = "resolve_run_inputs"


@dataclass(frozen=True)
class Run:
    """What a DAG run works on, fixed by its first task and read by every later one."""

    run_id: str
    key: str
    artifact_root: str
    raw_data_uri: str
    raw_data_digest: str
    metric_threshold: float
    #: The jobs' image, pinned to its digest when the registry knows it: every job of the run,
    #: and the version it registers, use the same image even if the tag moves meanwhile.
    image_uri: str
    #: Labelled capture a drift-started run learns from besides the raw data (monitoring's
    #: ``data/feedback/`` files), and what started the run, in words.
    feedback_uris: tuple[str, ...] = ()
    started_by: str = ""

    @property
    def layout(self) -> RunLayout:
        return RunLayout(self.artifact_root, self.key)

    def to_xcom(self) -> dict:
        return asdict(self)

    @classmethod
    def from_context(cls, context) -> Run:
        values = context["ti"].xcom_pull(task_ids=RUN_INPUTS_TASK)
        return cls(**{**values, "feedback_uris": tuple(values.get("feedback_uris", ()))})
