"""The services moto serves as they are, kept across restarts.

IAM (roles the jobs run as), STS (several accounts: unsigned requests act in the account the
local AWS plays, an assumed role's in its own), SNS, SQS, EventBridge, CloudWatch, CloudWatch
Logs, KMS and ECR keep their state. Log lines (``PutLogEvents``), which grow with every line a
job prints, are saved every second rather than after every write. A request to SNS or
EventBridge can change the services they deliver to.
"""

from __future__ import annotations

import moto.backends
import moto.iam.models
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

from local_aws.capability import Capability, Context, patch


def install(context: Context) -> None:
    # Requests signed with unknown keys act in the account the local AWS plays (dev).
    patch(moto.iam.models, "DEFAULT_ACCOUNT_ID", lambda _moto_default: context.account_id)
    # moto's dispatcher finds each request's service under one lock by listing its own package
    # folder and trying every service's URL patterns: about 1.3 ms a request, every request.
    # The answers never change while it runs.
    patch(moto.backends, "list_of_moto_modules", _listed_once)
    patch(DomainDispatcherApplication, "get_backend_for_host", _remembered)


def _listed_once(original):
    modules = tuple(original())
    return lambda: modules


def _remembered(original):
    def get_backend_for_host(self, host):
        known = self.__dict__.setdefault("_local_aws_backends_by_host", {})
        if host not in known:
            known[host] = original(self, host)
        return known[host]

    return get_backend_for_host


CAPABILITY = Capability(
    name="AWS services",
    persists=("iam", "sts", "sns", "sqs", "events", "cloudwatch", "logs", "kms", "ecr"),
    saved_periodically=frozenset({("logs", "PutLogEvents")}),
    side_effects={"sns": ("sqs",), "events": ("sqs", "sns", "logs")},
    install=install,
)
