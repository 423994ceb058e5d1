"""Reports one click away from the task that wrote them, in any Airflow 3 (locally and on MWAA).

A run writes HTML reports next to its artifacts in S3: the data checks' Data Docs, the evaluation
report, later the monitor and bias reports. Two pieces put them in the Airflow UI, served by
Airflow's own API server, so the browser needs no S3 access and no presigned URL:

- ``ReportLink``, an operator extra link: a button on the task (``Data Docs``, say). The worker
  computes it when the task ends, from the task's run (``runs.run_key``, ``runs.RunLayout``)
  and the report's path below the run's prefix, so it is there for a failed check too;
  ``PushedReportLink`` the same from a URI the task pushed (each mapped instance its own);
- ``create_app()``, the FastAPI app the pipeline's plugin mounts at ``/reports``: it streams an
  object from S3 through the pipeline's AWS connection to users who may read the DAG (Airflow's
  own auth), and refuses anything but the reports and results of the pipeline's runs.
"""

from __future__ import annotations

import mimetypes
import re
from urllib.parse import quote, urlparse

import attrs
from airflow.sdk import BaseOperatorLink

from .config import load_config
from .runs import RunLayout, run_key

URL_PREFIX = "/reports"
#: Served reports run in an opaque origin: their scripts never see the Airflow session.
CONTENT_SECURITY_POLICY = "sandbox allow-scripts"

#: Reports the steps write, below the run's prefix (the jobs' output locations in ``jobs``).
EVALUATION_REPORT = "evaluation/evaluation.html"


def data_docs_report(suite: str) -> str:
    """The Data Docs page a data check writes for ``expectations/<suite>.json``."""
    return f"data-checks/{suite}/data_docs/index.html"


#: What the app serves: runs' reports and results, never their data (raw data, features, models).
REPORT_SUFFIXES = (".html", ".json")


class OutsideArtifactRoot(ValueError):
    """The URI names no report of the pipeline's runs."""


def split_artifact_uri(uri: str, artifact_root: str) -> tuple[str, str]:
    """``(bucket, key)`` of ``uri`` if it is a report or result below a run, else an error.

    Path segments such as ``..`` or empty ones are refused too: the key must read as written.
    """
    root = artifact_root.rstrip("/") + "/runs/"
    relative = uri.removeprefix(root)
    if relative == uri or any(part in ("", ".", "..") for part in relative.split("/")):
        raise OutsideArtifactRoot(f"{uri} is not below {root}")
    if not relative.endswith(REPORT_SUFFIXES) or "/" not in relative:
        raise OutsideArtifactRoot(f"{uri} is not a run's report ({', '.join(REPORT_SUFFIXES)})")
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return bucket, key


def report_url(dag_id: str, uri: str) -> str:
    """The reports app's URL of ``uri``, relative to the Airflow UI's origin."""
    from airflow.sdk.configuration import conf

    base_path = urlparse(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")
    return f"{base_path}{URL_PREFIX}/dags/{quote(dag_id, safe='')}?uri={quote(uri, safe='')}"


def link_key(name: str) -> str:
    """The XCom a report button's URL is kept in: one per button, so a task can have several."""
    return "_link_report_" + re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


@attrs.define
class ReportLink(BaseOperatorLink):
    """A task's button to one report of its run: ``name`` on the button, ``path`` below the run."""

    name: str
    path: str

    @property
    def xcom_key(self) -> str:
        return link_key(self.name)

    def get_link(self, operator, *, ti_key) -> str:
        layout = RunLayout(load_config().artifact_root, run_key(ti_key.run_id))
        return report_url(ti_key.dag_id, layout.uri(self.path))


@attrs.define
class PushedReportLink(BaseOperatorLink):
    """A task's button to the report whose URI the task pushed as the XCom ``key``: for a
    mapped task, whose instances each write their own (one per endpoint, say)."""

    name: str
    key: str

    @property
    def xcom_key(self) -> str:
        return link_key(self.name)

    def get_link(self, operator, *, ti_key) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        uri = XCom.get_value(ti_key=ti_key, key=self.key)
        return report_url(ti_key.dag_id, uri) if uri else ""


def create_app():
    """The reports app: ``GET /dags/<dag_id>?uri=s3://...`` streams one report from S3."""
    from airflow.api_fastapi.core_api.security import requires_access_dag
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook
    from botocore.exceptions import ClientError
    from fastapi import Depends, FastAPI, HTTPException, Query
    from fastapi.responses import StreamingResponse

    app = FastAPI(
        title="Pipeline reports",
        description="HTML reports of the pipeline's runs, streamed from its S3 artifact root.",
    )

    @app.get("/dags/{dag_id}", dependencies=[Depends(requires_access_dag("GET"))])
    def report(dag_id: str, uri: str = Query(description="s3:// URI of the report")):
        config = load_config()
        if not dag_id.startswith(f"{config.package}_"):
            raise HTTPException(403, f"{dag_id} is not a DAG of this pipeline")
        try:
            bucket, key = split_artifact_uri(uri, config.artifact_root)
        except OutsideArtifactRoot as error:
            raise HTTPException(403, str(error)) from None
        s3 = S3Hook(aws_conn_id=config.env.aws_conn_id, region_name=config.env.region)
        try:
            body = s3.get_conn().get_object(Bucket=bucket, Key=key)["Body"]
        except ClientError as error:
            if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
                raise HTTPException(404, f"{uri} does not exist (yet)") from None
            raise
        return StreamingResponse(
            body.iter_chunks(64 * 1024),
            media_type=mimetypes.guess_type(key)[0] or "application/octet-stream",
            headers={
                "Content-Security-Policy": CONTENT_SECURITY_POLICY,
                "X-Content-Type-Options": "nosniff",
            },
        )

    return app
