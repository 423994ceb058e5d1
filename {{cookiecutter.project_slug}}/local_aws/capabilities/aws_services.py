"""The services moto serves as they are, kept across restarts.

IAM (roles the jobs run as), STS (several accounts: unsigned requests act in the account the
local AWS plays, an assumed role's in its own), SNS, SQS, EventBridge, CloudWatch, CloudWatch
Logs, KMS and ECR keep their state. Log lines (``PutLogEvents``), which grow with every line a
job prints, are saved every second rather than after every write. A request to SNS or
EventBridge can change the services they deliver to.
"""

from __future__ import annotations

import moto.iam.models

from local_aws.capability import Capability, Context, patch


def install(context: Context) -> None:
    # Requests signed with unknown keys act in the account the local AWS plays (dev).
    patch(moto.iam.models, "DEFAULT_ACCOUNT_ID", lambda _moto_default: context.account_id)


CAPABILITY = Capability(
    name="AWS services",
    persists=("iam", "sts", "sns", "sqs", "events", "cloudwatch", "logs", "kms", "ecr"),
    saved_periodically=frozenset({("logs", "PutLogEvents")}),
    side_effects={"sns": ("sqs",), "events": ("sqs", "sns", "logs")},
    install=install,
)
