"""CloudWatch alarms on the local AWS move as on AWS and notify, driven through plain boto3."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from tests.support import queue_for, subscribed_queue


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def inbox(aws_client):
    """An SNS topic with an SQS queue subscribed (raw delivery off: the SNS envelope)."""
    sns, sqs = aws_client("sns"), aws_client("sqs")
    topic = sns.create_topic(Name=unique("alarms"))["TopicArn"]
    return topic, subscribed_queue(sns, sqs, [topic], unique("alarms"))


def wait_for_state(cloudwatch, name: str, state: str, timeout: float = 40) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alarm = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
        if alarm["StateValue"] == state:
            return alarm
        time.sleep(0.5)
    raise AssertionError(f"alarm {name} is {alarm['StateValue']}, not {state}")


def test_an_alarm_on_a_high_resolution_metric_moves_to_alarm_and_notifies(aws_client, inbox):
    cloudwatch, sqs, events = aws_client("cloudwatch"), aws_client("sqs"), aws_client("events")
    topic, queue = inbox
    rule_queue, rule_queue_arn = queue_for(sqs, unique("alarm-events"))
    rule = unique("alarm-changes")
    name, dimensions = unique("errors"), [{"Name": "Service", "Value": unique("svc")}]
    events.put_rule(
        Name=rule,
        EventPattern=json.dumps(
            {
                "source": ["aws.cloudwatch"],
                "detail-type": ["CloudWatch Alarm State Change"],
                "detail": {"alarmName": [name]},  # other tests' alarms change state too
            }
        ),
    )
    events.put_targets(Rule=rule, Targets=[{"Id": "queue", "Arn": rule_queue_arn}])
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace="Tests",
        MetricName="Errors",
        Dimensions=dimensions,
        Statistic="Sum",
        Period=10,
        EvaluationPeriods=1,
        Threshold=5,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[topic],
    )
    assert (
        cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"]
        == "INSUFFICIENT_DATA"
    )

    cloudwatch.put_metric_data(
        Namespace="Tests",
        MetricData=[
            {
                "MetricName": "Errors",
                "Dimensions": dimensions,
                "Timestamp": datetime.now(UTC),
                "Value": value,
                "StorageResolution": 1,
            }
            for value in (4, 3)
        ],
    )
    alarm = wait_for_state(cloudwatch, name, "ALARM")

    assert alarm["StateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints [7.0")
    assert json.loads(alarm["StateReasonData"])["recentDatapoints"] == [7.0]
    messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=5)["Messages"]
    notification = json.loads(json.loads(messages[0]["Body"])["Message"])
    assert notification["AlarmName"] == name
    assert (notification["OldStateValue"], notification["NewStateValue"]) == (
        "INSUFFICIENT_DATA",
        "ALARM",
    )
    assert notification["Trigger"]["Period"] == 10
    delivered = sqs.receive_message(QueueUrl=rule_queue, WaitTimeSeconds=5)["Messages"]
    event = json.loads(delivered[0]["Body"])
    assert event["detail-type"] == "CloudWatch Alarm State Change"
    assert event["detail"]["state"]["value"] == "ALARM"


def test_an_alarm_without_data_treated_as_not_breaching_goes_to_ok(aws_client):
    cloudwatch = aws_client("cloudwatch")
    name = unique("quiet")
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace="Tests",
        MetricName="Nothing",
        Statistic="Sum",
        Period=10,
        EvaluationPeriods=2,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
    )

    alarm = wait_for_state(cloudwatch, name, "OK", timeout=10)

    assert alarm["StateReason"].startswith("Threshold Crossed")


def test_what_alarms_cannot_be_evaluated_here_is_refused(aws_client):
    cloudwatch = aws_client("cloudwatch")
    common = {"Namespace": "Tests", "MetricName": "X", "EvaluationPeriods": 1, "Threshold": 1}

    with pytest.raises(ClientError, match="period 45 is not valid"):
        cloudwatch.put_metric_alarm(
            AlarmName=unique("odd"),
            Statistic="Sum",
            Period=45,
            ComparisonOperator="GreaterThanThreshold",
            **common,
        )
    with pytest.raises(ClientError, match="ExtendedStatistic"):
        cloudwatch.put_metric_alarm(
            AlarmName=unique("p99"),
            ExtendedStatistic="p99",
            Period=60,
            ComparisonOperator="GreaterThanThreshold",
            **common,
        )


def test_alarms_on_one_metric_change_state_together(aws_client):
    """Every alarm of a pass is evaluated, however many change state in it."""
    cloudwatch = aws_client("cloudwatch")
    dimensions = [{"Name": "Service", "Value": unique("svc")}]
    thresholds = (10, 20, 30)
    names = [unique(f"latency-over-{threshold}") for threshold in thresholds]
    for name, threshold in zip(names, thresholds, strict=True):
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace="Tests",
            MetricName="Latency",
            Dimensions=dimensions,
            Statistic="Maximum",
            Period=10,
            EvaluationPeriods=1,
            Threshold=threshold,
            ComparisonOperator="GreaterThanThreshold",
        )

    cloudwatch.put_metric_data(
        Namespace="Tests",
        MetricData=[
            {
                "MetricName": "Latency",
                "Dimensions": dimensions,
                "Timestamp": datetime.now(UTC),
                "Value": 50,
                "StorageResolution": 1,
            }
        ],
    )

    changed = [wait_for_state(cloudwatch, name, "ALARM")["StateUpdatedTimestamp"] for name in names]
    # one evaluation pass (every 2 s) moved them all
    assert (max(changed) - min(changed)).total_seconds() < 1.5, changed


def test_an_alarms_state_changes_are_its_history_newest_first(aws_client):
    cloudwatch = aws_client("cloudwatch")
    name = unique("history")
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace="Tests",
        MetricName="Latency",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="ignore",  # keeps the states set below
    )
    before = datetime.now(UTC)
    for state in ("OK", "ALARM", "OK"):
        cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=f"test {state}")

    items = cloudwatch.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate")[
        "AlarmHistoryItems"
    ]

    assert [item["HistorySummary"] for item in items] == [
        "Alarm updated from ALARM to OK",
        "Alarm updated from OK to ALARM",
        "Alarm updated from INSUFFICIENT_DATA to OK",
    ]
    data = json.loads(items[1]["HistoryData"])
    assert data["oldState"]["stateValue"] == "OK"
    assert data["newState"] == {
        "stateValue": "ALARM",
        "stateReason": "test ALARM",
        "stateReasonData": {},
    }
    assert all(item["AlarmName"] == name and item["AlarmType"] == "MetricAlarm" for item in items)
    oldest = cloudwatch.describe_alarm_history(
        AlarmName=name, ScanBy="TimestampAscending", MaxRecords=1, StartDate=before
    )["AlarmHistoryItems"]
    assert [item["HistorySummary"] for item in oldest] == [
        "Alarm updated from INSUFFICIENT_DATA to OK"
    ]
    assert not cloudwatch.describe_alarm_history(AlarmName=name, EndDate=before)[
        "AlarmHistoryItems"
    ]
    pages = cloudwatch.get_paginator("describe_alarm_history").paginate(
        AlarmName=name, PaginationConfig={"PageSize": 2}
    )
    assert [len(page["AlarmHistoryItems"]) for page in pages] == [2, 1]
    assert not cloudwatch.describe_alarm_history(AlarmName=name, AlarmTypes=["CompositeAlarm"])[
        "AlarmHistoryItems"
    ]
