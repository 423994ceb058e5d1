"""CloudFormation in the local AWS: what ``ci/infrastructure/pipeline.yaml`` needs beyond moto.

moto creates a stack's resources through one ``CloudFormationModel`` subclass per resource type,
found by ``moto.cloudformation.parsing.get_model_map()`` (``cloudformation_type()`` to class); it
calls the class's ``create_from_cloudformation_json`` (and ``update_``/``delete_``) with the
template's properties, intrinsic functions already resolved. A type without a class is skipped
with a warning, yet the stack still ends ``CREATE_COMPLETE``. This module adds classes to that map:

- ``AWS::SQS::QueuePolicy`` (missing in moto): sets the policy on each queue it names.
- ``AWS::IAM::OIDCProvider`` (missing in moto): creates the account's OpenID Connect provider
  (``Url``, ``ClientIdList``, ``ThumbprintList``); ``Ref`` and ``GetAtt Arn`` are its ARN.
- ``AWS::SageMaker::ModelPackageGroup`` (missing in moto): creates the group in the SageMaker
  backend; ``Ref`` is its ARN, ``GetAtt`` gives ``ModelPackageGroupArn``, ``CreationTime`` and
  ``ModelPackageGroupStatus``, as on AWS.
- ``AWS::S3::Bucket`` (moto applies only ``BucketEncryption`` and ``Tags``): also applies
  ``NotificationConfiguration`` (so new objects send S3 events to SQS, SNS or EventBridge),
  ``VersioningConfiguration`` and ``PublicAccessBlockConfiguration``.
  It also keeps the encryption's ``BucketKeyEnabled``, which moto drops.
- ``AWS::IAM::Role`` (moto stores inline ``Policies`` as Python objects, so ``GetRolePolicy``
  answers their Python text, and ignores them and the trust policy on update): stores them as
  JSON and applies them on update too.
- ``AWS::Events::Rule``: deleting a stack restored after a restart removes the targets of the
  rule EventBridge holds, not of the stack's stale copy (EventBridge refuses to delete a rule
  that still has targets).
- ``AWS::ECR::Repository`` (moto drops ``RepositoryPolicyText``): sets the repository policy,
  which lets other accounts pull (on create and on update).
- ``AWS::KMS::Key`` (moto keeps the ``KeyPolicy`` object as is, and cannot update a key): stores
  it as the JSON document ``GetKeyPolicy`` returns, and updates policy, description and rotation
  in place as AWS does.

In YAML templates, ``!Condition Name`` (a condition inside ``Fn::And``, ``Fn::Or`` or
``Fn::Not``) means ``{"Condition": Name}``, as on AWS: moto reads it as an unknown
``Fn::Condition`` and the condition as false.

On ``UpdateStack`` moto re-applies a resource whose template changed or that refers with ``Ref``
to a parameter whose value changed; here a parameter named inside ``Fn::Sub`` counts too.

Accepted and recorded, with no effect on this machine (nothing is encrypted or authorised):
bucket default encryption (returned by ``GetBucketEncryption`` and reported on each object, but
objects are stored as sent), the topic's ``KmsMasterKeyId``, the queue's ``SqsManagedSseEnabled``,
key rotation, and every policy (key, queue and role policies are stored and returned, never
evaluated).

Not emulated: S3 checking at ``NotificationConfiguration`` time that the queue's policy lets the
bucket send (AWS refuses the bucket otherwise; hence the template's ``DependsOn``), and
``ModelPackageGroupPolicy`` (moto has no model package group policies; the property is ignored).

Deleting a stack keeps what has ``DeletionPolicy: Retain`` and fails on a model package group that
still holds versions, as on AWS. Unlike AWS, moto creates a stack synchronously: a resource that
cannot be created (a name already taken, say) fails ``CreateStack`` itself with that resource's
error instead of rolling the stack back, and leaves a stack that can only be deleted.
"""

from __future__ import annotations

import json
import re
from typing import Any

