"""Sessions in each account, through the roles promotion assumes (never static keys).

In CI the job signs in with GitHub's OIDC token (``aws-actions/configure-aws-credentials``) as
the target account's plan or deploy role, which promotion then uses as it is; from it, it
assumes the source account's ``registry_read_role_name`` (which trusts those roles). Anywhere
else, every role is assumed from the caller's credentials. The names are ``pipeline.toml``'s:
``registry_read_role_name`` in the account versions are copied from, ``plan_role_name`` and
``deploy_role_name`` in the accounts deployed to.
boto3 finds its endpoint as usual (``AWS_ENDPOINT_URL`` points every call at the local AWS).
"""

from __future__ import annotations

import os
import re

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from {{ cookiecutter.package_name }}_pipeline.config import Environment

#: What each purpose's role is called in pipeline.toml's [environments.<name>].
ROLE_SETTINGS = {
    "read": "registry_read_role_name",
    "plan": "plan_role_name",
    "deploy": "deploy_role_name",
    "watch": "watch_role_name",
}


class PromotionError(RuntimeError):
    """Promotion stopped: the message says why and what to do."""


def _already(environment: Environment, role: str) -> bool:
    """Whether the caller's credentials are this role's (a session of it)."""
    try:
        caller = boto3.client("sts", region_name=environment.region).get_caller_identity()["Arn"]
    except (BotoCoreError, ClientError):
        return False
    return caller.startswith(
        f"arn:{environment.partition}:sts::{environment.account_id}:assumed-role/{role}/"
    )


def caller_session(environment: Environment) -> boto3.Session:
    """The caller's own credentials, in the environment's region (``approve`` is a person's)."""
    return boto3.Session(region_name=environment.region)


def assume(environment: Environment, purpose: str) -> boto3.Session:
    """A session as the environment's ``purpose`` role (``read``, ``plan`` or ``deploy``)."""
    setting = ROLE_SETTINGS[purpose]
    name = getattr(environment, setting)
    if not name:
        raise PromotionError(
            f"pipeline.toml's [environments.{environment.name}] has no {setting}: promotion "
            f"needs the {purpose} role of account {environment.account_id}"
        )
    arn = environment.arn_of_role(name)
    if _already(environment, name):  # CI signed in as this role through OIDC
        return boto3.Session(region_name=environment.region)
    # CloudTrail names the session: the workflow run that applied, when a workflow did.
    run = os.environ.get("GITHUB_RUN_ID", "manual")
    session_name = re.sub(r"[^\w+=,.@-]", "-", f"promote-{purpose}-{environment.name}-{run}")[:64]
    try:
        credentials = boto3.client("sts", region_name=environment.region).assume_role(
            RoleArn=arn, RoleSessionName=session_name
        )["Credentials"]
    except ClientError as error:
        raise PromotionError(
            f"cannot assume {arn} ({error.response['Error']['Code']}: "
            f"{error.response['Error']['Message']}): check that the role exists in account "
            f"{environment.account_id} and trusts the caller (in CI, the job's OIDC identity)"
        ) from error
    except BotoCoreError as error:
        raise PromotionError(f"cannot assume {arn}: {error}") from error
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=environment.region,
    )
