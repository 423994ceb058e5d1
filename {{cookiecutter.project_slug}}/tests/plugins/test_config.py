import csv
import re
import shutil

import pytest

from {{ cookiecutter.package_name }}_pipeline import images, job_requests
from {{ cookiecutter.package_name }}_pipeline.config import ConfigError, PipelineConfig
from {{ cookiecutter.package_name }}_pipeline.job_requests import training_job
from {{ cookiecutter.package_name }}_pipeline.runs import Run

from tests.support import CONFIG, PROJECT_ROOT

OTHER_PROBLEM = {"binary_classification": "regression", "regression": "binary_classification"}


def load(environment: str) -> PipelineConfig:
    return PipelineConfig.load(PROJECT_ROOT / "pipeline.toml", environment=environment)


def edited_config(tmp_path, *replacements: tuple[str, str]) -> PipelineConfig:
    """pipeline.toml with ``replacements`` applied, beside a copy of the package's metric table."""
    text = (PROJECT_ROOT / "pipeline.toml").read_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    (tmp_path / "pipeline.toml").write_text(text)
    package = CONFIG["project"]["package"]
    (tmp_path / package).mkdir()
    shutil.copy(PROJECT_ROOT / package / "metrics.csv", tmp_path / package)
    return PipelineConfig.load(tmp_path / "pipeline.toml", environment="local")


def run() -> Run:
    return Run("manual__x", "m-x", "s3://b/p", "s3://b/p/raw/", "0" * 64, 0.5, "image:1")


def test_local_environment_is_dev_with_the_local_endpoint_and_short_polling(monkeypatch):
    monkeypatch.delenv("LOCAL_AWS_PORT", raising=False)
    local, dev = load("local").env, load("dev").env

    assert local.endpoint_url == "http://127.0.0.1:4566"
    assert dev.endpoint_url is None
    assert (local.account_id, local.bucket, local.role_arn) == (
        dev.account_id,
        dev.bucket,
        dev.role_arn,
    )
    assert local.poll_interval_seconds < dev.poll_interval_seconds


def test_every_environment_names_its_own_account():
    accounts = {name: load(name).env.account_id for name in ("dev", "staging", "prod")}

    assert len(set(accounts.values())) == 3


def test_unknown_environment_is_refused_with_the_ones_that_exist():
    with pytest.raises(ConfigError, match="'qa'.*PIPELINE_ENV.*expected one of dev, local, prod"):
        _ = load("qa").env


def test_without_pipeline_env_the_config_refuses_to_guess(monkeypatch):
    monkeypatch.delenv("PIPELINE_ENV", raising=False)

    with pytest.raises(ConfigError, match="PIPELINE_ENV is not set.*one of dev, local, prod"):
        PipelineConfig.load(PROJECT_ROOT / "pipeline.toml")


def test_unknown_setting_in_an_environment_is_refused(tmp_path):
    text = (PROJECT_ROOT / "pipeline.toml").read_text()
    broken = tmp_path / "pipeline.toml"
    broken.write_text(text.replace("poll_interval_seconds = 1\n", "poll_interval_secs = 1\n", 1))

    with pytest.raises(
        ConfigError,
        match=r"\[environments.local\] has an unknown setting 'poll_interval_secs'; "
        r"did you mean 'poll_interval_seconds'\?",
    ):
        _ = PipelineConfig.load(broken, environment="local").env


def test_primary_metric_and_threshold_come_from_the_answers():
    config = load("dev")

    assert config.primary_metric.name == CONFIG["training"]["primary_metric"]
    assert config.metric_threshold == CONFIG["training"]["metric_threshold"]


def test_queue_url_follows_the_environments_endpoint(monkeypatch):
    monkeypatch.delenv("LOCAL_AWS_PORT", raising=False)
    local, dev = load("local").env, load("dev").env

    assert local.queue_url("q") == f"http://127.0.0.1:4566/{local.account_id}/q"
    assert dev.queue_url("q") == f"https://sqs.{dev.region}.amazonaws.com/{dev.account_id}/q"


