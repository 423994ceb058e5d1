"""Promotion proposals: the pull requests that move approved versions through the pins.

Approving a version changes nothing that runs; what runs is what ``ci/environments/*.toml``
pins, and pins change by pull request. This module opens those pull requests:

- **staging**: the newest ``Approved`` version of the group, when staging's ``primary``
  variant pins an older one (or none);
- **prod**: the version staging pins, once staging has served exactly its pin, ``InService``,
  for ``[promotion] staging_soak_hours`` with none of its rollback alarms in ``ALARM``;
- **revert**: a pinned version since ``Rejected`` (and nothing to move forward to) is replaced by
  the version the environment's pin named before it (its git history), if that is ``Approved``.

Each proposal is named by its head branch (``promote/<env>/<group>-v<N>``,
``revert/<env>/<group>-v<N>``): a pull request from that branch, open, closed or merged, means
it was proposed, so one approval makes one proposal however many events or runs see it. A run
stopped halfway (branch made, no pull request yet) is finished by the next. An environment gets
one proposal at a time: a new one closes the older ones still open.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .config import ConfigError, PipelineConfig
from .github import GitHub
from .pins import PINS_FOLDER, Pin, parse_pin

#: The variant proposals move; others (an A/B ``candidate``) are changed by hand.
PRIMARY = "primary"
ENVIRONMENTS = ("staging", "prod")


@dataclass(frozen=True)
class Proposal:
    environment: str
    branch: str
    title: str
    body: str
    #: The pin file's path in the repository and its proposed text.
    path: str
    text: str


@dataclass(frozen=True)
class PinnedFile:
    path: str
    text: str
    pin: Pin

    @property
    def version(self) -> int | None:
        primary = self.pin.variant(PRIMARY)
        return primary.version if primary else None


def read_pins(github: GitHub, base: str) -> dict[str, PinnedFile]:
    """Staging's and prod's pin files as the base branch holds them."""
    pinned = {}
    for environment in ENVIRONMENTS:
        path = (PINS_FOLDER / f"{environment}.toml").as_posix()
        found = github.file(path, base)
        if found is None:
            raise ConfigError(f"{github.repository} has no {path} on {base}")
        text = found[0]
        pinned[environment] = PinnedFile(path, text, parse_pin(text, environment, Path(path)))
    return pinned


def registry_versions(sagemaker, group: str) -> dict[int, dict]:
    """Every version of the group: number → its ``ListModelPackages`` summary."""
    versions = {}
    paginator = sagemaker.get_paginator("list_model_packages")
    for page in paginator.paginate(ModelPackageGroupName=group, ModelPackageType="Versioned"):
        for summary in page["ModelPackageSummaryList"]:
            versions[summary["ModelPackageVersion"]] = summary
    return versions


def with_primary(
    text: str,
    package_arn: str,
    instance_type: str,
    instance_count: int = 1,
    model_sha256: str | None = None,
) -> str:
    """The pin file's text with its ``primary`` variant serving ``package_arn`` (and, when
    given, pinning its model's ``model_sha256``).

    Only those lines change, so comments and the rest of the file stay as they are; a pin with
    no variants gets a ``primary`` one on ``instance_count`` ``instance_type``.
    """
    digest = f'model_sha256 = "{model_sha256}"\n' if model_sha256 else ""
    blocks = re.split(r"(?m)^(?=\[\[\s*variants\s*\]\]\s*(?:#.*)?$)", text)
    for number, block in enumerate(blocks[1:], start=1):
        if re.search(rf"""(?m)^name\s*=\s*["']{PRIMARY}["']\s*(?:#.*)?$""", block):
            block = re.sub(r"(?m)^model_sha256\s*=.*(?:\n|$)", "", block)
            blocks[number], replaced = re.subn(
                r"(?m)^package\s*=.*(?:\n|$)",
                lambda _: f'package = "{package_arn}"\n{digest}',
                block,
                count=1,
            )
            if not replaced:
                raise ConfigError(f"the {PRIMARY} variant has no package line to change")
            return "".join(blocks)
    if len(blocks) > 1:
        raise ConfigError(
            f"the pin has variants but none named {PRIMARY!r}: proposals move the {PRIMARY} "
            "variant, so change this pin by hand"
        )
    return (
        text.rstrip("\n")
        + f'\n\n[[variants]]\nname = "{PRIMARY}"\npackage = "{package_arn}"\n{digest}'
        + "weight = 1.0\n"
        + f'instance_type = "{instance_type}"\ninstance_count = {instance_count}\n'
    )


def soaked(sagemaker, cloudwatch, pin: Pin, hours: float, now: datetime) -> tuple[bool, str]:
    """Whether the environment has served exactly its pin, InService, for ``hours`` with none
    of its rollback alarms in ALARM (now or at any time since); and why not."""
    from botocore.exceptions import ClientError

    try:
        endpoint = sagemaker.describe_endpoint(EndpointName=pin.endpoint)
    except ClientError as error:
        if error.response["Error"]["Code"] == "ValidationException":
            return False, f"{pin.endpoint} does not exist yet"
        raise
    if endpoint["EndpointStatus"] != "InService":
        return False, f"{pin.endpoint} is {endpoint['EndpointStatus']}"
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    serving = {v["VariantName"]: v["ModelName"] for v in config["ProductionVariants"]}
    if serving != {v.name: pin.model_name(v) for v in pin.variants}:
        return False, f"{pin.endpoint} does not serve its pin (not applied yet, or rolled back)"
    # the last change to the endpoint (an update, or its weights and capacity) starts the soak
    since = endpoint["LastModifiedTime"]
    served = now - since
    if served < timedelta(hours=hours):
        return False, (
            f"{pin.endpoint} has served its pin for {served.total_seconds() / 3600:.1f} h "
            f"of the {hours:g} h soak"
        )
    names = pin.deployment.rollback_alarms
    served_for = f"{pin.endpoint} has served its pin for {served.total_seconds() / 3600:.1f} h"
    if not names:
        return True, f"{served_for} (no rollback alarms in its pin: a soak of time alone)"
    found = cloudwatch.describe_alarms(
        AlarmNames=names, AlarmTypes=["MetricAlarm", "CompositeAlarm"]
    )
    alarms = found["MetricAlarms"] + found["CompositeAlarms"]
    missing = sorted(set(names) - {alarm["AlarmName"] for alarm in alarms})
    if missing:
        return False, f"the rollback alarms {', '.join(missing)} do not exist: create them"
    for alarm in alarms:
        if alarm["StateValue"] == "ALARM":
            return False, f"the alarm {alarm['AlarmName']} is in ALARM"
        fired = next(
            (
                item["Timestamp"]
                for page in cloudwatch.get_paginator("describe_alarm_history").paginate(
                    AlarmName=alarm["AlarmName"],
                    AlarmTypes=["MetricAlarm", "CompositeAlarm"],
                    HistoryItemType="StateUpdate",
                    StartDate=since,
                    EndDate=now,
                )
                for item in page["AlarmHistoryItems"]
                if json.loads(item["HistoryData"])["newState"]["stateValue"] == "ALARM"
            ),
            None,
        )
        if fired:
            return False, f"the alarm {alarm['AlarmName']} went into ALARM at {fired} in the soak"
    return True, f"{served_for}, none of {', '.join(names)} in ALARM"


def decide(
    config: PipelineConfig,
    versions: dict[int, dict],
    pins: dict[str, PinnedFile],
    staging_soak,
    log,
    describe=lambda arn: {},
    history=lambda environment: [],
) -> list[Proposal]:
    """The proposals the registry's versions and the pins call for, one an environment at most.

    ``staging_soak()`` says whether staging has soaked (asked only when prod could move);
    ``describe(arn)`` is ``DescribeModelPackage`` (the model's digest each proposal pins);
    ``history(environment)`` the primary versions the environment's pin named before, newest
    first (asked only for a revert)."""
    settings = config.promotion
    group = config.registry.model_package_group.lower()  # as SageMaker writes it in ARNs
    approved = sorted(n for n, v in versions.items() if v["ModelApprovalStatus"] == "Approved")

    def status(version: int) -> str:
        return versions[version]["ModelApprovalStatus"] if version in versions else "unknown"

    def ours(environment: str) -> bool:
        source = config.environment(pins[environment].pin.source_environment)
        foreign = [
            v.name
            for v in pins[environment].pin.variants
            if (v.group.lower(), v.account, v.region) != (group, source.account_id, source.region)
        ]
        if foreign:
            log(
                f"{environment}'s pin has variants ({', '.join(foreign)}) of another group, "
                f"account or region than {group} in {source.name}: proposals leave it alone, "
                "change it by hand"
            )
        return not foreign

    def proposal(environment: str, kind: str, old: int | None, new: int, why: str) -> Proposal:
        pinned = pins[environment]
        arn = versions[new]["ModelPackageArn"]
        # canary and linear shifts move part of a variant's instances: at least two
        count = 1 if pinned.pin.deployment.strategy == "all_at_once" else 2
        shaped = pins["staging"].pin.variant(PRIMARY)  # prod's first variant: staging's shape
        instance_type = (shaped and shaped.instance_type) or settings.instance_type
        recorded = describe(arn).get("CustomerMetadataProperties", {})
        digest = recorded.get("model_artifact_sha256")
        text = with_primary(pinned.text, arn, instance_type, count, digest)
        parse_pin(text, environment, Path(pinned.path))  # refuse to propose a pin CI would
        verb = "Promote" if kind == "promote" else "Revert"
        change = f"v{old} → v{new}" if old else f"v{new}"
        name = f"{group}-v{old if kind == 'revert' else new}"
        return Proposal(
            environment=environment,
            branch=f"{kind}/{environment}/{name}",
            title=f"{verb} {config.slug} {environment}: {change}",
            body=(
                f"{why}\n\n`{pinned.path}`: the `{PRIMARY}` variant serves `{arn}`.\n\n"
                f"`python -m ci.promote plan --env {environment}` checks it on this pull "
                "request; merging applies it. Proposed by the promotion DAG."
            ),
            path=pinned.path,
            text=text,
        )

    def quoted(text: str) -> str:
        return "\n".join(f"> {line}" for line in text.splitlines()) if text else ""

    proposals = {}
    mine = {environment: ours(environment) for environment in ENVIRONMENTS}
    staging = pins["staging"].version if mine["staging"] else None
    prod = pins["prod"].version if mine["prod"] else None
    newest = approved[-1] if approved else None
    if mine["staging"] and newest and (staging is None or newest > staging):
        description = quoted(versions[newest].get("ModelPackageDescription", ""))
        why = f"v{newest} was approved.\n\n{description}".rstrip()
        proposals["staging"] = proposal("staging", "promote", staging, newest, why)
    if staging and status(staging) == "Approved" and (prod is None or staging > prod):
        ready, why = staging_soak()
        if ready:
            proposals["prod"] = proposal("prod", "promote", prod, staging, f"Staging: {why}.")
        else:
            log(f"prod waits for staging's v{staging}: {why}")
    for environment, pinned in (("staging", staging), ("prod", prod)):
        if pinned is None or status(pinned) != "Rejected" or environment in proposals:
            continue  # a forward proposal replaces a rejected version too
        before = [n for n in history(environment) if n != pinned and status(n) == "Approved"]
        if not before:
            log(
                f"{environment} pins v{pinned}, now Rejected, and its pin named no Approved "
                "version before: nothing to revert to (docs/runbooks.md, break-glass)"
            )
            continue
        proposals[environment] = proposal(
            environment,
            "revert",
            pinned,
            before[0],
            f"v{pinned} was rejected after it was pinned: back to v{before[0]}, the version "
            f"{environment} served before it.",
        )
    return list(proposals.values())


def submit(github: GitHub, base: str, proposal: Proposal, log) -> str | None:
    """Open ``proposal``'s pull request unless its branch already has one; its URL. Older
    open proposals for the same environment are closed: this one supersedes them."""
    existing = github.pull_requests(proposal.branch)
    if existing:
        first = existing[0]
        log(f"{proposal.branch}: already proposed ({first['html_url']}, {_state(first)})")
        return None
    base_head = github.branch_head(base)
    if github.branch_head(proposal.branch) is None:
        github.create_branch(proposal.branch, base_head)
    else:  # left by a run that stopped before its pull request: start again from the base
        github.reset_branch(proposal.branch, base_head)
    text, blob = github.file(proposal.path, proposal.branch)
    if text != proposal.text:
        github.commit_file(proposal.path, proposal.text, blob, proposal.branch, proposal.title)
    pull = github.open_pull_request(proposal.branch, base, proposal.title, proposal.body)
    log(f"{proposal.branch}: proposed {pull['html_url']}")
    for older in github.open_pull_requests(base):
        branch = older["head"]["ref"]
        if branch != proposal.branch and branch.split("/")[:2] in (
            ["promote", proposal.environment],
            ["revert", proposal.environment],
        ):
            github.close_pull_request(
                older["number"], f"{older.get('body') or ''}\n\nSuperseded by {pull['html_url']}."
            )
            log(f"{branch}: closed, superseded by {pull['html_url']}")
    return pull["html_url"]


def pinned_versions(github: GitHub, path: str, base: str, environment: str) -> list[int]:
    """The primary versions ``path`` pinned, newest first, from its history on ``base``."""
    versions = []
    for text in github.file_history(path, base):
        try:
            primary = parse_pin(text, environment, Path(path)).variant(PRIMARY)
        except ConfigError:
            continue  # a commit CI refused to apply pinned nothing
        if primary and (not versions or versions[-1] != primary.version):
            versions.append(primary.version)
    return versions


def propose(config: PipelineConfig, registry, watch, github: GitHub, log, now=None) -> list[str]:
    """Open the pull requests that are due; their URLs.

    ``registry`` is the dev account's SageMaker client; ``watch`` staging's SageMaker and
    CloudWatch clients, for the soak.
    """
    now = now or datetime.now(UTC)
    base = github.default_branch()
    pins = read_pins(github, base)
    versions = registry_versions(registry, config.registry.model_package_group)
    hours = config.promotion.staging_soak_hours

    def staging_soak():
        return soaked(*watch, pins["staging"].pin, hours, now)

    def describe(arn: str) -> dict:
        return registry.describe_model_package(ModelPackageName=arn)

    def history(environment: str) -> list[int]:
        return pinned_versions(github, pins[environment].path, base, environment)

    opened = []
    for proposal in decide(config, versions, pins, staging_soak, log, describe, history):
        url = submit(github, base, proposal, log)
        if url:
            opened.append(url)
    if not opened:
        log("nothing new to propose")
    return opened


def _state(pull: dict) -> str:
    return "merged" if pull.get("merged_at") else pull["state"]
