"""Promotion of approved model versions across accounts, by pull request.

    python -m ci.promote approve --version N --reason "..."   a reviewer approves a dev version
    python -m ci.promote plan --env staging [--comment FILE]  check the pin, list the changes
    python -m ci.promote apply --env staging                  make the account match the pin
    python -m ci.promote role --env staging --purpose deploy  the role a workflow signs in as
    python -m ci.promote propose                              open the pull requests that are due

``plan`` runs on every pull request that touches ``ci/environments/`` (its output becomes the
pull request's comment); ``apply`` on the merge. Both read the pinned versions in the source
registry (``source_environment``, dev by default) through its read-only role, and ``plan``
reads the target through its plan role, ``apply`` changes it through its deploy role.
``propose`` is what the promotion DAG runs (``GITHUB_TOKEN`` and, for GitHub Enterprise,
``GITHUB_API_URL`` name the API). Any refusal exits non-zero with the reason and what to do.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from {{ cookiecutter.package_name }}_pipeline import proposals
from {{ cookiecutter.package_name }}_pipeline.config import ConfigError, PipelineConfig
from {{ cookiecutter.package_name }}_pipeline.github import GitHub, GitHubError
from {{ cookiecutter.package_name }}_pipeline.pins import PINS_FOLDER, Pin, load_pin

from . import endpoints, packages
from .accounts import ROLE_SETTINGS, PromotionError, assume, caller_session

#: Seconds apply waits for the endpoint beyond the pin's deployment timeout.
WAIT_MARGIN_SECONDS = 900


#: The repository's pipeline.toml (ci/promote/ is two folders below it) and pin files.
CONFIG_FILE = Path(__file__).resolve().parents[2] / "pipeline.toml"
PINS_DIR = CONFIG_FILE.parent / PINS_FOLDER


def load(environment: str, pins_dir: Path, config_path: Path) -> tuple[PipelineConfig, Pin]:
    config = PipelineConfig.load(config_path, environment=environment)
    return config, load_pin(environment, pins_dir)


def source_environment(config: PipelineConfig, pin: Pin):
    source = config.environment(pin.source_environment)
    destination = pin.capture.destination
    bucket = config.environment(pin.environment).bucket
    if destination and not destination.startswith(f"s3://{bucket}/"):
        raise PromotionError(
            f"{pin.path}: [capture] destination {destination} is outside {pin.environment}'s "
            f"bucket ({bucket}): captured requests stay in the environment's own bucket"
        )
    for variant in pin.variants:
        if variant.region != source.region:
            raise PromotionError(
                f"{pin.path}: variant {variant.name}'s package is in {variant.region}, not in "
                f"{pin.source_environment}'s region ({source.region})"
            )
        if variant.account != source.account_id:
            raise PromotionError(
                f"{pin.path}: variant {variant.name}'s package is in account {variant.account}, "
                f"not in {pin.source_environment}'s ({source.account_id})"
            )
        # SageMaker writes the group's name in its ARNs in lower case
        if variant.group.lower() != config.registry.model_package_group.lower():
            raise PromotionError(
                f"{pin.path}: variant {variant.name}'s package is in the group {variant.group}, "
                f"not pipeline.toml's [registry] model_package_group "
                f"{config.registry.model_package_group!r}"
            )
    return source


def checked_versions(config: PipelineConfig, pin: Pin, source_session, log) -> dict[str, dict]:
    """Each variant's source version, checked: approved, floor met, every digest intact."""
    sagemaker, s3 = source_session.client("sagemaker"), source_session.client("s3")
    checked = {}
    for variant in pin.variants:
        package = packages.describe(sagemaker, variant.package, pin.source_environment)
        packages.check_approved(package)
        package["_files"] = packages.check_digests(s3, package)  # the evaluation's included
        packages.check_pinned_digest(package, variant, pin)
        packages.check_floor(s3, package, pin.floor, config, pin)
        checked[variant.name] = package
        log(f"  {variant.name}: {variant.package} is Approved, meets the floor, digests match")
    return checked


def pinned(args, log, doing: str):
    """The config, pin, source and target environments of ``--env``; None for a pin that
    names no variants (nothing to do: an endpoint already there is left alone)."""
    config, pin = load(args.env, args.pins, args.config)
    source = source_environment(config, pin)
    target = config.environment(pin.environment)
    if not pin.variants:
        log(f"{pin.path} pins no variants: nothing to deploy (an existing endpoint is left alone)")
        return None
    log(f"{doing} {pin.environment} ({target.account_id}), endpoint {pin.endpoint}:")
    return config, pin, source, target


def plan(args, log) -> list[str]:
    found = pinned(args, log, "plan for")
    if found is None:
        return []
    config, pin, source, target = found
    versions = checked_versions(config, pin, assume(source, "read"), log)
    target_session = assume(target, "plan")
    sagemaker = target_session.client("sagemaker")
    todo = []
    for variant in pin.variants:
        group = versions[variant.name]["ModelPackageGroupName"]
        if not packages.find_copy(sagemaker, group, variant.package):
            todo.append(f"copy {variant.package} into {pin.environment}'s registry ({group})")
    request = endpoints.endpoint_config(pin, target, config.slug)
    state = endpoints.current_state(sagemaker, pin, request["EndpointConfigName"])
    todo += endpoints.changes(pin, state, request["EndpointConfigName"])
    return todo


