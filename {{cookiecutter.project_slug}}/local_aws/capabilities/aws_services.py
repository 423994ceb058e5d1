"""The services moto serves as they are, kept across restarts.

IAM (roles the jobs run as), STS (several accounts), SNS, SQS, EventBridge, CloudWatch, KMS and
ECR keep their state; CloudWatch Logs too, saved every few seconds rather than after every write,
as it grows with every line a job prints. A request to SNS or EventBridge can change the
services they deliver to.
"""

from __future__ import annotations

from local_aws.capability import Capability

CAPABILITY = Capability(
    name="AWS services",
    persists=("iam", "sts", "sns", "sqs", "events", "cloudwatch", "kms", "ecr"),
    saved_periodically=("logs",),
    side_effects={"sns": ("sqs",), "events": ("sqs", "sns", "logs")},
)