from moto.cloudformation import models as cloudformation_models
from moto.cloudformation import parsing
from moto.cloudformation import responses as cloudformation_responses
from moto.cloudformation import utils as cloudformation_utils
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
from moto.core.common_models import CloudFormationModel
from moto.ecr.models import Repository, ecr_backends
from moto.events.models import Rule, events_backends
from moto.iam.models import Role, iam_backends
from moto.kms.models import Key
from moto.s3.models import FakeBucket, s3_backends
from moto.sagemaker.exceptions import ConflictException
from moto.sagemaker.models import sagemaker_backends
from moto.sqs.models import sqs_backends
from moto.utilities.utils import get_partition

from local_aws.capability import Capability, Context, patch


def install(context: Context) -> None:
    """Add this module's resource types to moto's type map and its reference finder."""
    # New types are direct CloudFormationModel subclasses, found the way moto finds its own once
    # its cached lists are rebuilt; types moto already has are replaced by their subclasses here.
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
    model_map = parsing.get_model_map()
    for model in (BucketResource, RoleResource, KeyResource, RepositoryResource):
        model_map[model.cloudformation_type()] = model
    patch(parsing, "get_references_from_template", lambda _original: _parameter_references)
    patch(Rule, "delete", _delete_live_rule)
    for module in (cloudformation_utils, cloudformation_models, cloudformation_responses):
        patch(module, "yaml_tag_constructor", _condition_tag)


def _condition_tag(original):
    def yaml_tag_constructor(loader: Any, tag: Any, node: Any) -> Any:
        if tag == "!Condition":
            return {"Condition": node.value}
        return original(loader, tag, node)

    return yaml_tag_constructor


def _delete_live_rule(original):
    """Delete the rule EventBridge holds, not the stack's copy of it.

    The stack keeps its own reference to each resource; once the state has been saved and
    restored, that is a copy, and removing the copy's targets leaves the live rule's in place.
    """

    def delete(self: Rule, account_id: str, region_name: str) -> None:
        backend = events_backends[account_id][region_name]
        try:
            live = backend.describe_rule(self.name, self.event_bus_name)
        except Exception:  # already gone
            live = self
        original(live, account_id, region_name)

    return delete


#: ``${Name}`` in an ``Fn::Sub`` string; not ``${!Literal}`` nor ``${Resource.Attribute}``.
_SUB_VARIABLE = re.compile(r"\$\{([^!}.][^}.]*)\}")


def _parameter_references(node: Any) -> list[str]:
    """The names a resource's template refers to, with ``Ref`` or inside ``Fn::Sub``."""
    if isinstance(node, list):
        return [name for item in node for name in _parameter_references(item)]
    if not isinstance(node, dict):
        return []
    names = [node["Ref"]] if isinstance(node.get("Ref"), str) else []
    sub = node.get("Fn::Sub")
    text = sub[0] if isinstance(sub, list) else sub
    if isinstance(text, str):
        names += _SUB_VARIABLE.findall(text)
    return names + [name for value in node.values() for name in _parameter_references(value)]


class OIDCProviderResource(CloudFormationModel):
    """``AWS::IAM::OIDCProvider``: the account's OpenID Connect identity provider."""

    def __init__(self, arn: str, account_id: str):
        self.arn = self.physical_resource_id = arn
        self.account_id = account_id

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::IAM::OIDCProvider"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "Arn":
            return self.arn
        raise UnformattedGetAttTemplateException()

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> OIDCProviderResource:
        properties = cloudformation_json["Properties"]
        backend = iam_backends[account_id][get_partition(region_name)]
        provider = backend.create_open_id_connect_provider(
            properties["Url"],
            properties.get("ThumbprintList", []),
            properties.get("ClientIdList", []),
            properties.get("Tags", []),
        )
        return cls(provider.arn, account_id)

    def delete(self, account_id: str, region_name: str) -> None:
        iam_backends[account_id][get_partition(region_name)].delete_open_id_connect_provider(
            self.arn
        )

    def is_created(self) -> bool:
        return True