def test_metric_definitions_follow_the_problem_type_from_the_metric_table(tmp_path):
    problem_type = CONFIG["data"]["problem_type"]
    other = OTHER_PROBLEM[problem_type]
    metric = {"binary_classification": "auc", "regression": "rmse"}[other]
    switched = edited_config(
        tmp_path,
        (f'problem_type = "{problem_type}"', f'problem_type = "{other}"'),
        (
            f'primary_metric = "{CONFIG["training"]["primary_metric"]}"',
            f'primary_metric = "{metric}"',
        ),
    )

    for config in (load("local"), switched):
        request = training_job(config, run())
        names = {d["Name"] for d in request["AlgorithmSpecification"]["MetricDefinitions"]}
        logged = {m.name for m in config.metrics if m.log_regex}
        assert names == {f"{split}:{m}" for split in ("train", "validation") for m in logged}
        assert request["HyperParameters"]["problem_type"] == f'"{config.problem_type}"'
    assert {m.problem_type for m in switched.metrics} == {other}


def test_a_primary_metric_that_does_not_fit_the_problem_type_is_refused_at_load(tmp_path):
    problem_type = CONFIG["data"]["problem_type"]
    other = OTHER_PROBLEM[problem_type]
    config = edited_config(
        tmp_path, (f'problem_type = "{problem_type}"', f'problem_type = "{other}"')
    )

    with pytest.raises(ConfigError) as refused:
        _ = config.primary_metric
    message = str(refused.value)
    assert str(tmp_path / "pipeline.toml") in message
    assert f"[training] primary_metric {CONFIG['training']['primary_metric']!r}" in message
    assert re.search(f"does not fit \\[data\\] problem_type '{other}'; expected one of", message)


def test_local_aws_port_is_one_variable_for_every_command(monkeypatch):
    monkeypatch.setenv("LOCAL_AWS_PORT", "4602")

    assert load("local").env.endpoint_url == "http://127.0.0.1:4602"
    assert load("local").env.queue_url("q").startswith("http://127.0.0.1:4602/")