def apply(args, log) -> list[str]:
    found = pinned(args, log, "apply to")
    if found is None:
        return []
    config, pin, source, target = found
    source_session = assume(source, "read")
    versions = checked_versions(config, pin, source_session, log)
    target_session = assume(target, "deploy")
    copies, done = {}, []
    for variant in pin.variants:
        package = versions[variant.name]
        copies[variant.name], made = packages.copy_version(
            package,
            package["_files"],
            source_session.client("s3"),
            target_session,
            target,
            config.slug,
            log,
        )
        if made:
            done.append(f"copied {variant.package} to {copies[variant.name]}")
    timeout = pin.deployment.maximum_execution_timeout_seconds + WAIT_MARGIN_SECONDS
    if endpoints.apply(
        target_session.client("sagemaker"), pin, target, config.slug, copies, log, timeout
    ):
        done.append(f"{pin.endpoint} serves {pin.path.name}")
    return done


def approve(args, log) -> list[str]:
    config = PipelineConfig.load(args.config, environment=args.source)
    source = config.env
    group = config.registry.model_package_group.lower()  # as SageMaker writes it in ARNs
    arn = (
        f"arn:{source.partition}:sagemaker:{source.region}:{source.account_id}:"
        f"model-package/{group}/{args.version}"
    )
    sagemaker = caller_session(source).client("sagemaker")
    package = packages.describe(sagemaker, arn, args.source)
    if package["ModelApprovalStatus"] == "Approved":
        log(f"{arn} is already Approved")
        return []
    sagemaker.update_model_package(
        ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription=args.reason
    )
    approved = sagemaker.describe_model_package(ModelPackageName=arn)
    approver = (approved.get("LastModifiedBy") or {}).get("IamIdentity", {}).get("Arn", "unknown")
    log(f"{arn} Approved by {approver}: {args.reason}")
    return [f"approved {arn}"]


def propose(args, log) -> list[str]:
    """Open the promotion pull requests that are due, as the promotion DAG does."""
    config = PipelineConfig.load(args.config, environment=args.source)
    token = os.environ.get("GITHUB_TOKEN")
    if not token:
        raise PromotionError(
            "set GITHUB_TOKEN to a token that may push branches and open pull requests (a GitHub "
            "App's: pull requests opened with a workflow's own token start no workflow)"
        )
    api = os.environ.get("GITHUB_API_URL", "https://api.github.com")
    watching = assume(config.environment("staging"), "watch")
    return proposals.propose(
        config,
        registry=caller_session(config.env).client("sagemaker"),
        watch=(watching.client("sagemaker"), watching.client("cloudwatch")),
        github=GitHub(config.project.repository, token, api),
        log=log,
    )


def role(args, log) -> list[str]:
    """The ARN of an environment's role: what a workflow signs in as."""
    config = PipelineConfig.load(args.config, environment=args.env)
    environment = config.environment(args.env)
    name = getattr(environment, ROLE_SETTINGS[args.purpose])
    if not name:
        raise PromotionError(
            f"pipeline.toml's [environments.{args.env}] has no {ROLE_SETTINGS[args.purpose]}"
        )
    arn = environment.arn_of_role(name)
    log(f"arn={arn}\nregion={environment.region}" if args.github_output else arn)
    return []


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="python -m ci.promote", description=__doc__.split("\n")[0])
    main.add_argument("--config", type=Path, default=CONFIG_FILE, help="pipeline.toml")
    main.add_argument("--pins", type=Path, default=PINS_DIR, help="the pin files' folder")
    commands = main.add_subparsers(dest="command", required=True)
    approving = commands.add_parser("approve", help="approve a version in the source registry")
    approving.add_argument("--version", type=int, required=True)
    approving.add_argument("--reason", required=True, help="why: kept as ApprovalDescription")
    approving.add_argument("--source", default="dev", help="the registry's environment")
    proposing = commands.add_parser("propose", help="open the promotion pull requests due")
    proposing.add_argument("--source", default="dev", help="the registry's environment")
    roles = commands.add_parser("role", help="print an environment's role ARN (for workflows)")
    roles.add_argument("--env", required=True)
    roles.add_argument("--purpose", choices=sorted(ROLE_SETTINGS), required=True)
    roles.add_argument(
        "--github-output", action="store_true", help="as arn= and region= lines for $GITHUB_OUTPUT"
    )
    for name, text in (("plan", "check a pin and list changes"), ("apply", "apply a pin")):
        command = commands.add_parser(name, help=text)
        command.add_argument("--env", required=True, help="the environment (its pin file)")
        if name == "plan":
            command.add_argument("--comment", type=Path, help="also write the plan as Markdown")
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)

    def log(line: str) -> None:
        print(line, flush=True)

    try:
        commands = {
            "approve": approve,
            "plan": plan,
            "apply": apply,
            "role": role,
            "propose": propose,
        }
        result = commands[args.command](args, log)
    except (PromotionError, ConfigError, GitHubError) as error:
        print(f"promotion stopped: {error}", file=sys.stderr)
        if getattr(args, "comment", None):
            args.comment.write_text(f"**Plan for `{args.env}` refused**\n\n{error}\n")
        return 1
    if args.command == "plan":
        lines = result or ["no change: the account already matches the pin"]
        log("changes:" if result else lines[0])
        for line in result:
            log(f"  - {line}")
        if args.comment:
            body = "\n".join(f"- {line}" for line in lines)
            args.comment.write_text(f"**Plan for `{args.env}`**\n\n{body}\n")
    elif args.command == "apply":
        log("applied: " + "; ".join(result) if result else "no change")
    return 0
