"""SageMaker's deployment guardrails: blue/green traffic shifting with auto-rollback.

An ``UpdateEndpoint`` whose ``DeploymentConfig.BlueGreenUpdatePolicy`` shifts traffic (as
"Deployment guardrails" in SageMaker's developer guide describes it) starts the new config's
servers (the green fleet) beside the serving ones (blue), then moves each variant's traffic to
green in steps: ``ALL_AT_ONCE`` (all of it), ``CANARY`` (``CanarySize``, then the rest) or
``LINEAR`` (``LinearStepSize`` at a time; sizes are whole instances, as SageMaker turns them
on), waiting ``WaitIntervalInSeconds`` after each step
(the baking period, the last one included) while it watches the ``AutoRollbackConfiguration``
alarms. An alarm in ``ALARM``, or the deployment outlasting ``MaximumExecutionTimeoutInSeconds``,
rolls every request back to blue (the endpoint ``InService`` on the old config, the reason in
``FailureReason``); else green takes over and blue stops after ``TerminationWaitInSeconds``,
once the requests in flight have ended. A ``DeploymentConfig`` with only the rollback alarms
is SageMaker's default: blue/green, all at once, with them watched. While it runs,
``DescribeEndpoint`` shows ``Updating`` and the ``PendingDeploymentSummary``.

SageMaker's rules are checked when the update is asked for: the new config keeps the old one's
variant names, a canary is at most half of a variant's instances, a linear step 10–50 % of them,
and the alarms exist. Each variant's local server stands for all its instances, so a step's
share of instances becomes that share of the variant's requests.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from local_aws.capabilities.model_servers import ModelServer


@dataclass(frozen=True)
class TrafficShift:
    """The steps of one deployment: each variant's green share after each, and the timings.

    SageMaker turns green instances on whole: a step is a number of each variant's instances
    (a percentage rounded up, at least one), and the variant's traffic goes to green in
    proportion to them.
    """

    steps: tuple[dict[str, float], ...]
    wait_seconds: float
    termination_wait_seconds: float
    maximum_seconds: float
    alarms: tuple[str, ...]

    def share(self, variant: str, step: int) -> float:
        return self.steps[step].get(variant, 1.0)


def traffic_shift(deployment_config: dict | None, variants: list[dict]) -> TrafficShift | None:
    """The shift ``deployment_config`` asks for (None: switch at once, no baking)."""
    config = deployment_config or {}
    policy = config.get("BlueGreenUpdatePolicy")
    if not policy and not config.get("AutoRollbackConfiguration"):
        return None
    # Alarms without a policy: SageMaker's default blue/green, all at once.
    policy = policy or {"TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE"}}
    routing = policy["TrafficRoutingConfiguration"]
    kind = routing["Type"]
    counts = {v["VariantName"]: int(v.get("InitialInstanceCount") or 1) for v in variants}
    if kind == "ALL_AT_ONCE":
        steps: tuple[dict[str, float], ...] = ({name: 1.0 for name in counts},)
    else:
        size = routing["CanarySize" if kind == "CANARY" else "LinearStepSize"]
        step = {name: instances(size, count) for name, count in counts.items()}
        if kind == "CANARY":
            steps = ({n: step[n] / counts[n] for n in counts}, {n: 1.0 for n in counts})
        else:
            rounds = max(math.ceil(counts[n] / step[n]) for n in counts)
            steps = tuple(
                {n: min(step[n] * (k + 1) / counts[n], 1.0) for n in counts} for k in range(rounds)
            )
    alarms = config.get("AutoRollbackConfiguration", {}).get("Alarms", [])
    return TrafficShift(
        steps=steps,
        wait_seconds=float(routing.get("WaitIntervalInSeconds", 0)),
        termination_wait_seconds=float(policy.get("TerminationWaitInSeconds", 0)),
        maximum_seconds=float(policy.get("MaximumExecutionTimeoutInSeconds", 3600)),
        alarms=tuple(alarm["AlarmName"] for alarm in alarms),
    )


def instances(size: dict, count: int) -> int:
    """The green instances a canary or linear step turns on, of a variant of ``count``."""
    if size["Type"] == "INSTANCE_COUNT":
        return min(int(size["Value"]), count)
    return max(1, math.ceil(count * size["Value"] / 100))


def problems(
    deployment_config: dict | None, serving: list[dict], new: list[dict], alarm_names: set[str]
) -> list[str]:
    """Why SageMaker would refuse this update's deployment guardrails (empty: it would not)."""
    found = [
        f"The CloudWatch alarm {alarm['AlarmName']} does not exist."
        for alarm in (deployment_config or {})
        .get("AutoRollbackConfiguration", {})
        .get("Alarms", [])
        if alarm["AlarmName"] not in alarm_names
    ]
    policy = (deployment_config or {}).get("BlueGreenUpdatePolicy")
    if not policy:
        return found
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
        for variant in new:
            count = int(variant.get("InitialInstanceCount") or 1)
            share = instances(size, count) / count
            if kind == "CANARY" and share > 0.5:
                found.append(
                    f"{key} must be at most 50 % of variant {variant['VariantName']}'s capacity: "
                    f"{instances(size, count)} of its {count} instances is more."
                )
            if kind == "LINEAR" and not 0.1 <= share <= 0.5:
                found.append(
                    f"{key} must be 10 to 50 % of variant {variant['VariantName']}'s capacity: "
                    f"{instances(size, count)} of its {count} instances is not."
                )
    return found


@dataclass
class SplitVariant:
    """One variant during a shift: each request goes to green with ``share``, else to blue."""

    blue: ModelServer
    green: ModelServer
    share: float = 0.0

    def choose(self) -> ModelServer:
        return self.green if random.random() < self.share else self.blue

    @property
    def container(self):
        return self.green.container

    def stop(self) -> None:
        self.blue.stop()
        self.green.stop()
