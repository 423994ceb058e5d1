"""The DAGs under a real Airflow: every way a training run starts, its reports in the UI, the
pull request an approval opens through the promotion DAG's asset watcher, and the training run
drift queues through the monitoring DAG's asset event.

One stack serves every test (see ``conftest.py``). Runs of the DAG never overlap
(``max_active_runs=1``), so each test starts its run as soon as the one before is done: the REST
API's (queued behind the run Airflow starts for the schedule's latest past time), the
browser's, the one new raw data starts. The scheduled run falls due meanwhile and queues among
them: the last test finds it there.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, unquote

import pytest

from ci.promote import cli as promote_cli
from {{ cookiecutter.package_name }}_pipeline.github import AppCredentials, GitHub
from {{ cookiecutter.package_name }}_pipeline.pins import PINS_FOLDER

from tests.e2e.support import RUN_TIMEOUT, parse_time, wait_for
from tests.support import PROJECT_ROOT, register_bare_version
from tools import traffic
from tools.airflow_env import ADMIN_PASSWORD, ADMIN_USER
from tools.local_airflow import GITHUB_APP_ID
from tools.local_run import generate_sample_data, prepare_accounts, read_summary

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SCREENSHOTS = PROJECT_ROOT / "build" / "screenshots"
#: Debian's Chromium, or the browser CHROMIUM_EXECUTABLE names (see `make browser`).
CHROMIUM = Path(os.environ.get("CHROMIUM_EXECUTABLE", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPORT_LINKS = {
    "check_raw_data": "Data Docs",
    "check_features": "Data Docs",
    "evaluate": "Evaluation report",
}


def http_get(url: str, token: str | None = None) -> tuple[int, dict, str]:
    """Status, headers and body of a GET, errors included."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


@pytest.fixture(scope="module")
def rest_run(airflow) -> tuple[dict, dict]:
    """A run triggered through the REST API with conf, once it has succeeded; and its conf."""
    config = airflow.config
    threshold = float(config.training.metric_threshold)
    # Easier to reach than the default, in the metric's direction (floors may be negative for r2).
    lenient = threshold - 0.05 if config.primary_metric.higher_is_better else threshold * 1.1
    conf = {"raw_data_uri": airflow.seed_uri, "metric_threshold": lenient}
    created = airflow.api.post(
        f"/dags/{airflow.dag_id}/dagRuns", {"logical_date": None, "conf": conf}
    )
    return airflow.wait_until_succeeded(created["dag_run_id"]), conf


def test_run_triggered_through_the_rest_api_trains_on_its_conf(airflow, rest_run):
    run, conf = rest_run

    assert run["run_type"] == "manual"
    assert run["conf"] == conf
    inputs = airflow.run_inputs(run["dag_run_id"])
    assert inputs["raw_data_uri"] == conf["raw_data_uri"]
    assert inputs["metric_threshold"] == pytest.approx(conf["metric_threshold"])
    # Deferrable mode: the triggerer, not a worker, waited for the training job.
    task_logs = airflow.stack.home / "logs" / f"dag_id={airflow.dag_id}"
    train_logs = task_logs / f"run_id={run['dag_run_id']}" / "task_id=train"
    assert list(train_logs.glob("attempt=*.log.trigger.*.log")), f"no trigger log in {train_logs}"


def test_reports_are_linked_from_their_tasks_and_served_to_signed_in_users_only(airflow, rest_run):
    run, _ = rest_run
    token = airflow.api.token()
    run_path = f"/dags/{airflow.dag_id}/dagRuns/{quote(run['dag_run_id'], safe='')}"
    urls = {}
    for task, name in REPORT_LINKS.items():
        links = airflow.api.get(f"{run_path}/taskInstances/{task}/links")["extra_links"]
        assert list(links) == [name], task
        urls[task] = airflow.url + links[name]

    status, headers, page = http_get(urls["evaluate"], token)
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    assert headers["content-security-policy"].startswith("sandbox")
    assert "<h1>Model evaluation</h1>" in page
    for task in ("check_raw_data", "check_features"):
        status, _, page = http_get(urls[task], token)
        assert status == 200 and "Data checks: suite" in page, task

    assert http_get(urls["evaluate"])[0] == 401
    elsewhere = f"s3://{airflow.config.env.bucket}/another-project/report.html"
    outside = f"{airflow.url}/reports/dags/{airflow.dag_id}?uri={quote(elsewhere, safe='')}"
    assert http_get(outside, token)[0] == 403


