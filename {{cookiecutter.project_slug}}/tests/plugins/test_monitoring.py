"""The monitoring DAG's decisions: what it monitors, which window, its alarms, when drift
retrains, and how a drift-started run says why it started."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException

from {{ cookiecutter.package_name }}_pipeline import monitoring
from {{ cookiecutter.package_name }}_pipeline.config import ConfigError
from {{ cookiecutter.package_name }}_pipeline.run_inputs import drift_from_asset_events, drift_reason

from tests.plugins.test_config import edited_config
from tests.support import ACCOUNTS, CONFIG, PROJECT_ROOT, REGION

GROUP = CONFIG["registry"]["model_package_group"].lower()
PACKAGE = f"arn:aws:sagemaker:{REGION}:{ACCOUNTS['dev']}:model-package/{GROUP}/3"


def pins(tmp_path, staging: str = "", prod: str = ""):
    """The repository's pin files, with variants appended to staging's and prod's."""
    folder = tmp_path / "pins"
    folder.mkdir()
    for name, extra in (("staging", staging), ("prod", prod)):
        text = (PROJECT_ROOT / "ci" / "environments" / f"{name}.toml").read_text()
        (folder / f"{name}.toml").write_text(text + extra)
    return folder


def variant(name: str = "primary", count: int = 1) -> str:
    return (
        f'\n[[variants]]\nname = "{name}"\npackage = "{PACKAGE}"\n'
        f'instance_type = "ml.m5.large"\ninstance_count = {count}\nweight = 1.0\n'
    )


def test_every_variant_the_pins_deploy_with_capture_on_is_monitored(tmp_path):
    config = edited_config(tmp_path)
    folder = pins(tmp_path, staging=variant() + variant("candidate"), prod=variant(count=2))

    found = monitoring.targets(config, folder)

    staging = config.environment("staging")
    # prod's first: its drift is the one a training run is started for, when both drift
    assert [(t["environment"], t["variant"]) for t in found] == [
        ("prod", "primary"),
        ("staging", "primary"),
        ("staging", "candidate"),
    ]
    found = found[1:]
    assert found[0]["capture_destination"] == f"s3://{staging.bucket}/{config.slug}/capture"
    assert found[0]["package"] == PACKAGE


def test_a_pin_with_capture_off_is_not_monitored_and_the_log_says_so(tmp_path, caplog):
    config = edited_config(tmp_path)
    folder = pins(tmp_path, staging=variant())
    text = (folder / "staging.toml").read_text()
    (folder / "staging.toml").write_text(text.replace("enabled = true", "enabled = false", 1))

    assert monitoring.targets(config, folder) == []
    assert "capture off" in caplog.text


def test_the_window_is_the_data_interval_unless_the_params_name_one():
    start, end = datetime(2026, 12, 4, tzinfo=UTC), datetime(2026, 12, 5, tzinfo=UTC)
    context = {"params": {}, "data_interval_start": start, "data_interval_end": end}
    assert monitoring.interval(context) == (start, end)

    given = {"start_time": "2026-12-05T10:00:00", "end_time": "2026-12-05T11:00:00+00:00"}
    assert monitoring.interval({**context, "params": given}) == (
        datetime(2026, 12, 5, 10, tzinfo=UTC),
        datetime(2026, 12, 5, 11, tzinfo=UTC),
    )
    backwards = {"start_time": given["end_time"], "end_time": given["start_time"]}
    with pytest.raises(ConfigError, match="is empty"):
        monitoring.interval({**context, "params": backwards})
    with pytest.raises(ConfigError, match="only start_time is given"):
        monitoring.interval({**context, "params": {"start_time": given["start_time"]}})
    # capture's partitions are UTC hours: another offset is converted
    elsewhere = {"start_time": "2026-12-05T12:00:00+02:00", "end_time": "2026-12-05T13:00:00+02:00"}
    assert monitoring.interval({**context, "params": elsewhere}) == (
        datetime(2026, 12, 5, 10, tzinfo=UTC),
        datetime(2026, 12, 5, 11, tzinfo=UTC),
    )


def test_hours_are_the_partitions_the_window_touches():
    start = datetime(2026, 12, 5, 22, 30, tzinfo=UTC)
    hours = monitoring.hours(start, start + timedelta(hours=2))
    assert [f"{h:%d %H}" for h in hours] == ["05 22", "05 23", "06 00"]