class QueuePolicyResource(CloudFormationModel):
    """``AWS::SQS::QueuePolicy``: one policy document set on every queue in ``Queues`` (URLs)."""

    def __init__(self, physical_id: str, account_id: str, region_name: str, properties: dict):
        self.physical_resource_id = physical_id
        self.account_id = account_id
        self.region_name = region_name
        self.queue_urls = list(properties["Queues"])
        self.document = json.dumps(properties["PolicyDocument"])

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SQS::QueuePolicy"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Id"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "Id":
            return self.physical_resource_id
        raise UnformattedGetAttTemplateException()

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> QueuePolicyResource:
        policy = cls(resource_name, account_id, region_name, cloudformation_json["Properties"])
        policy._apply(policy.document)
        return policy

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: QueuePolicyResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> QueuePolicyResource:
        original_resource._apply(None)
        return cls.create_from_cloudformation_json(
            original_resource.physical_resource_id, cloudformation_json, account_id, region_name
        )

    def delete(self, account_id: str, region_name: str) -> None:
        self._apply(None)

    def is_created(self) -> bool:
        return True

    def _apply(self, document: str | None) -> None:
        """Set (or, with None, remove) the policy of every queue named that still exists."""
        backend = sqs_backends[self.account_id][self.region_name]
        for url in self.queue_urls:
            queue = backend.queues.get(url.rstrip("/").rsplit("/", 1)[-1])
            if queue is not None:
                queue.policy = document


class ModelPackageGroupResource(CloudFormationModel):
    """``AWS::SageMaker::ModelPackageGroup``, kept in the SageMaker backend."""

    def __init__(self, account_id: str, region_name: str, name: str):
        self.account_id = account_id
        self.region_name = region_name
        self.name = name
        self.physical_resource_id = self.group.arn

    @property
    def group(self):
        return sagemaker_backends[self.account_id][self.region_name].model_package_groups[self.name]

    @staticmethod
    def cloudformation_name_type() -> str:
        return "ModelPackageGroupName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SageMaker::ModelPackageGroup"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("ModelPackageGroupArn", "CreationTime", "ModelPackageGroupStatus")

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "ModelPackageGroupArn":
            return self.physical_resource_id
        if attribute_name == "CreationTime":
            return self.group.creation_time.isoformat()
        if attribute_name == "ModelPackageGroupStatus":
            return self.group.model_package_group_status
        raise UnformattedGetAttTemplateException()

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> ModelPackageGroupResource:
        properties = cloudformation_json["Properties"]
        sagemaker_backends[account_id][region_name].create_model_package_group(
            model_package_group_name=resource_name,
            model_package_group_description=properties.get("ModelPackageGroupDescription"),
            tags=properties.get("Tags"),
        )
        return cls(account_id, region_name, resource_name)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: ModelPackageGroupResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> ModelPackageGroupResource:
        # Name and description require replacement on AWS; only the tags change in place.
        properties = cloudformation_json["Properties"]
        if (
            new_resource_name != original_resource.name
            or properties.get("ModelPackageGroupDescription")
            != original_resource.group.model_package_group_description
        ):
            new = cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )
            original_resource.delete(account_id, region_name)
            return new
        original_resource.group.tags = properties.get("Tags") or []
        return original_resource

    def delete(self, account_id: str, region_name: str) -> None:
        backend = sagemaker_backends[account_id][region_name]
        if any(p.model_package_group_name == self.name for p in backend.model_packages.values()):
            raise ConflictException(
                f"Cannot delete model package group {self.name}: it still has model packages."
            )
        backend.model_package_groups.pop(self.name, None)

    def is_created(self) -> bool:
        return True