def test_in_the_browser_a_triggered_run_succeeds_and_its_reports_open(airflow, tmp_path):
    if not CHROMIUM.exists():
        pytest.fail(f"no browser at {CHROMIUM}: `make browser` says how to install one")
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    dag_id = airflow.dag_id
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            tmp_path / "chromium-profile",
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 900},
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(30_000)
            page.goto(airflow.url)
            page.wait_for_url("**/auth/login**")
            page.fill("input[name=username]", ADMIN_USER)
            page.fill("input[name=password]", ADMIN_PASSWORD)
            page.screenshot(path=SCREENSHOTS / "01-login.png")
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(lambda url: "/auth/login" not in url)

            page.goto(f"{airflow.url}/dags")
            expect(page.get_by_role("link", name=dag_id, exact=True)).to_be_visible()
            page.screenshot(path=SCREENSHOTS / "02-dags.png")

            page.get_by_role("link", name=dag_id, exact=True).click()
            page.wait_for_url(f"**/dags/{dag_id}")
            page.wait_for_load_state("networkidle")  # a dialog opened earlier closes again
            page.get_by_role("button", name="Trigger").first.click()
            trigger_dialog = page.get_by_role("dialog").filter(has_text="Trigger Dag")
            trigger_dialog.get_by_role("button", name="Trigger").click()
            page.wait_for_url(f"**/dags/{dag_id}/runs/**")
            run_id = unquote(page.url.split("/runs/")[1].split("/")[0])
            expect(page.get_by_test_id("state-badge").first).to_have_text(
                "Success", timeout=RUN_TIMEOUT * 1000
            )
            page.reload()  # the task table refreshes on its own schedule: show it up to date
            page.wait_for_load_state("networkidle")
            page.screenshot(path=SCREENSHOTS / "03-run.png")

            run_url = f"{airflow.url}/dags/{dag_id}/runs/{quote(run_id, safe='')}"
            raw_suite = airflow.config.data.raw_suite
            for task, name, title, shot in (
                ("evaluate", "Evaluation report", "Model evaluation", "05-evaluation-report"),
                ("check_raw_data", "Data Docs", f"Data checks: suite {raw_suite}", "06-data-docs"),
            ):
                page.goto(f"{run_url}/tasks/{task}/details")
                link = page.get_by_role("link", name=name, exact=True)
                expect(link).to_be_visible()
                if task == "evaluate":
                    page.screenshot(path=SCREENSHOTS / "04-task-links.png")
                link.click()
                page.wait_for_url("**/reports/dags/**")
                expect(page.locator("h1")).to_contain_text(title)
                page.screenshot(path=SCREENSHOTS / f"{shot}.png", full_page=True)
        finally:
            browser.close()

    assert airflow.run_inputs(run_id)["raw_data_uri"] == airflow.config.raw_data_uri


def test_new_raw_data_starts_exactly_one_run_that_trains_on_it(airflow, tmp_path):
    bucket, prefix = airflow.config.raw_data_uri.removeprefix("s3://").split("/", 1)
    key = f"{prefix}arrivals/{uuid.uuid4().hex}.csv"
    data = generate_sample_data(tmp_path / "arrival.csv", rows=3000, seed=1)

    airflow.aws.client("s3").put_object(Bucket=bucket, Key=key, Body=data.read_bytes())

    runs = wait_for(lambda: airflow.runs("asset_triggered"), 120, "a run started by the new object")
    airflow.wait_until_succeeded(runs[0]["dag_run_id"])
    assert airflow.run_inputs(runs[0]["dag_run_id"])["raw_data_uri"] == f"s3://{bucket}/{key}"
    assert len(airflow.runs("asset_triggered")) == 1


def test_the_schedule_starts_a_run_at_its_time(airflow):
    due = airflow.scheduled_at

    def scheduled_run() -> dict | None:
        return next(
            (run for run in airflow.runs("scheduled") if parse_time(run["run_after"]) == due),
            None,
        )

    until_due = (due - datetime.now(UTC)).total_seconds()
    run = wait_for(
        scheduled_run, max(until_due, 0) + RUN_TIMEOUT, f"the run scheduled at {due:%H:%M} UTC"
    )
    assert parse_time(run["queued_at"]) >= due
    airflow.wait_until_succeeded(run["dag_run_id"])
    assert airflow.run_inputs(run["dag_run_id"])["raw_data_uri"] == airflow.config.raw_data_uri


