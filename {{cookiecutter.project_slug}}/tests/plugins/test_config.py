import pytest

from {{ cookiecutter.package_name }}_pipeline.config import ConfigError, PipelineConfig

from tests.support import CONFIG, PROJECT_ROOT


def load(environment: str) -> PipelineConfig:
    return PipelineConfig.load(PROJECT_ROOT / "pipeline.toml", environment=environment)


def test_local_environment_is_dev_with_the_local_endpoint_and_short_polling():
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
    with pytest.raises(ConfigError, match="PIPELINE_ENV='qa'.*expected one of dev, local, prod"):
        _ = load("qa").env


def test_without_pipeline_env_the_config_refuses_to_guess(monkeypatch):
    monkeypatch.delenv("PIPELINE_ENV", raising=False)

    with pytest.raises(ConfigError, match="PIPELINE_ENV is not set.*one of dev, local, prod"):
        PipelineConfig.load(PROJECT_ROOT / "pipeline.toml")


def test_unknown_setting_in_an_environment_is_refused(tmp_path):
    text = (PROJECT_ROOT / "pipeline.toml").read_text()
    broken = tmp_path / "pipeline.toml"
    broken.write_text(text.replace("poll_interval_seconds = 1\n", "poll_interval_secs = 1\n", 1))

    with pytest.raises(ConfigError, match="unknown settings: \\['poll_interval_secs'\\]"):
        _ = PipelineConfig.load(broken, environment="local").env


def test_primary_metric_and_threshold_come_from_the_answers():
    config = load("dev")

    assert config.primary_metric == CONFIG["training"]["primary_metric"]
    assert config.training["metric_threshold"] == CONFIG["training"]["metric_threshold"]


def test_queue_url_follows_the_environments_endpoint():
    local, dev = load("local").env, load("dev").env

    assert local.queue_url("q") == f"http://127.0.0.1:4566/{local.account_id}/q"
    assert dev.queue_url("q") == f"https://sqs.{dev.region}.amazonaws.com/{dev.account_id}/q"
