"""Promotion across three accounts of the local AWS: ``python -m ci.promote``.

The dev account registers versions as the training DAG does (digests included); staging and
prod hold the roles, buckets and execution role their infrastructure would create. The CLI runs
as CI runs it: boto3 pointed at the local AWS by ``AWS_ENDPOINT_URL``, each account reached by
assuming its role.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import boto3
import pandas as pd
import pytest
import requests
from botocore.exceptions import ClientError
from cfnlint.decode.cfn_yaml import loads
from cryptography.hazmat.primitives.asymmetric import rsa

from ci.promote.cli import main
from {{ cookiecutter.package_name }} import evaluate, inference
from {{ cookiecutter.package_name }}_pipeline import proposals
from {{ cookiecutter.package_name }}_pipeline.config import PipelineConfig
from {{ cookiecutter.package_name }}_pipeline.github import AppCredentials, GitHub
from {{ cookiecutter.package_name }}_pipeline.packaging import source_tarball
from {{ cookiecutter.package_name }}_pipeline.pins import load_pin
from {{ cookiecutter.package_name }}_pipeline.registry import with_digests

from tests.local_aws.test_web_identity import ISSUER, jwk, token
from tests.ml_runs import train_pipeline
from tests.support import CONFIG, PROJECT_ROOT
from tools import infrastructure
from tools.local_github import LocalGitHub, new_app_key, scratch_repository
from tools.local_run import AWS, prepare_account, prepare_accounts, watching

pytestmark = pytest.mark.timeout(900)

GROUP = CONFIG["registry"]["model_package_group"]
PROBLEM = CONFIG["data"]["problem_type"]
METRIC = CONFIG["training"]["primary_metric"]


@pytest.fixture(scope="module")
def config() -> PipelineConfig:
    return PipelineConfig.load(PROJECT_ROOT / "pipeline.toml", environment="dev")


@pytest.fixture(scope="module")
def accounts(local_aws):
    """Each account's session, with what ci/infrastructure's templates create in it."""
    prepare_account(AWS(local_aws.endpoint_url))  # as the demo does
    return prepare_accounts(local_aws.endpoint_url)


def client(accounts, local_aws, account: str, service: str):
    return accounts[account].client(service, endpoint_url=local_aws.endpoint_url)


@pytest.fixture(scope="module")
def promote(local_aws, tmp_path_factory):
    """``promote("plan", "--env", "staging")``: the CLI's exit code and output, in-process."""
    pins = tmp_path_factory.mktemp("pins")
    for path in (PROJECT_ROOT / "ci" / "environments").glob("*.toml"):
        (pins / path.name).write_text(path.read_text())
    saved = {key: os.environ.get(key) for key in ("AWS_ENDPOINT_URL",)}
    os.environ["AWS_ENDPOINT_URL"] = local_aws.endpoint_url

    def run(*args: str, capsys=None) -> tuple[int, str]:
        code = main(["--pins", str(pins), *args])
        out = capsys.readouterr() if capsys else None
        return code, (out.out + out.err) if out else ""

    run.pins = pins
    yield run
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def pin(promote, environment: str, *variants: dict, **tables) -> None:
    """Rewrite the environment's pin file with these variants (and tables)."""
    path = promote.pins / f"{environment}.toml"
    lines = [f'endpoint = "{CONFIG["project"]["slug"]}-{environment}"', ""]
    for table, values in {"deployment": {"wait_seconds": 0}, **tables}.items():
        lines.append(f"[{table}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
        lines.append("")
    for variant in variants:
        lines.append("[[variants]]")
        defaults = {"instance_type": "ml.m5.large", "instance_count": 1}
        values = {**defaults, **variant}
        lines += [
            f"{key} = {json.dumps(value)}" for key, value in values.items() if value is not None
        ]
        lines.append("")
    path.write_text("\n".join(lines))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two models of different quality, with their evaluation as the pipeline writes it."""
    runs = {}
    for name, rounds in (("good", "30"), ("other", "3")):
        work = tmp_path_factory.mktemp(f"promotion-{name}")
        run = train_pipeline(work, PROBLEM, 1500, "--num_round", rounds)
        evaluate.main(
            [
                "--model-dir",
                str(run.model_archive_dir),
                "--test-dir",
                str(run.prepared / "test"),
                "--output-dir",
                str(work / "evaluation"),
                "--target-column",
                run.target_column,
                "--problem-type",
                PROBLEM,
            ]
        )
        runs[name] = (run, work / "evaluation")
    return runs


def register(accounts, local_aws, config, trained, name: str, status: str) -> str:
    """A version in the dev registry, registered as the training DAG registers it."""
    run, evaluation = trained[name]
    s3 = client(accounts, local_aws, "dev", "s3")
    sm = client(accounts, local_aws, "dev", "sagemaker")
    bucket = config.environment("dev").bucket  # the pipeline stack's: KMS-encrypted
    prefix = f"{config.slug}/runs/promotion-tests-{uuid.uuid4().hex[:8]}"  # as a run's files
    files = {
        "model.tar.gz": (run.model_archive_dir / "model.tar.gz").read_bytes(),
        "source.tar.gz": source_tarball(PROJECT_ROOT / config.package),
        "evaluation.json": (evaluation / "evaluation.json").read_bytes(),
        "statistics.json": (run.prepared / "baseline" / "statistics.json").read_bytes(),
        "constraints.json": (run.prepared / "baseline" / "constraints.json").read_bytes(),
    }
    for file, body in files.items():
        s3.put_object(Bucket=bucket, Key=f"{prefix}/{file}", Body=body)
    uri = f"s3://{bucket}/{prefix}"
    quality = {
        "Statistics": {"ContentType": "application/json", "S3Uri": f"{uri}/statistics.json"},
        "Constraints": {"ContentType": "application/json", "S3Uri": f"{uri}/constraints.json"},
    }
    request = {
        "ModelPackageGroupName": GROUP,
        "ModelApprovalStatus": "PendingManualApproval",
        "InferenceSpecification": {
            "Containers": [
                {
                    "Image": config.environment("dev").image_uri,
                    "ModelDataUrl": f"{uri}/model.tar.gz",
                    "Environment": {
                        "SAGEMAKER_PROGRAM": "inference.py",
                        "SAGEMAKER_SUBMIT_DIRECTORY": f"{uri}/source.tar.gz",
                    },
                }
            ],
            "SupportedContentTypes": ["text/csv", "application/json"],
            "SupportedResponseMIMETypes": ["text/csv", "application/json"],
        },
        "ModelMetrics": {
            "ModelQuality": {
                "Statistics": {"ContentType": "application/json", "S3Uri": f"{uri}/evaluation.json"}
            },
            "ModelDataQuality": quality,
        },
        "DriftCheckBaselines": {"ModelDataQuality": json.loads(json.dumps(quality))},
        "CustomerMetadataProperties": {"run_id": name},
    }
    arn = sm.create_model_package(**with_digests(request, s3))["ModelPackageArn"]
    if status != "PendingManualApproval":
        sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus=status)
    return arn


def version_of(arn: str) -> str:
    return arn.rsplit("/", 1)[1]


def predictions(accounts, local_aws, account: str, endpoint: str, rows: pd.DataFrame) -> list:
    runtime = client(accounts, local_aws, account, "sagemaker-runtime")
    answers, variants = [], []
    for row in json.loads(rows.to_json(orient="records")):
        answer = runtime.invoke_endpoint(
            EndpointName=endpoint,
            ContentType="application/json",
            Accept="text/csv",
            Body=json.dumps({"instances": [row]}),
        )
        answers.append(float(answer["Body"].read()))
        variants.append(answer["InvokedProductionVariant"])
    return answers, variants


def handlers(trained, name: str, rows: pd.DataFrame) -> list[float]:
    model = inference.model_fn(str(trained[name][0].model_dir))
    return [float(value) for value in inference.predict_fn(rows, model)]


@pytest.fixture(scope="module")
def rows(trained):
    return pd.read_csv(trained["good"][0].prepared / "test" / "test.csv").head(5)


@pytest.mark.parametrize(
    ("variant", "tables", "expected"),
    [
        ({"package": "model-package/3"}, {}, "not a versioned model package ARN"),
        ({}, {"deployment": {"strategy": "canary"}}, "needs step_percent"),
        (
            {},
            {"deployment": {"strategy": "canary", "step_percent": 10}},
            "need instance_count of at least 2",
        ),
        (
            {"instance_type": None, "serverless_memory_mb": 2048, "serverless_max_concurrency": 2},
            {"capture": {"enabled": True}},
            "captures no data of serverless variants",
        ),
        ({"weight": -1}, {}, "weight must be from 0"),
        ({}, {"capture": {"destination": "s3://elsewhere/capture"}}, "outside staging's bucket"),
        ({"region": "elsewhere"}, {}, "not in dev's region"),
    ],
)
def test_a_pin_file_is_checked_naming_the_file_and_the_key(
    promote, config, variant, tables, expected, capsys
):
    region = variant.pop("region", config.env.region)
    if region == "elsewhere":  # any region but the pipeline's
        region = "us-west-2" if config.env.region != "us-west-2" else "eu-west-1"
    arn = f"arn:aws:sagemaker:{region}:{config.env.account_id}:model-package/{GROUP}/1"
    pin(promote, "staging", {"name": "primary", "package": arn, **variant}, **tables)

    code, output = promote("plan", "--env", "staging", capsys=capsys)

    assert code == 1
    assert "staging.toml" in output and expected in output


def test_staging_and_prod_may_pull_the_jobs_image_from_dev(accounts, local_aws, config):
    """The image every version names is in dev's ECR: its repository lets the other accounts
    pull, and their execution roles may pull from it."""
    dev, staging = config.environment("dev"), config.environment("staging")
    repository = infrastructure.image_repository(dev)
    policy = json.loads(
        client(accounts, local_aws, "dev", "ecr").get_repository_policy(repositoryName=repository)[
            "policyText"
        ]
    )
    (statement,) = policy["Statement"]
    assert sorted(statement["Principal"]["AWS"]) == [
        f"arn:aws:iam::{config.environment(name).account_id}:root" for name in ("staging", "prod")
    ]
    assert "ecr:BatchGetImage" in statement["Action"]
    iam = client(accounts, local_aws, "staging", "iam")
    role_policies = [
        json.loads(json.dumps(iam.get_role_policy(RoleName=staging.role_name, PolicyName=name)))
        for name in iam.list_role_policies(RoleName=staging.role_name)["PolicyNames"]
    ]
    pulls = [
        statement["Resource"]
        for policy in role_policies
        for statement in policy["PolicyDocument"]["Statement"]
        if statement.get("Sid") == "PullProjectImages"
    ]
    region = staging.region
    assert pulls == [f"arn:aws:ecr:{region}:{dev.account_id}:repository/{config.slug}-*"]


def test_an_approved_version_reaches_staging_then_prod_and_a_second_apply_changes_nothing(
    promote, accounts, local_aws, config, trained, rows, capsys
):
    arn = register(accounts, local_aws, config, trained, "good", "PendingManualApproval")
    primary = {"name": "primary", "package": arn}
    pin(promote, "staging", primary)

    code, output = promote("plan", "--env", "staging", capsys=capsys)
    assert code == 1 and "PendingManualApproval, not Approved" in output and "approve" in output

    code, output = promote(
        "approve", "--version", version_of(arn), "--reason", "better AUC", capsys=capsys
    )
    assert code == 0 and "Approved by arn:aws:sts::" in output

    comment = promote.pins / "comment.md"
    code, output = promote("plan", "--env", "staging", "--comment", str(comment), capsys=capsys)
    assert code == 0, output
    assert "copy " in output and "create endpoint " in output
    assert "create endpoint" in comment.read_text()

    code, output = promote("apply", "--env", "staging", capsys=capsys)
    assert code == 0, output
    endpoint = f"{config.slug}-staging"
    answers, _ = predictions(accounts, local_aws, "staging", endpoint, rows)
    assert answers == pytest.approx(handlers(trained, "good", rows), rel=1e-6, abs=1e-6)

    staging_sm = client(accounts, local_aws, "staging", "sagemaker")
    copies = staging_sm.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]
    assert len(copies) == 1
    copy = staging_sm.describe_model_package(ModelPackageName=copies[0]["ModelPackageArn"])
    assert copy["ModelApprovalStatus"] == "Approved"
    assert copy["CustomerMetadataProperties"]["source_model_package"] == arn
    assert "better AUC" in copy["ApprovalDescription"]
    staging_bucket = config.environment("staging").bucket
    model_url = copy["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    assert model_url.startswith(f"s3://{staging_bucket}/")

    code, output = promote("apply", "--env", "staging", capsys=capsys)
    assert code == 0 and output.strip().endswith("no change")
    code, output = promote("plan", "--env", "staging", capsys=capsys)
    assert code == 0 and "no change" in output

    pin(promote, "prod", primary)
    code, output = promote("apply", "--env", "prod", capsys=capsys)
    assert code == 0, output
    answers, _ = predictions(accounts, local_aws, "prod", f"{config.slug}-prod", rows)
    assert answers == pytest.approx(handlers(trained, "good", rows), rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("status", ["Rejected", "unknown"])
def test_a_rejected_or_unknown_version_is_refused(
    promote, accounts, local_aws, config, trained, status, capsys
):
    if status == "unknown":
        arn = (
            f"arn:aws:sagemaker:{config.env.region}:{config.env.account_id}:"
            f"model-package/{GROUP}/999"
        )
        expected = "not in dev's registry"
    else:
        arn = register(accounts, local_aws, config, trained, "other", "Rejected")
        expected = "was rejected"
    pin(promote, "staging", {"name": "primary", "package": arn})

    code, output = promote("plan", "--env", "staging", capsys=capsys)

    assert code == 1 and expected in output


def test_an_artifact_changed_after_registration_is_refused(
    promote, accounts, local_aws, config, trained, capsys
):
    arn = register(accounts, local_aws, config, trained, "good", "Approved")
    dev_sm, dev_s3 = (client(accounts, local_aws, "dev", kind) for kind in ("sagemaker", "s3"))
    package = dev_sm.describe_model_package(ModelPackageName=arn)
    url = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    bucket, key = url.removeprefix("s3://").split("/", 1)
    other = trained["other"][0].model_archive_dir / "model.tar.gz"
    dev_s3.put_object(Bucket=bucket, Key=key, Body=other.read_bytes())
    pin(promote, "staging", {"name": "primary", "package": arn})

    code, output = promote("apply", "--env", "staging", capsys=capsys)

    assert code == 1 and "has changed since registration" in output


def test_a_version_whose_digest_was_rewritten_after_review_is_refused(
    promote, accounts, local_aws, config, trained, capsys
):
    """Artifact and recorded digest both replaced in the registry: the pin's digest, reviewed
    in its pull request, still tells."""
    arn = register(accounts, local_aws, config, trained, "good", "Approved")
    dev_sm, dev_s3 = (client(accounts, local_aws, "dev", kind) for kind in ("sagemaker", "s3"))
    package = dev_sm.describe_model_package(ModelPackageName=arn)
    reviewed = package["CustomerMetadataProperties"]["model_artifact_sha256"]
    pin(promote, "staging", {"name": "primary", "package": arn, "model_sha256": reviewed})
    assert promote("plan", "--env", "staging")[0] == 0
    url = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    bucket, key = url.removeprefix("s3://").split("/", 1)
    other = (trained["other"][0].model_archive_dir / "model.tar.gz").read_bytes()
    dev_s3.put_object(Bucket=bucket, Key=key, Body=other)
    dev_sm.update_model_package(
        ModelPackageArn=arn,
        CustomerMetadataProperties={"model_artifact_sha256": hashlib.sha256(other).hexdigest()},
    )

    code, output = promote("plan", "--env", "staging", capsys=capsys)

    assert code == 1 and "changed after its pull request was reviewed" in output
    assert reviewed in output


def test_a_version_below_the_floor_is_refused(
    promote, accounts, local_aws, config, trained, capsys
):
    arn = register(accounts, local_aws, config, trained, "other", "Approved")
    higher = config.metric(METRIC).higher_is_better
    pin(
        promote,
        "staging",
        {"name": "primary", "package": arn},
        floor={METRIC: 1.0 if higher else 1e-9},
    )

    code, output = promote("plan", "--env", "staging", capsys=capsys)

    assert code == 1 and f"scores {METRIC}" in output and "demands" in output


def failed_endpoint(sm, config, name: str) -> None:
    """``name`` replaced by an endpoint whose creation failed (its model artifact is missing)."""
    with contextlib.suppress(sm.exceptions.ClientError):
        sm.delete_endpoint(EndpointName=name)
    while name in [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]]:
        time.sleep(0.2)
    staging, broken = config.environment("staging"), f"broken-{uuid.uuid4().hex[:8]}"
    sm.create_model(
        ModelName=broken,
        ExecutionRoleArn=staging.role_arn,
        PrimaryContainer={
            "Image": config.env.image_uri,
            "ModelDataUrl": f"s3://{staging.bucket}/missing/model.tar.gz",
        },
    )
    sm.create_endpoint_config(
        EndpointConfigName=broken,
        ProductionVariants=[
            {
                "VariantName": "primary",
                "ModelName": broken,
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=broken)
    while sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "Creating":
        time.sleep(0.2)
    assert sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "Failed"


def test_a_failed_endpoint_weights_an_interrupted_apply_and_a_revert(
    promote, accounts, local_aws, config, trained, rows, capsys, monkeypatch
):
    good = register(accounts, local_aws, config, trained, "good", "Approved")
    other = register(accounts, local_aws, config, trained, "other", "Approved")
    endpoint = f"{config.slug}-staging"
    sm = client(accounts, local_aws, "staging", "sagemaker")
    failed_endpoint(sm, config, endpoint)

    pin(
        promote,
        "staging",
        {"name": "primary", "package": good, "weight": 0.9},
        {"name": "candidate", "package": other, "weight": 0.1},
    )
    code, output = promote("plan", "--env", "staging", capsys=capsys)
    assert code == 0 and f"replace endpoint {endpoint}, which is Failed" in output
    from ci.promote import packages

    def killed(*_args, **_kwargs):
        raise KeyboardInterrupt("killed after registering the copy")

    monkeypatch.setattr(packages, "_describe_approval", killed)
    with pytest.raises(KeyboardInterrupt):
        promote("apply", "--env", "staging")
    monkeypatch.undo()
    code, output = promote("apply", "--env", "staging", capsys=capsys)
    assert code == 0, output
    weights = {
        variant["VariantName"]: variant["CurrentWeight"]
        for variant in sm.describe_endpoint(EndpointName=endpoint)["ProductionVariants"]
    }
    assert weights == {"primary": pytest.approx(0.9), "candidate": pytest.approx(0.1)}
    copies = sm.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]
    sources = [
        sm.describe_model_package(ModelPackageName=c["ModelPackageArn"])[
            "CustomerMetadataProperties"
        ]["source_model_package"]
        for c in copies
    ]
    assert sources.count(other) == 1  # the interrupted run's copy was found, not made again
    for copy in copies:  # and the approval it carries was described after all
        described = sm.describe_model_package(ModelPackageName=copy["ModelPackageArn"])
        assert described["ApprovalDescription"].startswith("Promoted from ")

    before = (promote.pins / "staging.toml").read_text()
    pin(promote, "staging", {"name": "primary", "package": other})
    code, output = promote("plan", "--env", "staging", capsys=capsys)
    assert code == 0 and "all at once: the variants change" in output
    assert promote("apply", "--env", "staging")[0] == 0
    answers, _ = predictions(accounts, local_aws, "staging", endpoint, rows)
    assert answers == pytest.approx(handlers(trained, "other", rows), rel=1e-6, abs=1e-6)

    (promote.pins / "staging.toml").write_text(before)  # git revert of the pin
    assert promote("apply", "--env", "staging")[0] == 0
    config_name = sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    served = sm.describe_endpoint_config(EndpointConfigName=config_name)["ProductionVariants"]
    assert {v["VariantName"]: v["InitialVariantWeight"] for v in served} == {
        "primary": 0.9,
        "candidate": 0.1,
    }


def test_the_command_line_runs_as_ci_runs_it(local_aws, promote):
    environment = {
        **os.environ,
        "AWS_ENDPOINT_URL": local_aws.endpoint_url,
        "PYTHONPATH": f"{PROJECT_ROOT / 'plugins'}:{PROJECT_ROOT}",
    }
    finished = subprocess.run(
        [sys.executable, "-m", "ci.promote", "--pins", str(promote.pins), "plan", "--env", "qa"],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 1
    assert "promotion stopped" in finished.stderr and "'qa' has no pin file" in finished.stderr


def test_a_pull_requests_identity_plans_and_only_its_environments_deploys(
    local_aws, accounts, config, promote, trained
):
    """The roles of ci/infrastructure/promotion.yaml, signed into with GitHub OIDC tokens."""
    approved = register(accounts, local_aws, config, trained, "good", "Approved")
    pin(promote, "staging", {"name": "primary", "package": approved})
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    local_aws.oidc_keys.write_text(json.dumps({ISSUER: {"keys": [jwk(key, "github")]}}))
    repository, staging, prod = (
        config.project.repository,
        config.environment("staging"),
        config.environment("prod"),
    )
    sts = boto3.client("sts", endpoint_url=local_aws.endpoint_url, region_name=staging.region)

    def sign_in(role_arn: str, sub: str) -> dict:
        return sts.assume_role_with_web_identity(
            RoleArn=role_arn, RoleSessionName="github", WebIdentityToken=token(key, sub)
        )["Credentials"]

    pull_request, environment = f"repo:{repository}:pull_request", f"repo:{repository}:environment"
    plan = sign_in(staging.arn_of_role(staging.plan_role_name), pull_request)
    deploy = sign_in(staging.arn_of_role(staging.deploy_role_name), f"{environment}:staging")
    for role, sub in (
        (staging.arn_of_role(staging.deploy_role_name), pull_request),
        (prod.arn_of_role(prod.deploy_role_name), f"{environment}:staging"),
        (staging.arn_of_role(staging.plan_role_name), "repo:someone/fork:pull_request"),
    ):
        with pytest.raises(ClientError, match="AccessDenied"):
            sign_in(role, sub)

    for command, credentials in (("plan", plan), ("apply", deploy)):  # as the workflow's jobs
        finished = subprocess.run(
            [sys.executable, "-m", "ci.promote", "--pins", str(promote.pins), command]
            + ["--env", "staging"],
            cwd=PROJECT_ROOT,
            env={
                **os.environ,
                "AWS_ENDPOINT_URL": local_aws.endpoint_url,
                "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
                "AWS_SESSION_TOKEN": credentials["SessionToken"],
                "PYTHONPATH": f"{PROJECT_ROOT / 'plugins'}:{PROJECT_ROOT}",
            },
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert finished.returncode == 0, finished.stderr


def test_an_approval_is_proposed_once_then_staging_soaks_before_prod_and_a_rejection_reverts(
    local_aws, accounts, config, promote, trained, tmp_path, capsys
):
    """The promotion DAG's proposals against the GitHub stand-in: dev's registry read as
    Airflow reads it, staging watched through its watch role, pins merged and applied."""
    sm = client(accounts, local_aws, "dev", "sagemaker")
    cloudwatch = client(accounts, local_aws, "staging", "cloudwatch")
    alarm = f"{config.slug}-staging-errors"
    cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        Namespace="AWS/SageMaker",
        MetricName="Invocation5XXErrors",
        Dimensions=[{"Name": "EndpointName", "Value": f"{config.slug}-staging"}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
    )
    approved = [
        v["ModelPackageVersion"]
        for v in sm.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]
        if v["ModelApprovalStatus"] == "Approved"
    ]
    settled = max(approved)
    pins = {
        name: (PROJECT_ROOT / "ci" / "environments" / f"{name}.toml").read_text()
        for name in ("staging", "prod")
    }
    pins["staging"] = proposals.with_primary(
        pins["staging"]
        .replace("wait_seconds = 300", "wait_seconds = 0")
        .replace("rollback_alarms = []", f'rollback_alarms = ["{alarm}"]'),
        arn_of(config, settled),
        "ml.m5.large",
    )
    private_key, public_key = new_app_key()
    repository = scratch_repository(
        tmp_path / "repository", {f"ci/environments/{n}.toml": t for n, t in pins.items()}
    )
    standin = LocalGitHub(repository, config.project.repository, "7", public_key)
    standin.start()
    try:
        github = GitHub.as_app(
            config.project.repository, AppCredentials("7", private_key, "1", standin.url)
        )
        watch = watching(local_aws.endpoint_url)  # as Airflow reads staging

        def propose(now=None) -> list[str]:
            return proposals.propose(config, sm, watch, github, print, now=now)

        new = register(accounts, local_aws, config, trained, "good", "PendingManualApproval")
        assert propose() == []  # pending: nothing; staging's own version cannot soak yet
        assert "prod waits for staging's" in capsys.readouterr().out

        promote("approve", "--version", version_of(new), "--reason", "proposal test")
        (opened,) = propose()
        assert propose() == []  # the same approval seen again (a duplicate event, an hourly run)
        pulls = github.pull_requests(f"promote/staging/{GROUP.lower()}-v{version_of(new)}")
        assert [p["html_url"] for p in pulls] == [opened]

        assert github.call("PUT", f"/pulls/{pulls[0]['number']}/merge")["merged"]
        merged_pin = github.file("ci/environments/staging.toml", "main")[0]
        assert f'package = "{new}"' in merged_pin
        digest = sm.describe_model_package(ModelPackageName=new)["CustomerMetadataProperties"]
        assert f'model_sha256 = "{digest["model_artifact_sha256"]}"' in merged_pin
        (promote.pins / "staging.toml").write_text(merged_pin)
        code, output = promote("apply", "--env", "staging", capsys=capsys)
        assert code == 0, output

        assert propose() == []
        assert "has served its pin for 0.0 h of the 24 h soak" in capsys.readouterr().out
        later = datetime.now(UTC) + timedelta(hours=25)
        (to_prod,) = propose(now=later)
        prod_branch = f"promote/prod/{GROUP.lower()}-v{version_of(new)}"
        assert [p["html_url"] for p in github.pull_requests(prod_branch)] == [to_prod]

        # an alarm that fired during a soak holds prod back, though it is OK again now
        for state in ("ALARM", "OK"):
            cloudwatch.set_alarm_state(AlarmName=alarm, StateValue=state, StateReason="test")
        staging_pin = load_pin("staging", promote.pins)
        ready, why = proposals.soaked(*watch, staging_pin, 24, later)
        assert not ready and f"the alarm {alarm} went into ALARM" in why

        sm.update_model_package(ModelPackageArn=new, ModelApprovalStatus="Rejected")
        (revert,) = propose()
        reverted = github.file(
            "ci/environments/staging.toml", f"revert/staging/{GROUP.lower()}-v{version_of(new)}"
        )
        # back to what staging's pin named before: the version the repository started with
        assert f'package = "{arn_of(config, settled)}"' in reverted[0]
        assert revert != to_prod != opened
        assert standin.violations == []
    finally:
        standin.stop()


def arn_of(config: PipelineConfig, version: int) -> str:
    dev = config.environment("dev")
    return (
        f"arn:aws:sagemaker:{dev.region}:{dev.account_id}:model-package/{GROUP.lower()}/{version}"
    )


#: Granted actions the tests above cannot make a role use, each with why the role needs it.
NEEDED_BEYOND_THE_TESTS = {
    "DeployRole": {"kms:Decrypt": "multipart uploads (artifacts over 8 MB) decrypt their parts"},
}


def granted_actions(role: str, policy: str | None = None) -> set[str]:
    """The actions ``role``'s policies (or the one named ``policy``) grant in promotion.yaml."""
    resources = loads(infrastructure.PROMOTION_TEMPLATE.read_text())["Resources"]
    actions = set()
    for document in resources[role]["Properties"]["Policies"]:
        if policy and document["PolicyName"] != policy:
            continue
        for statement in document["PolicyDocument"]["Statement"]:
            listed = statement["Action"]
            actions.update([listed] if isinstance(listed, str) else listed)
    return actions


def test_each_promotion_role_is_granted_exactly_what_promotion_used(local_aws, config):
    """Least privilege, measured: the actions the roles' sessions needed in this module's tests
    (run before it) against promotion.yaml's policies."""
    used: dict[str, set[str]] = {}
    recorded = requests.get(f"{local_aws.endpoint_url}/_local_aws/role-actions", timeout=10).json()
    names = {
        "RegistryReadRole": config.environment("dev").registry_read_role_name,
        "PlanRole": config.environment("staging").plan_role_name,
        "DeployRole": config.environment("staging").deploy_role_name,
        "WatchRole": config.environment("staging").watch_role_name,
    }
    for role, name in names.items():
        used[role] = {
            a for arn, acts in recorded.items() if arn.endswith(f":role/{name}") for a in acts
        }
    for role in names:
        granted = granted_actions(role)
        assert not [action for action in granted if "*" in action], role
        assert used[role] - granted == set(), f"{role} used actions it is not granted"
        # the watch role's monitor policy is measured by the monitoring DAG's tests
        promotion = granted_actions(role, "watch") if role == "WatchRole" else granted
        unused = promotion - used[role] - set(NEEDED_BEYOND_THE_TESTS.get(role, {}))
        assert unused == set(), f"{role} is granted actions promotion never used"
