"""SageMaker's deployment guardrails: blue/green traffic shifting with auto-rollback.

An ``UpdateEndpoint`` whose ``DeploymentConfig.BlueGreenUpdatePolicy`` shifts traffic (as
"Deployment guardrails" in SageMaker's developer guide describes it) starts the new config's
servers (the green fleet) beside the serving ones (blue), then moves each variant's traffic to
green in steps: ``ALL_AT_ONCE`` (all of it), ``CANARY`` (``CanarySize``, then the rest) or
``LINEAR`` (``LinearStepSize`` at a time), waiting ``WaitIntervalInSeconds`` after each step
(the baking period, the last one included) while it watches the ``AutoRollbackConfiguration``
alarms. An alarm in ``ALARM``, or the deployment outlasting ``MaximumExecutionTimeoutInSeconds``,
rolls every request back to blue (``RollingBack``, then ``InService`` on the old config, the
reason in ``FailureReason``); else green takes over and blue stops after
``TerminationWaitInSeconds``. While it runs, ``DescribeEndpoint`` shows ``Updating`` and the
``PendingDeploymentSummary``.

SageMaker's rules are checked when the update is asked for: the new config keeps the old one's
variant names, a canary is at most half of a variant's capacity, a linear step 10–50 % of it,
and the alarms exist. A request goes to green with the step's share of the variant's traffic;
a variant's capacity is its server, so shares are of requests, not of instances.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass, field

from local_aws.capabilities.model_servers import ModelServer


@dataclass(frozen=True)
class TrafficShift:
    """The steps of one deployment: green's share of the traffic after each, and the timings."""

    shares: tuple[float, ...]
    wait_seconds: float
    termination_wait_seconds: float
    maximum_seconds: float
    alarms: tuple[str, ...]


def traffic_shift(deployment_config: dict | None, variants: list[dict]) -> TrafficShift | None:
    """The shift ``deployment_config`` asks for (None: switch at once, no baking)."""
    policy = (deployment_config or {}).get("BlueGreenUpdatePolicy")
    if not policy:
        return None
    routing = policy["TrafficRoutingConfiguration"]
    kind = routing["Type"]
    if kind == "ALL_AT_ONCE":
        shares: tuple[float, ...] = (1.0,)
    else:
        size = routing["CanarySize" if kind == "CANARY" else "LinearStepSize"]
        step = _fraction(size, variants)
        shares = (step, 1.0) if kind == "CANARY" else _linear(step)
    alarms = (deployment_config or {}).get("AutoRollbackConfiguration", {}).get("Alarms", [])
    return TrafficShift(
        shares=shares,
        wait_seconds=float(routing.get("WaitIntervalInSeconds", 0)),
        termination_wait_seconds=float(policy.get("TerminationWaitInSeconds", 0)),
        maximum_seconds=float(policy.get("MaximumExecutionTimeoutInSeconds", 3600)),
        alarms=tuple(alarm["AlarmName"] for alarm in alarms),
    )


def _fraction(size: dict, variants: list[dict]) -> float:
    if size["Type"] == "CAPACITY_PERCENT":
        return size["Value"] / 100
    smallest = min(int(v.get("InitialInstanceCount") or 1) for v in variants)
    return min(size["Value"] / smallest, 1.0)


def _linear(step: float) -> tuple[float, ...]:
    count = math.ceil(1 / step - 1e-9)
    return tuple(min(step * (n + 1), 1.0) for n in range(count))


def problems(
    deployment_config: dict | None, serving: list[dict], new: list[dict], alarm_names: set[str]
) -> list[str]:
    """Why SageMaker would refuse this update's deployment guardrails (empty: it would not)."""
    policy = (deployment_config or {}).get("BlueGreenUpdatePolicy")
    if not policy:
        return []
    found = []
    old_names = sorted(v["VariantName"] for v in serving)
    new_names = sorted(v["VariantName"] for v in new)
    if old_names != new_names:
        found.append(
            "A blue/green deployment needs the new endpoint configuration to have the same "
            f"variant names as the old one ({', '.join(old_names)}), not {', '.join(new_names)}."
        )
    routing = policy["TrafficRoutingConfiguration"]
    kind = routing["Type"]
    if kind != "ALL_AT_ONCE" and any("ServerlessConfig" in v for v in new):
        found.append(f"{kind} traffic shifting is not supported for serverless variants.")
    key = {"CANARY": "CanarySize", "LINEAR": "LinearStepSize"}.get(kind)
    if key and key not in routing:
        found.append(f"{key} is required for {kind} traffic routing.")
    elif key:
        size = routing[key]
        low, high, words = (0.0, 0.5, "at most 50") if kind == "CANARY" else (0.1, 0.5, "10 to 50")
        for variant in new:
            count = int(variant.get("InitialInstanceCount") or 1)
            share = size["Value"] / (100 if size["Type"] == "CAPACITY_PERCENT" else count)
            if not (low - 1e-9 <= share <= high + 1e-9 and share > 0):
                found.append(
                    f"{key} must be {words} % of variant {variant['VariantName']}'s capacity "
                    f"({count} instances), not {size['Value']} {size['Type']}."
                )
    for alarm in (deployment_config or {}).get("AutoRollbackConfiguration", {}).get("Alarms", []):
        if alarm["AlarmName"] not in alarm_names:
            found.append(f"The CloudWatch alarm {alarm['AlarmName']} does not exist.")
    return found


@dataclass
class SplitVariant:
    """One variant during a shift: each request goes to green with ``share``, else to blue."""

    blue: ModelServer
    green: ModelServer
    share: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def choose(self) -> ModelServer:
        return self.green if random.random() < self.share else self.blue

    @property
    def container(self):
        return self.green.container

    def stop(self) -> None:
        self.blue.stop()
        self.green.stop()