def test_alarms_follow_the_baseline_and_each_features_own_threshold(tmp_path):
    config = edited_config(tmp_path)
    target = monitoring.Target("staging", "ep", "primary", PACKAGE, "s3://b/capture")
    constraints: dict = {
        "features": [
            {"name": "x", "inferred_type": "Fractional"},
            {"name": "c", "inferred_type": "String"},
            {
                "name": "n",
                "inferred_type": "Integral",
                "monitoringConfigOverrides": {"comparison_threshold": 0.3},
            },
        ],
        "monitoring_config": {
            "distribution_constraints": {
                "comparison_threshold": 0.2,
                "categorical_comparison_threshold": 0.15,
            }
        },
    }

    constraints["features"].append(
        {
            "name": "off",
            "inferred_type": "Fractional",
            "monitoringConfigOverrides": {"perform_comparison": "Disabled"},
        }
    )

    alarms = monitoring.drift_alarms(config, config.environment("staging"), target, constraints)

    # a feature whose drift is not compared has no alarm
    assert {a["MetricName"]: a["Threshold"] for a in alarms} == {
        "feature_baseline_drift_x": 0.2,
        "feature_baseline_drift_c": 0.15,
        "feature_baseline_drift_n": 0.3,
    }
    constraints["monitoring_config"]["evaluate_constraints"] = "Disabled"
    assert monitoring.drift_alarms(config, config.environment("staging"), target, constraints) == []
    topic = config.environment("staging").topic_arn(config.notifications.topic_name)
    for alarm in alarms:
        assert alarm["AlarmActions"] == [topic] and alarm["TreatMissingData"] == "ignore"
        assert alarm["Namespace"] == config.monitoring.metric_namespace
        assert {d["Name"] for d in alarm["Dimensions"]} == {"Endpoint", "MonitoringSchedule"}
        assert re.fullmatch(r"ep-primary-drift-[xcn]", alarm["AlarmName"])


def result(endpoint: str, *features: str, check: str = "baseline_drift_check") -> dict:
    return {
        "target": {"environment": "staging", "endpoint": endpoint, "variant": "primary"},
        "start": "2026-12-05T10:00:00+00:00",
        "end": "2026-12-05T11:00:00+00:00",
        "report": f"s3://b/{endpoint}/report.html",
        "violations": [
            {"feature_name": f, "constraint_check_type": check, "description": "d"}
            for f in features
        ],
    }


def test_drift_retrains_when_the_rule_is_met_once_per_cool_down(tmp_path):
    config = edited_config(tmp_path, ("retrain_min_features = 1", "retrain_min_features = 2"))
    now = datetime(2026, 12, 5, 12, tzinfo=UTC)

    # one feature is under the rule; a check the rule does not count is no drift
    assert monitoring.drift_decision(config, [result("a", "x")], None, now)[0] is None
    assert (
        monitoring.drift_decision(
            config, [result("a", "x", "y", check="missing_column_check")], None, now
        )[0]
        is None
    )
    extra, why = monitoring.drift_decision(
        config, [result("a", "x"), result("b", "y", "x"), result("c", "x", "y")], None, now
    )
    assert extra["endpoint"] == "b" and extra["features"] == ["x", "y"]
    assert extra["also"] == ["c/primary"]  # the first that meets the rule; the others named
    assert extra["interval"] == {
        "start": "2026-12-05T10:00:00+00:00",
        "end": "2026-12-05T11:00:00+00:00",
    }
    assert "training run follows" in why
    recent = now - timedelta(hours=config.monitoring.cooldown_hours - 1)
    extra, why = monitoring.drift_decision(config, [result("b", "y", "x")], recent, now)
    assert extra is None and "within the cool-down" in why
    long_ago = now - timedelta(hours=config.monitoring.cooldown_hours + 1)
    assert monitoring.drift_decision(config, [result("b", "y", "x")], long_ago, now)[0]


def test_a_retraining_rule_naming_an_unknown_check_is_refused(tmp_path):
    config = edited_config(
        tmp_path,
        ('retrain_checks = ["baseline_drift_check"]', 'retrain_checks = ["drift_check"]'),
    )
    with pytest.raises(ConfigError, match="not Model Monitor's checks"):
        _ = config.monitoring


def test_a_drift_started_run_says_why_and_refuses_an_event_it_cannot_read():
    event = result("ep", "x", "y")
    extra = {
        "reason": "drift",
        "environment": "staging",
        "endpoint": "ep",
        "interval": {"start": event["start"], "end": event["end"]},
        "features": ["x", "y"],
        "report": event["report"],
        "labelled_rows": None,
    }
    raw = SimpleNamespace(extra={"payload": {"message_batch": []}})
    events = {"raw": [raw], "drift": [SimpleNamespace(extra=extra)]}

    assert drift_from_asset_events(events) == [extra]
    reason = drift_reason([extra])
    assert reason.startswith("drift in x, y on ep (staging) from 2026-12-05T10:00:00")
    assert event["report"] in reason
    with pytest.raises(AirflowFailException, match="has no features, report"):
        drift_reason([{k: v for k, v in extra.items() if k not in ("features", "report")}])


def test_a_raw_data_prefix_over_the_labelled_capture_is_refused(tmp_path):
    """Labelled rows landing under the raw prefix would start runs of their own."""
    config = edited_config(tmp_path, ('raw_prefix = "data/raw"', 'raw_prefix = "data"'))
    with pytest.raises(ConfigError, match="overlaps 'data/feedback'"):
        _ = config.data
