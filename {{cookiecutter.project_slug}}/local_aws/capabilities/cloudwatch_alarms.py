"""CloudWatch metric alarms that are evaluated, as on AWS.

moto stores alarms and never evaluates them (a new alarm even starts ``OK``). Here an alarm
starts ``INSUFFICIENT_DATA`` and is evaluated every ``EVALUATION_SECONDS`` on the datapoints'
own timestamps, as CloudWatch does:

- the last ``EvaluationPeriods`` periods of ``Period`` seconds that ended ``DELAY_SECONDS``
  (12) ago or earlier (10 or 30 for
  high-resolution metrics, else a multiple of 60) each reduce their datapoints with
  ``Statistic`` (``SampleCount``, ``Average``, ``Sum``, ``Minimum``, ``Maximum``);
- the alarm goes to ``ALARM`` when at least ``DatapointsToAlarm`` of them (default: all) breach
  ``Threshold`` by ``ComparisonOperator``, else to ``OK``; periods without data count as
  ``TreatMissingData`` says (``missing``, the default: left out, and no data at all is
  ``INSUFFICIENT_DATA``; ``breaching``; ``notBreaching``; ``ignore``: the state stays);
- a change of state records AWS's ``StateReason`` and ``StateReasonData``, notifies the SNS
  topics of the new state's actions (``AlarmActions``, ``OKActions``,
  ``InsufficientDataActions``) with CloudWatch's alarm message, and puts a
  ``CloudWatch Alarm State Change`` event on the account's default EventBridge bus;
- ``DescribeAlarmHistory`` (which moto lacks) lists each alarm's state changes, newest first,
  with AWS's ``HistorySummary`` ("Alarm updated from OK to ALARM") and ``HistoryData``, by pages
  of ``MaxRecords`` (``NextToken``); metric alarms only unless ``AlarmTypes`` says otherwise.
  Configuration changes and actions are not listed, and a deleted alarm's history goes with it.

Refused, as not emulated: metric-math alarms (``Metrics``), percentile statistics
(``ExtendedStatistic``) and anomaly-detection comparisons. Composite alarms are stored only.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import UTC, datetime, timedelta

from moto.backends import get_backend
from moto.cloudwatch.exceptions import ValidationError
from moto.cloudwatch.models import CloudWatchBackend, Statistics
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult

from local_aws.capability import Capability, Context, patch

log = logging.getLogger(__name__)

EVALUATION_SECONDS = float(os.environ.get("LOCAL_AWS_ALARM_EVALUATION_SECONDS", "2"))
#: A period is evaluated this long after it ends, so that datapoints written in batches (the
#: endpoint metrics, every 10 s) are in: CloudWatch, too, evaluates with a delay.
DELAY_SECONDS = float(os.environ.get("LOCAL_AWS_ALARM_DELAY_SECONDS", "12"))
NOT_EMULATED = "is not emulated by the local AWS"
_COMPARISONS = {
    "GreaterThanOrEqualToThreshold": (
        lambda value, limit: value >= limit,
        "greater than or equal to",
    ),
    "GreaterThanThreshold": (lambda value, limit: value > limit, "greater than"),
    "LessThanThreshold": (lambda value, limit: value < limit, "less than"),
    "LessThanOrEqualToThreshold": (lambda value, limit: value <= limit, "less than or equal to"),
}
_ACTIONS = {
    "ALARM": "alarm_actions",
    "OK": "ok_actions",
    "INSUFFICIENT_DATA": "insufficient_data_actions",
}


def _checked_put(original):
    def put_metric_alarm(self: CloudWatchBackend, name: str, *args, **kwargs):
        request = kwargs
        problems = []
        if request.get("metric_data_queries"):
            problems.append(f"a metric-math alarm (Metrics) {NOT_EMULATED}")
        if request.get("extended_statistic"):
            problems.append(f"ExtendedStatistic {NOT_EMULATED}")
        if request.get("comparison_operator") not in _COMPARISONS and not request.get("rule"):
            problems.append(
                f"ComparisonOperator {request.get('comparison_operator')} {NOT_EMULATED}"
            )
        period = int(request.get("period") or 0)
        if period and period not in (10, 30) and period % 60:
            problems.append(
                f"The period {period} is not valid: use 10 or 30 (high-resolution metrics) or a "
                "multiple of 60"
            )
        if problems and not request.get("rule"):
            raise ValidationError("; ".join(problems))
        before = self.alarms.get(name)
        alarm = original(self, name, *args, **kwargs)
        if request.get("rule"):
            return alarm
        if before is None:
            alarm.state_value = "INSUFFICIENT_DATA"
            alarm.state_reason = "Unchecked: Initial alarm creation"
        else:  # putting an alarm again changes its configuration, not its state
            for attribute in ("state_value", "state_reason", "state_reason_data"):
                setattr(alarm, attribute, getattr(before, attribute))
            alarm.state_updated_timestamp = before.state_updated_timestamp
            alarm.history = before.history
        return alarm

    return put_metric_alarm


def evaluate(alarm, metric_data: list, now: datetime) -> tuple[str, str, dict] | None:
    """The state the alarm should be in now, with its reason; None to leave it as it is.

    ``metric_data`` is the alarm's backend's datapoints (a snapshot of them).
    """
    period = timedelta(seconds=alarm.period)
    settled = now.timestamp() - DELAY_SECONDS
    end = datetime.fromtimestamp(settled // alarm.period * alarm.period, UTC)
    start = end - period * alarm.evaluation_periods
    wanted = {(d.name, d.value) for d in alarm.dimensions}
    data = [
        datum
        for datum in metric_data
        if datum.namespace == alarm.namespace
        and datum.name == alarm.metric_name
        and {(d.name, d.value) for d in datum.dimensions} == wanted
        and start <= _utc(datum.timestamp) < end
    ]
    values: list[tuple[datetime, float | None]] = []
    for index in range(alarm.evaluation_periods):
        begins = start + period * index
        statistics = Statistics([alarm.statistic], begins)
        statistics.metric_data = [d for d in data if begins <= _utc(d.timestamp) < begins + period]
        value = (
            statistics.get_statistics_for_type(alarm.statistic) if statistics.metric_data else None
        )
        values.append((begins, None if value is None else float(value)))

    compare, words = _COMPARISONS[alarm.comparison_operator]
    treat = alarm.treat_missing_data or "missing"
    needed = alarm.datapoints_to_alarm or alarm.evaluation_periods
    present = [(when, value) for when, value in values if value is not None]
    if not present and treat in ("missing", "ignore"):
        if treat == "ignore":
            return None
        return (
            "INSUFFICIENT_DATA",
            (
                f"Insufficient Data: {alarm.evaluation_periods} datapoint"
                f"{'s were' if alarm.evaluation_periods != 1 else ' was'} unknown."
            ),
            _reason_data(alarm, now, start, []),
        )
    breaching = sum(1 for _, value in present if compare(value, alarm.threshold))
    if treat == "breaching":
        breaching += len(values) - len(present)
    state = "ALARM" if breaching >= needed else "OK"
    recent = sorted(present, key=lambda item: item[0], reverse=True)
    shown = ", ".join(f"{value} ({when:%d/%m/%y %H:%M:%S})" for when, value in recent)
    count = breaching if state == "ALARM" else len(present) - breaching
    verb = words if state == "ALARM" else f"not {words}"
    reason = (
        f"Threshold Crossed: {count} out of the last {len(values)} datapoints [{shown}] "
        f"{'was' if count == 1 else 'were'} {verb} the threshold ({alarm.threshold}) "
        f"(minimum {needed} datapoint{'s' if needed != 1 else ''} for "
        f"{'OK -> ALARM' if state == 'ALARM' else 'ALARM -> OK'} transition)."
    )
    return state, reason, _reason_data(alarm, now, start, recent)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _reason_data(alarm, now: datetime, start: datetime, recent) -> dict:
    return {
        "version": "1.0",
        "queryDate": now.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        "startDate": start.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        "statistic": alarm.statistic,
        "period": alarm.period,
        "recentDatapoints": [value for _, value in recent],
        "threshold": alarm.threshold,
        "evaluatedDatapoints": [
            {"timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.000+0000"), "value": value}
            for when, value in recent
        ],
    }


def _notify(context: Context, account: str, region: str, alarm, old_state: str) -> None:
    """The SNS topics of the new state's actions, and EventBridge's default bus."""
    when = alarm.state_updated_timestamp
    message = {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description,
        "AWSAccountId": account,
        "AlarmConfigurationUpdatedTimestamp": alarm.configuration_updated_timestamp.isoformat(),
        "NewStateValue": alarm.state_value,
        "NewStateReason": alarm.state_reason,
        "StateChangeTime": when.isoformat(),
        "Region": region,
        "AlarmArn": alarm.alarm_arn,
        "OldStateValue": old_state,
        "Trigger": {
            "MetricName": alarm.metric_name,
            "Namespace": alarm.namespace,
            "StatisticType": "Statistic",
            "Statistic": alarm.statistic.upper(),
            "Unit": alarm.unit,
            "Dimensions": [{"value": d.value, "name": d.name} for d in alarm.dimensions],
            "Period": alarm.period,
            "EvaluationPeriods": alarm.evaluation_periods,
            "DatapointsToAlarm": alarm.datapoints_to_alarm or alarm.evaluation_periods,
            "ComparisonOperator": alarm.comparison_operator,
            "Threshold": alarm.threshold,
            "TreatMissingData": alarm.treat_missing_data or "missing",
        },
    }
    if alarm.actions_enabled:
        for arn in getattr(alarm, _ACTIONS[alarm.state_value]) or []:
            parts = arn.split(":")
            if len(parts) < 6 or parts[2] != "sns":
                log.info("alarm %s: action %s is not an SNS topic; not emulated", alarm.name, arn)
                continue
            sns = get_backend("sns")[parts[4]][parts[3]]
            try:
                sns.publish(
                    message=json.dumps(message),
                    arn=arn,
                    subject=f'{alarm.state_value}: "{alarm.name}" in {region}'[:100],
                )
            except Exception as error:  # a deleted topic: CloudWatch carries on
                log.warning("alarm %s: could not notify %s: %s", alarm.name, arn, error)
    detail = {
        "alarmName": alarm.name,
        "state": {
            "value": alarm.state_value,
            "reason": alarm.state_reason,
            "reasonData": alarm.state_reason_data,
            "timestamp": when.isoformat(),
        },
        "previousState": {"value": old_state},
        "configuration": {
            "metrics": [
                {
                    "metricStat": {
                        "metric": {
                            "namespace": alarm.namespace,
                            "name": alarm.metric_name,
                            "dimensions": {d.name: d.value for d in alarm.dimensions},
                        },
                        "period": alarm.period,
                        "stat": alarm.statistic,
                    },
                    "returnData": True,
                }
            ]
        },
    }
    try:
        get_backend("events")[account][region].put_events(
            [
                {
                    "Source": "aws.cloudwatch",
                    "DetailType": "CloudWatch Alarm State Change",
                    "Detail": json.dumps(detail),
                    "Resources": [alarm.alarm_arn],
                }
            ]
        )
    except Exception as error:  # no bus or rule to deliver to is not the alarm's failure
        log.warning("alarm %s: state change event not delivered: %s", alarm.name, error)


class Evaluator:
    """Evaluates every account's and region's alarms in the background."""

    def __init__(self, context: Context):
        self.context = context
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alarm-evaluation", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(EVALUATION_SECONDS):
            try:
                self.evaluate_all()
            except Exception:  # an alarm that cannot be evaluated must not stop the others
                log.exception("alarm evaluation failed")

    def evaluate_all(self) -> None:
        now = datetime.now(UTC)
        changed = False
        with self.context.lock:
            for account, region, backend in get_backend("cloudwatch").iter_backends():
                alarms = [a for a in backend.alarms.values() if a.metric_name and not a.rule]
                if not alarms:
                    continue
                namespaces = {alarm.namespace for alarm in alarms}
                # the datapoints put (not moto's synthetic S3 metrics), once per pass
                datapoints = [d for d in backend.metric_data if d.namespace in namespaces]
                for alarm in alarms:
                    result = evaluate(alarm, datapoints, now)
                    if result is None or result[0] == alarm.state_value:
                        continue
                    state, reason, data = result
                    old_state = alarm.state_value
                    alarm.update_state(reason, json.dumps(data), state)
                    _notify(self.context, account, region, alarm, old_state)
                    changed = True
            if changed:
                self.context.store.save(["cloudwatch", "sns", "events"])

    def stop(self) -> None:
        self._stop.set()


def state_changes(alarm) -> list[dict]:
    """The alarm's state changes, oldest first, as DescribeAlarmHistory lists them.

    moto keeps, at each change, the state the alarm left and when it had entered it; the state
    it entered is the next one kept (or the current one)."""
    left = [entry for entry in alarm.history if entry[0] == "StateUpdate"]
    entered = [(e[1], e[2], e[3], e[4]) for e in left[1:]] + [
        (
            alarm.state_reason,
            alarm.state_reason_data,
            alarm.state_value,
            alarm.state_updated_timestamp,
        )
    ]
    changes = []
    for (_, old_reason, _, old_value, _), (reason, reason_data, value, moment) in zip(
        left, entered, strict=True
    ):
        data = {
            "version": "1.0",
            "oldState": {"stateValue": old_value, "stateReason": old_reason},
            "newState": {
                "stateValue": value,
                "stateReason": reason,
                "stateReasonData": json.loads(reason_data or "{}"),
            },
        }
        changes.append(
            {
                "AlarmName": alarm.name,
                "AlarmType": "CompositeAlarm" if alarm.rule else "MetricAlarm",
                "Timestamp": moment,
                "HistoryItemType": "StateUpdate",
                "HistorySummary": f"Alarm updated from {old_value} to {value}",
                "HistoryData": json.dumps(data),
            }
        )
    return changes


def _moment(value) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return _utc(value) if value else None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return _utc(datetime.fromisoformat(str(value).replace("Z", "+00:00")))


def _describe_alarm_history(_):
    def describe_alarm_history(self: CloudWatchResponse) -> ActionResult:
        name = self._get_param("AlarmName")
        kinds = self._get_param("AlarmTypes") or ["MetricAlarm"]  # AWS's default
        item_type = self._get_param("HistoryItemType")
        start, end = _moment(self._get_param("StartDate")), _moment(self._get_param("EndDate"))
        limit = int(self._get_param("MaxRecords") or 100)
        if not 1 <= limit <= 100:
            raise ValidationError("MaxRecords must be from 1 to 100")
        items = [
            item
            for alarm in self.cloudwatch_backend.alarms.values()
            if name is None or alarm.name == name
            for item in state_changes(alarm)
            if item["AlarmType"] in kinds
            and item_type in (None, "StateUpdate")
            and (start is None or _utc(item["Timestamp"]) >= start)
            and (end is None or _utc(item["Timestamp"]) <= end)
        ]
        oldest_first = self._get_param("ScanBy") == "TimestampAscending"
        items.sort(key=lambda item: _utc(item["Timestamp"]), reverse=not oldest_first)
        token = self._get_param("NextToken")
        start = int(token) if token and token.isdigit() else 0
        result = {"AlarmHistoryItems": items[start : start + limit]}
        if start + limit < len(items):
            result["NextToken"] = str(start + limit)
        return ActionResult(result)

    return describe_alarm_history


def install(context: Context) -> None:
    patch(CloudWatchBackend, "put_metric_alarm", _checked_put)
    patch(CloudWatchResponse, "describe_alarm_history", _describe_alarm_history)
    context.shared["alarm evaluator"] = Evaluator(context)


def recover(context: Context) -> list[str]:
    context.shared["alarm evaluator"].start()
    return [f"evaluating alarms every {EVALUATION_SECONDS:g} s"]


def stop(context: Context) -> None:
    context.shared["alarm evaluator"].stop()


CAPABILITY = Capability(
    name="CloudWatch alarms",
    requires=("AWS services",),
    side_effects={"cloudwatch": ("sns", "sqs", "events")},
    install=install,
    recover=recover,
    stop=stop,
)