@pytest.mark.parametrize(
    ("row", "column", "value", "message"),
    [
        ("auc", "direction", "Higher", "direction 'Higher' must be higher or lower"),
        ("auc", "gate_range", "0 to 1", "'0 to 1' is not a range such as"),
        (
            "rmse",
            "early_stopping",
            "no",
            "exactly one metric of regression must say early_stopping",
        ),
        ("auc", "log_regex", "auc: [0-9.]+", "log_regex needs {split} and exactly one group"),
    ],
)
def test_a_metric_table_that_cannot_be_meant_is_refused_naming_the_line(
    tmp_path, row, column, value, message
):
    config = edited_config(tmp_path)
    table = tmp_path / CONFIG["project"]["package"] / "metrics.csv"
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    for entry in rows:
        if entry["name"] == row:
            entry[column] = value
    with open(table, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    with pytest.raises(ConfigError, match=re.escape(message)):
        _ = config.metrics


def test_a_threshold_the_primary_metric_cannot_reach_is_refused_at_load(tmp_path):
    threshold = CONFIG["training"]["metric_threshold"]
    metric = CONFIG["training"]["primary_metric"]
    impossible = -1 if metric in ("rmse", "mae", "mse") else 7
    config = edited_config(
        tmp_path, (f"metric_threshold = {threshold}", f"metric_threshold = {impossible}")
    )

    with pytest.raises(ConfigError) as refused:
        _ = config.metric_threshold
    assert f"[training] metric_threshold {impossible} is out of range for {metric}" in str(
        refused.value
    )


@pytest.mark.parametrize("port", ["abc", "99999"])
def test_a_local_aws_port_that_is_not_a_port_is_refused_naming_the_setting(monkeypatch, port):
    monkeypatch.setenv("LOCAL_AWS_PORT", port)

    with pytest.raises(ConfigError, match="endpoint_url .* has no valid port"):
        _ = load("local").env


@pytest.mark.parametrize(
    ("old", "new", "section", "message"),
    [
        (
            'raw_suite = "raw"',
            'raw_suit = "raw"',
            "data",
            "has an unknown setting 'raw_suit'; did you mean 'raw_suite'?",
        ),
        ("seed = 42", "", "training", "lacks the setting 'seed'"),
        (
            "sample_rows = 10000",
            'sample_rows = "many"',
            "data",
            "sample_rows is 'many'; expected a whole number",
        ),
        ('topic_name = "', 'topic = "', "notifications", "has an unknown setting 'topic'"),
    ],
)
def test_every_section_refuses_what_it_does_not_know_naming_the_file_and_key(
    tmp_path, old, new, section, message
):
    config = edited_config(tmp_path, (old, new))

    with pytest.raises(ConfigError) as refused:
        _ = getattr(config, section)
    assert str(refused.value).startswith(f"{tmp_path / 'pipeline.toml'}: [{section}]")
    assert message in str(refused.value)


def test_processing_jobs_have_a_runtime_limit_of_their_own(tmp_path):
    config = edited_config(
        tmp_path,
        ("max_runtime_seconds = 3600\n\n[registry]", "max_runtime_seconds = 600\n\n[registry]"),
    )

    preprocess = job_requests.preprocess_job(config, run())
    training = job_requests.training_job(config, run())

    assert preprocess["StoppingCondition"]["MaxRuntimeInSeconds"] == 600
    assert (
        training["StoppingCondition"]["MaxRuntimeInSeconds"]
        == CONFIG["training"]["max_runtime_seconds"]
    )


def test_a_misspelt_section_is_refused_naming_the_one_meant(tmp_path):
    with pytest.raises(
        ConfigError, match=r"unknown section \[procesing\]; did you mean \[processing\]"
    ):
        edited_config(tmp_path, ("[processing]", "[procesing]"))


@pytest.mark.parametrize(
    ("old", "new", "section", "message"),
    [
        (
            "validation_fraction = 0.15",
            "validation_fraction = 0.9",
            "training",
            "must leave rows to train on",
        ),
        (
            "max_active_runs = 1",
            "max_active_runs = 0",
            "training",
            "max_active_runs must be at least 1",
        ),
        (
            "max_runtime_seconds = 3600\n\n[registry]",
            "max_runtime_seconds = -5\n\n[registry]",
            "processing",
            "max_runtime_seconds must be at least 1",
        ),
        ('account_id = "', 'account_id = "1234', "env", "is not 12 digits"),
    ],
)
def test_a_value_of_the_right_type_out_of_its_range_is_refused(
    tmp_path, old, new, section, message
):
    config = edited_config(tmp_path, (old, new))

    with pytest.raises(ConfigError, match=re.escape(message)):
        _ = getattr(config, section)


def test_registered_versions_are_served_by_the_runs_jobs_image_by_default(tmp_path):
    config = edited_config(tmp_path)
    pinned = "111111111111.dkr.ecr.us-east-1.amazonaws.com/jobs@sha256:" + "0" * 64

    assert images.inference_image(config, pinned) == pinned


def test_a_framework_serving_image_of_another_region_is_refused(tmp_path):
    region = CONFIG["environments"]["dev"]["region"]
    other = "eu-central-1" if region != "eu-central-1" else "eu-west-1"
    config = edited_config(
        tmp_path,
        (f'region = "{region}"', f'region = "{other}"'),
        ('serving_image = "jobs"', 'serving_image = "framework"'),
    )

    with pytest.raises(ConfigError, match=f"is not in {other}, the region of"):
        images.inference_image(config, "jobs-image")


def test_an_unknown_serving_image_is_refused(tmp_path):
    config = edited_config(tmp_path, ('serving_image = "jobs"', 'serving_image = "docker"'))

    with pytest.raises(ConfigError, match="expected one of jobs, framework"):
        _ = config.registry
