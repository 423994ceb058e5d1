"""The second half of ``make demo``: an approved version to staging, then prod, by pull request.

On this machine the local AWS plays the three accounts (``pipeline.toml``'s dev, staging and
prod, with the stacks of ``ci/infrastructure``) and a stand-in for GitHub's API serves a scratch
git repository holding the pins (``build/demo-repository``). Then, as on AWS:

1. the version is approved in dev (by the demo, on your behalf: on AWS a reviewer does it);
2. the promotion DAG runs (its asset watcher would start it from the approval event) and opens
   a pull request bumping staging's pin;
3. the pull request is merged (a reviewer's step), and ``python -m ci.promote`` plans and
   applies staging, as the ``promote`` workflow does on the merge;
4. the staging endpoint answers a few rows;
5. the clock is moved past ``[promotion] staging_soak_hours`` (the demo does not wait a day),
   the proposal for prod is opened, merged and applied the same way, and prod answers.

The scratch repository's pins bake each update for 0 s instead of their ``wait_seconds`` (a
second demo updates the endpoints the first one made).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ci.promote import cli
from {{ cookiecutter.package_name }}_pipeline import proposals
from {{ cookiecutter.package_name }}_pipeline.github import AppCredentials, GitHub
from {{ cookiecutter.package_name }}_pipeline.pins import load_pin

from tools.local_github import LocalGitHub, new_app_key, scratch_repository, store_app_connection
from tools.local_run import AWS, ask_endpoint, prepare_accounts, run_promotion, watching
from tools.project import PROJECT_ROOT, config

APP_ID = "1"


class PromotionFailed(RuntimeError):
    """A step of the demo's promotion did not do what it should; the message says which."""


@contextmanager
def _pointed_at(endpoint_url: str):
    """boto3 (and so ``ci.promote``) talking to the local AWS, as the dev account."""
    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID")}
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY")
    os.environ.update(AWS_ENDPOINT_URL=endpoint_url, AWS_ACCESS_KEY_ID="local")
    os.environ["AWS_SECRET_ACCESS_KEY"] = "local"
    try:
        yield
    finally:
        for key, value in {**saved, "AWS_SECRET_ACCESS_KEY": secret}.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _promote(*args: str, log) -> None:
    log(f"$ python -m ci.promote {' '.join(args)}")
    if cli.main(list(args)) != 0:
        raise PromotionFailed(f"python -m ci.promote {' '.join(args)} failed (above)")


def promote(aws: AWS, airflow_home: Path, package_arn: str, table: Path, log=print) -> dict:
    """Take ``package_arn`` (registered, pending) to staging and prod; what each step did."""
    cfg = config()
    version = package_arn.rsplit("/", 1)[1]
    sessions = prepare_accounts(aws.endpoint_url)
    folder = PROJECT_ROOT / "build" / "demo-repository"
    shutil.rmtree(folder, ignore_errors=True)
    pins = {
        f"ci/environments/{path.name}": re.sub(
            r"(?m)^wait_seconds = \d+$", "wait_seconds = 0", path.read_text()
        )
        for path in (PROJECT_ROOT / "ci" / "environments").glob("*.toml")
    }
    repository = scratch_repository(folder, pins)
    private_key, public_key = new_app_key()
    standin = LocalGitHub(repository, cfg.project.repository, APP_ID, public_key)
    standin.start()
    report: dict = {"repository": str(repository), "pull_requests": []}
    try:
        store_app_connection(
            aws.client("secretsmanager"),
            cfg.promotion.github_conn_id,
            APP_ID,
            private_key,
            standin.url,
        )
        github = GitHub.as_app(
            cfg.project.repository, AppCredentials(APP_ID, private_key, "1", standin.url)
        )
        with _pointed_at(aws.endpoint_url):
            log(f"\nApproving v{version} on your behalf (on AWS, a reviewer does this)")
            _promote("approve", "--version", version, "--reason", "approved by make demo", log=log)

            log("Running the promotion DAG (on Airflow, the approval event starts it)")
            state, opened = run_promotion(aws, airflow_home)
            if state != "success" or len(opened) != 1:
                raise PromotionFailed(f"the promotion DAG ended {state}, opening {opened}")
            report["staging"] = _merge_and_apply(
                github, repository, "staging", opened[0], sessions, table, report, log
            )

            soak = cfg.promotion.staging_soak_hours
            log(f"\nMoving the clock {soak:g} h on: staging's soak (the demo does not wait)")
            watch = watching(aws.endpoint_url)
            later = datetime.now(UTC) + timedelta(hours=soak, minutes=1)
            opened = proposals.propose(
                cfg,
                sessions["dev"].client("sagemaker", endpoint_url=aws.endpoint_url),
                watch,
                github,
                log,
                now=later,
            )
            if len(opened) != 1:
                raise PromotionFailed(f"expected one proposal for prod, got {opened}")
            report["prod"] = _merge_and_apply(
                github, repository, "prod", opened[0], sessions, table, report, log
            )
        if standin.violations:
            raise PromotionFailed(f"calls GitHub would refuse: {standin.violations}")
    finally:
        standin.stop()
    return report


def _merge_and_apply(github, repository, environment, url, sessions, table, report, log) -> dict:
    number = int(url.rsplit("/", 1)[1])
    log(f"Opened {url}\nMerging it (a reviewer's step), then plan and apply, as CI does")
    github.call("PUT", f"/pulls/{number}/merge")
    report["pull_requests"].append(url)
    subprocess.run(["git", "reset", "-q", "--hard", "main"], cwd=repository, check=True)
    folder = str(repository / "ci" / "environments")
    _promote("--pins", folder, "plan", "--env", environment, log=log)
    _promote("--pins", folder, "apply", "--env", environment, log=log)
    endpoint = load_pin(environment, Path(folder)).endpoint
    runtime = sessions[environment].client(
        "sagemaker-runtime", endpoint_url=os.environ["AWS_ENDPOINT_URL"]
    )
    answer = ask_endpoint(runtime, endpoint, table)
    account = config().environment(environment).account_id
    log(f"{endpoint} (account {account}) answers: {answer['predictions']}")
    return {"account": account, **answer}