def test_an_approval_opens_one_pull_request_through_the_asset_watcher(airflow):
    """SageMaker's approval event → EventBridge → SQS → the triggerer's asset watcher → the
    promotion DAG → one pull request at the GitHub stand-in; the event delivered again (SQS
    delivers at least once) starts another run, which opens none."""
    cfg, sqs = airflow.config, airflow.aws.client("sqs")
    sagemaker = airflow.aws.client("sagemaker")
    promotion = f"{cfg.package}_promotion"
    package = register_bare_version(sagemaker, cfg)
    record, _ = airflow.stack.recorded()
    key = (airflow.stack.home / "github" / "app.pem").read_text()
    github = GitHub.as_app(
        cfg.project.repository, AppCredentials(GITHUB_APP_ID, key, "1", record["github_url"])
    )
    group = cfg.registry.model_package_group.lower()
    branch = f"promote/staging/{group}-v{package.rsplit('/', 1)[1]}"

    pulls = wait_for(lambda: github.pull_requests(branch), 180, f"a pull request from {branch}")
    assert [pull["base"]["ref"] for pull in pulls] == ["main"]
    assert airflow.runs("asset_triggered", dag_id=promotion), "no run started by the event"
    seen = {run["dag_run_id"] for run in airflow.runs(dag_id=promotion)}
    for run in airflow.runs(dag_id=promotion):
        airflow.wait_until_succeeded(run["dag_run_id"], dag_id=promotion)

    queue = sqs.get_queue_url(QueueName=cfg.registry.approval_events_queue)["QueueUrl"]
    sqs.send_message(
        QueueUrl=queue,
        MessageBody=json.dumps(
            {
                "detail-type": "SageMaker Model Package State Change",
                "source": "aws.sagemaker",
                "resources": [package],
                "detail": {"ModelPackageArn": package, "ModelApprovalStatus": "Approved"},
            }
        ),
    )
    again = wait_for(
        lambda: [
            run
            for run in airflow.runs("asset_triggered", dag_id=promotion)
            if run["dag_run_id"] not in seen
        ],
        120,
        "a promotion run for the event delivered again",
    )
    airflow.wait_until_succeeded(again[0]["dag_run_id"], dag_id=promotion)
    assert len(github.pull_requests(branch)) == 1


def test_drift_the_monitoring_dag_finds_queues_exactly_one_training_run_that_says_why(
    airflow, rest_run, tmp_path
):
    """The version the REST run registered, applied to staging and sent drifted traffic; the
    monitoring DAG (triggered for that window) emits the drift event, on which the scheduler
    queues one training run of its own accord: it learns from the window's labelled rows."""
    cfg, aws = airflow.config, airflow.aws
    run, _ = rest_run
    package = read_summary(aws, run["dag_run_id"])["model_package_arn"]
    sagemaker = aws.client("sagemaker")
    sagemaker.update_model_package(ModelPackageArn=package, ModelApprovalStatus="Approved")
    sha = sagemaker.describe_model_package(ModelPackageName=package)["CustomerMetadataProperties"][
        "model_artifact_sha256"
    ]
    prepare_accounts(aws.endpoint_url)
    # the merged pin, as the bundle deployed after the merge ships it
    pins = cfg.path.parent / PINS_FOLDER
    pin = pins / "staging.toml"
    pin.write_text(
        pin.read_text().replace("wait_seconds = 300", "wait_seconds = 0")
        + f'\n[[variants]]\nname = "primary"\npackage = "{package}"\nmodel_sha256 = "{sha}"\n'
        'instance_type = "ml.m5.large"\ninstance_count = 1\n'
    )
    with pytest.MonkeyPatch.context() as environ:
        environ.setenv("PIPELINE_PINS", str(pins))
        environ.setenv("AWS_ENDPOINT_URL", aws.endpoint_url)
        assert promote_cli.main(["--pins", str(pins), "apply", "--env", "staging"]) == 0
        environ.delenv("AWS_ENDPOINT_URL")
        start = datetime.now(UTC) - timedelta(seconds=1)
        sent = traffic.main(
            [
                *("--env", "staging", "--rows", "300", "--labels", "--wait", "60"),
                *("--shift", "monthly_charges=60", "--shift", "support_calls=2"),
            ],
            aws.endpoint_url,
        )
        assert sent == 0
        end = datetime.now(UTC) + timedelta(seconds=1)
    before = {r["dag_run_id"] for r in airflow.runs("asset_triggered")}
    monitoring = f"{cfg.package}_monitoring"
    window = {"start_time": start.isoformat(), "end_time": end.isoformat()}
    created = airflow.api.post(
        f"/dags/{monitoring}/dagRuns", {"logical_date": None, "conf": window}
    )
    airflow.wait_until_succeeded(created["dag_run_id"], dag_id=monitoring)

    def drift_runs() -> list[dict]:
        return [r for r in airflow.runs("asset_triggered") if r["dag_run_id"] not in before]

    (queued,) = wait_for(drift_runs, 120, "the training run the drift event queues")
    airflow.wait_until_succeeded(queued["dag_run_id"])
    time.sleep(10)  # a second run would have been queued by now
    assert len(drift_runs()) == 1
    summary = read_summary(aws, queued["dag_run_id"])
    assert "monthly_charges, support_calls" in summary["started_by"]
    assert summary["labelled_capture"] == [f"{cfg.artifact_root}/data/feedback/"]
    # the check's report is a button in the UI, served by the reports app
    run_path = f"/dags/{monitoring}/dagRuns/{quote(created['dag_run_id'], safe='')}"
    links = airflow.api.get(f"{run_path}/taskInstances/monitor_endpoint.check/links", map_index=0)[
        "extra_links"
    ]
    status, _, page = http_get(airflow.url + links["Monitoring report"], airflow.api.token())
    assert status == 200 and "<h1>Monitoring: " in page and "monthly_charges" in page