class _ConfiguredFromProperties:
    """moto's resource, then the properties moto ignores applied on create and on update."""

    @staticmethod
    def configure(resource: Any, properties: dict[str, Any]) -> None:
        raise NotImplementedError

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        resource = super().create_from_cloudformation_json(  # type: ignore[misc]
            resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
        cls.configure(resource, cloudformation_json["Properties"])
        return resource

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        resource = super().update_from_cloudformation_json(  # type: ignore[misc]
            original_resource, new_resource_name, cloudformation_json, account_id, region_name
        )
        cls.configure(resource, cloudformation_json["Properties"])
        return resource


class BucketResource(_ConfiguredFromProperties, FakeBucket):
    """``AWS::S3::Bucket`` with the notification, versioning and public access configuration."""

    @staticmethod
    def configure(bucket: FakeBucket, properties: dict[str, Any]) -> None:
        backend = s3_backends[bucket.account_id][get_partition(bucket.region_name)]
        encryption = properties.get("BucketEncryption", {})
        rules = encryption.get("ServerSideEncryptionConfiguration", [])
        if rules and "BucketKeyEnabled" in rules[0]:
            bucket.encryption["Rule"]["BucketKeyEnabled"] = rules[0]["BucketKeyEnabled"]
        if "VersioningConfiguration" in properties:
            status = properties["VersioningConfiguration"]["Status"]
            backend.put_bucket_versioning(bucket.name, status)
        if "PublicAccessBlockConfiguration" in properties:
            block = properties["PublicAccessBlockConfiguration"]
            backend.put_public_access_block(bucket.name, block)
        notifications = properties.get("NotificationConfiguration", {})
        backend.put_bucket_notification_configuration(
            bucket.name, _notification_configuration(notifications)
        )


#: CloudFormation's notification keys and the S3 API's (as moto's backend holds them).
_DESTINATIONS = {
    "QueueConfigurations": ("QueueConfiguration", "Queue", "Queue"),
    "TopicConfigurations": ("TopicConfiguration", "Topic", "Topic"),
    "LambdaConfigurations": ("CloudFunctionConfiguration", "Function", "CloudFunction"),
}


def _notification_configuration(properties: dict[str, Any]) -> dict[str, Any]:
    """A bucket's ``NotificationConfiguration`` property in the S3 API's shape."""
    configuration: dict[str, Any] = {}
    for cfn_key, (api_key, cfn_arn, api_arn) in _DESTINATIONS.items():
        for item in properties.get(cfn_key, []):
            entry = {api_arn: item[cfn_arn], "Event": [item["Event"]]}
            rules = item.get("Filter", {}).get("S3Key", {}).get("Rules")
            if rules:
                entry["Filter"] = {"S3Key": {"FilterRule": rules}}
            configuration.setdefault(api_key, []).append(entry)
    if properties.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
        configuration["EventBridgeConfiguration"] = {}
    return configuration


class RoleResource(_ConfiguredFromProperties, Role):
    """``AWS::IAM::Role`` whose trust and inline policies are JSON and follow stack updates."""

    @staticmethod
    def configure(role: Role, properties: dict[str, Any]) -> None:
        role.assume_role_policy_document = _as_json(properties["AssumeRolePolicyDocument"])
        policies = {
            p["PolicyName"]: _as_json(p["PolicyDocument"]) for p in properties.get("Policies", [])
        }
        for name in set(role.policies) - set(policies):
            role.delete_policy(name)
        for name, document in policies.items():
            role.put_policy(name, document)


class RepositoryResource(_ConfiguredFromProperties, Repository):
    """``AWS::ECR::Repository`` with its repository policy."""

    @staticmethod
    def configure(repository: Repository, properties: dict[str, Any]) -> None:
        policy = properties.get("RepositoryPolicyText")
        backend = ecr_backends[repository.account_id][repository.region_name]
        if policy:
            backend.set_repository_policy(repository.account_id, repository.name, _as_json(policy))
        elif repository.policy:
            backend.delete_repository_policy(repository.account_id, repository.name)


def _as_json(document: str | dict) -> str:
    return document if isinstance(document, str) else json.dumps(document)


class KeyResource(Key):
    """``AWS::KMS::Key`` with its policy as the JSON text AWS returns, and updated in place."""

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Key:
        key = super().create_from_cloudformation_json(
            resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
        key.policy = _as_json(key.policy)
        return key

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: Key,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Key:
        properties = cloudformation_json["Properties"]
        original_resource.policy = _as_json(properties["KeyPolicy"])
        original_resource.description = properties.get("Description", "")
        original_resource.key_rotation_status = properties.get("EnableKeyRotation", False)
        return original_resource


CAPABILITY = Capability(
    name="CloudFormation",
    persists=("cloudformation",),
    # A stack creates, changes and deletes resources of every service.
    side_effects={"cloudformation": ("*",)},
    install=install,
)
