"""Report links and the reports app's guard: only the pipeline's own artifacts are served."""

from __future__ import annotations

import pytest
from airflow.sdk.types import TaskInstanceKey

from {{ cookiecutter.package_name }}_pipeline.config import load_config
from {{ cookiecutter.package_name }}_pipeline.reports import (
    EVALUATION_REPORT,
    OutsideArtifactRoot,
    ReportLink,
    data_docs_report,
    report_url,
    split_artifact_uri,
)
from {{ cookiecutter.package_name }}_pipeline.runs import RunLayout, run_key

ROOT = "s3://artifacts/churn"


def test_an_object_below_the_artifact_root_is_split_into_bucket_and_key():
    uri = f"{ROOT}/runs/m-1/report.html"

    assert split_artifact_uri(uri, ROOT) == ("artifacts", "churn/runs/m-1/report.html")


@pytest.mark.parametrize(
    "uri",
    [
        "s3://other-bucket/churn/runs/m-1/report.html",
        "s3://artifacts/churn-other/runs/m-1/report.html",
        "s3://artifacts/churn",
        "s3://artifacts/churn/",
        "s3://artifacts/churn/runs/../../secrets.html",
        "s3://artifacts/churn/runs//report.html",
        "https://artifacts/churn/runs/m-1/report.html",
        "s3://artifacts/churn/data/raw/customers.html",  # raw data is not a report
        "s3://artifacts/churn/runs/m-1/preprocess/train/part-0.csv",  # nor are features
        "s3://artifacts/churn/runs/m-1/model/job/output/model.tar.gz",
        "s3://artifacts/churn/runs/report.html",
    ],
)
def test_anything_else_is_refused(uri):
    with pytest.raises(OutsideArtifactRoot):
        split_artifact_uri(uri, ROOT)


def test_report_urls_point_at_the_reports_app_under_the_ui_base_path(monkeypatch):
    uri = f"{ROOT}/runs/m-1/evaluation/evaluation.html"
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.com/team")

    url = report_url("churn_training", uri)

    assert url == (
        "/team/reports/dags/churn_training"
        "?uri=s3%3A%2F%2Fartifacts%2Fchurn%2Fruns%2Fm-1%2Fevaluation%2Fevaluation.html"
    )


def test_a_tasks_link_names_the_report_its_own_run_wrote():
    run_id = "scheduled__2026-11-23T00:00:00+00:00"
    key = TaskInstanceKey(dag_id="churn_training", task_id="evaluate", run_id=run_id)
    link = ReportLink("Evaluation report", EVALUATION_REPORT)

    url = link.get_link(None, ti_key=key)

    layout = RunLayout(load_config().artifact_root, run_key(run_id))
    assert url == report_url("churn_training", f"{layout.evaluation}/evaluation.html")


def test_every_report_of_a_task_has_its_own_link_key():
    keys = {
        ReportLink(name, data_docs_report("raw")).xcom_key
        for name in ("Data Docs", "Drift report", "Bias report")
    }

    assert len(keys) == 3
