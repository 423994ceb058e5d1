"""Model package state changes on EventBridge, as SageMaker sends them.

SageMaker puts a ``SageMaker Model Package State Change`` event (source ``aws.sagemaker``, the
version's ARN as its resource) on the account's default bus when a version is registered and
whenever its ``ModelApprovalStatus`` changes; its ``detail`` is the version as
``DescribeModelPackage`` shows it (group, version, ARN, approval status, inference
specification, metrics, who changed it). moto sends none. Here the registry's create and update
operations put the event, and EventBridge's rules deliver it to their targets (an SQS queue in
the infrastructure template, which the promotion DAG watches). SageMaker may send one change
more than once: consumers must not care.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

from moto.backends import get_backend
from moto.sagemaker.responses import SageMakerResponse

from local_aws.capability import Capability, Context, patch

log = logging.getLogger(__name__)

DETAIL_TYPE = "SageMaker Model Package State Change"


def _on_create(original):
    def create_model_package(self: SageMakerResponse):
        known = set(self.sagemaker_backend.model_packages)
        answer = original(self)
        arn = _arn_of(answer)
        new = [name for name in self.sagemaker_backend.model_packages if name not in known]
        if arn and new:  # a repeated ClientToken registers nothing: no event
            put_state_change(self.current_account, self.region, arn)
        return answer

    return create_model_package


def _on_update(original):
    def update_model_package(self: SageMakerResponse):
        request = json.loads(self.body)
        before = self.sagemaker_backend.describe_model_package(request["ModelPackageArn"])
        status = before.model_approval_status
        answer = original(self)
        if request.get("ModelApprovalStatus", status) != status:
            put_state_change(self.current_account, self.region, before.arn)
        return answer

    return update_model_package


def _arn_of(answer) -> str | None:
    """The ``ModelPackageArn`` of a create's answer (an ActionResult or a JSON body)."""
    result = getattr(answer, "result", None)
    if isinstance(result, dict):
        return result.get("ModelPackageArn")
    body = answer[0] if isinstance(answer, tuple) else answer
    try:
        return json.loads(body).get("ModelPackageArn")
    except (TypeError, ValueError):
        return None


def put_state_change(account: str, region: str, arn: str) -> None:
    """Put the version's state-change event on the default bus (rules deliver it)."""
    package = get_backend("sagemaker")[account][region].describe_model_package(arn)
    detail = {
        key: value
        for key, value in package.gen_response_object().items()
        if value not in (None, "", [], {})
    }
    try:
        get_backend("events")[account][region].put_events(
            [
                {
                    "Source": "aws.sagemaker",
                    "DetailType": DETAIL_TYPE,
                    "Detail": json.dumps(detail, default=_timestamp),
                    "Resources": [package.arn],
                }
            ]
        )
    except Exception as error:  # a broken target is not the registry's failure
        log.warning("%s: state change event not delivered: %s", arn, error)


def _timestamp(value):
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def install(context: Context) -> None:
    patch(SageMakerResponse, "create_model_package", _on_create)
    patch(SageMakerResponse, "update_model_package", _on_update)


CAPABILITY = Capability(
    name="approval events",
    persists=("sagemaker", "events"),
    requires=("Model Registry",),
    side_effects={"sagemaker": ("events", "sqs")},
    install=install,
)
