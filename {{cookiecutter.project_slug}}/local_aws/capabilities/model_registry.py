"""The Model Registry as AWS keeps it: moto's model package operations with its gaps filled.

moto stores model packages and groups and answers ``Describe*``/``List*`` as AWS does (metadata,
metrics and baselines come back as sent; versions are ``Completed``; listing filters by approval
status and sorts by creation time). Where it differs from AWS, this module follows AWS:

- ``UpdateModelPackage`` changes only what the call names: moto clears ``ModelApprovalStatus``
  and ``ApprovalDescription`` when the call omits them, and replaces ``CustomerMetadataProperties``
  where AWS merges them and then drops ``CustomerMetadataPropertiesToRemove``.
- ``UpdateModelPackage`` records who made the change in ``LastModifiedBy.IamIdentity`` (the
  caller's ARN and principal ID, as ``GetCallerIdentity`` answers for the request's key): moto
  names a made-up Studio user. Promotion reads the approver from it.
- A version registered without a ``ModelApprovalStatus`` is ``PendingManualApproval``, as on
  AWS (moto leaves it without one).
- ``CreateModelPackage`` with a ``ClientToken`` already used in the same group returns that
  version's ARN instead of registering another (a retried registration stays one version).
- A versioned package for a group that does not exist fails with AWS's message (moto's carries
  a second, misspelt error prefix), and ``CreateModelPackageGroup`` refuses a name already taken
  (moto silently replaces the group).

Not emulated (as in moto): a group named by its ARN, group resource policies, and the other
``UpdateModelPackage`` fields (``InferenceSpecification``, ``ModelCard``, ``SourceUri``, ...),
which are accepted and ignored.
"""

from __future__ import annotations

import json

from moto.backends import get_backend
from moto.core.responses import ActionResult
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse

from local_aws.capability import Capability, Context, patch


def install(context: Context) -> None:
    """Route moto's registry operations through the AWS behaviour above."""
    # On the backend, so that CloudFormation's AWS::SageMaker::ModelPackageGroup is refused too.
    patch(SageMakerModelBackend, "create_model_package_group", _refuse_taken_group_names)
    patch(SageMakerResponse, "create_model_package", _idempotent_create)
    patch(SageMakerResponse, "update_model_package", lambda _original: _update_model_package)


def _refuse_taken_group_names(original):
    def create_model_package_group(self: SageMakerModelBackend, model_package_group_name, **kwargs):
        group = self.model_package_groups.get(model_package_group_name)
        if group is not None:
            raise ValidationError(f"Model Package Group already exists: {group.arn}")
        return original(self, model_package_group_name, **kwargs)

    return create_model_package_group


def _idempotent_create(original):
    def create_model_package(self: SageMakerResponse):
        request = json.loads(self.body)
        group = request.get("ModelPackageGroupName")
        if group is None:
            return original(self)
        backend = self.sagemaker_backend
        if group not in backend.model_package_groups:
            raise ValidationError("Model Package Group does not exist.")
        token = request.get("ClientToken")
        for package in backend.model_packages.values() if token else ():
            if package.model_package_group_name == group and package.client_token == token:
                return ActionResult({"ModelPackageArn": package.arn})
        answer = original(self)
        if "ModelApprovalStatus" not in request:  # a version awaits approval unless told
            arn = answer.result["ModelPackageArn"]
            backend.describe_model_package(arn).set_model_approval_status("PendingManualApproval")
        return answer

    return create_model_package


def _update_model_package(self: SageMakerResponse):
    request = json.loads(self.body)
    package = self.sagemaker_backend.describe_model_package(request["ModelPackageArn"])
    if "ModelApprovalStatus" in request:
        package.set_model_approval_status(request["ModelApprovalStatus"])
    if "ApprovalDescription" in request:
        package.approval_description = request["ApprovalDescription"]
    metadata = {
        **(package.customer_metadata_properties or {}),
        **request.get("CustomerMetadataProperties", {}),
    }
    for key in request.get("CustomerMetadataPropertiesToRemove", []):
        metadata.pop(key, None)
    package.customer_metadata_properties = metadata or None
    package.add_additional_inference_specifications(
        request.get("AdditionalInferenceSpecificationsToAdd")
    )
    package.modifications_done()
    sts = get_backend("sts")[self.current_account]["global"]
    principal, arn, _account = sts.get_caller_identity(self.get_access_key(), self.region)
    package.last_modified_by = {"IamIdentity": {"Arn": arn, "PrincipalId": principal}}
    return ActionResult({"ModelPackageArn": package.arn})


CAPABILITY = Capability(
    name="Model Registry",
    persists=("sagemaker",),
    install=install,
)
