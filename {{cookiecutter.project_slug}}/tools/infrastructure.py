"""Deploy ``ci/infrastructure/pipeline.yaml`` to an account: one template for AWS and locally.

The parameters come from ``pipeline.toml``, so the bucket, queue, topic, role and registry group
are the ones the DAGs use.
"""

from __future__ import annotations

import time

from {{ cookiecutter.package_name }}_pipeline.registry import model_kind

from tools.project import PROJECT_ROOT

TEMPLATE = PROJECT_ROOT / "ci" / "infrastructure" / "pipeline.yaml"
PROMOTION_TEMPLATE = PROJECT_ROOT / "ci" / "infrastructure" / "promotion.yaml"


def stack_name(config) -> str:
    return f"{config.slug}-pipeline"


def stack_parameters(config, environment=None) -> list[dict]:
    """pipeline.yaml's parameters for an environment (default: the one the config runs in)."""
    env = environment or config.env
    kind = model_kind(config)  # the registry group's tags: what its models predict
    values = {
        "ProjectSlug": config.slug,
        "ArtifactBucketName": env.bucket,
        "RawDataPrefix": config.data.raw_prefix,
        "RawDataQueueName": config.data.raw_data_queue,
        "ApprovalEventsQueueName": config.registry.approval_events_queue,
        "TopicName": config.notifications.topic_name,
        "MetricNamespaces": ",".join(
            [config.monitoring.metric_namespace, config.monitoring.quality_metric_namespace]
        ),
        "SageMakerRoleName": env.role_name,
        "ModelPackageGroupName": config.registry.model_package_group,
        "ProblemType": kind["problem_type"],
        "TargetColumn": kind["target_column"],
        "ImageAccountId": image_account(config, env),
    }
    return [{"ParameterKey": key, "ParameterValue": value} for key, value in values.items()]


def image_account(config, environment) -> str:
    """The account whose ECR holds the jobs' image, when not ``environment``'s own ("")."""
    image = environment.image_uri or config.environment("dev").image_uri or ""
    account = image.split(".", 1)[0] if ".dkr.ecr." in image else ""
    return "" if account in ("", environment.account_id) else account


def image_repository(environment) -> str:
    """The ECR repository of ``environment``'s jobs' image in its own account, else ""."""
    image = environment.image_uri or ""
    registry, _, path = image.partition("/")
    if not registry.startswith(f"{environment.account_id}.dkr.ecr."):
        return ""
    return path.split("@")[0].rsplit(":", 1)[0]


def promotion_parameters(
    config, environment, source, targets, key_arn: str, repository: str
) -> list[dict]:
    """promotion.yaml's parameters for ``environment`` (pipeline.toml names throughout)."""
    target = environment.name != source.name
    values = {
        "AccountRole": "target" if target else "source",
        "EnvironmentName": environment.name,
        "ProjectSlug": config.slug,
        "GitHubRepository": repository,
        "SourceAccountId": source.account_id,
        "StagingAccountId": targets["staging"].account_id,
        "ProdAccountId": targets["prod"].account_id,
        "ArtifactBucketName": environment.bucket,
        "ArtifactKeyArn": key_arn,
        "SageMakerRoleName": environment.role_name,
        "ModelPackageGroupName": config.registry.model_package_group.lower(),  # as in ARNs
        "RegistryReadRoleName": source.registry_read_role_name,
        "PlanRoleName": targets["staging"].plan_role_name,
        "DeployRoleName": targets["staging"].deploy_role_name,
        "WatchRoleName": targets["staging"].watch_role_name,
        "TopicName": config.notifications.topic_name,
        "MetricNamespaces": ",".join(
            [config.monitoring.metric_namespace, config.monitoring.quality_metric_namespace]
        ),
        "ImageRepositoryName": "" if target else image_repository(source),
    }
    return [{"ParameterKey": key, "ParameterValue": value} for key, value in values.items()]


def deploy(
    cloudformation,
    config,
    timeout: float = 120,
    *,
    name: str | None = None,
    template=TEMPLATE,
    parameters: list[dict] | None = None,
) -> dict:
    """Create the stack unless it exists; return its outputs."""
    name = name or stack_name(config)
    try:
        stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    except cloudformation.exceptions.ClientError as error:
        if "does not exist" not in str(error):
            raise
        cloudformation.create_stack(
            StackName=name,
            TemplateBody=template.read_text(),
            Parameters=parameters if parameters is not None else stack_parameters(config),
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
        deadline = time.monotonic() + timeout
        while True:
            stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
            if not stack["StackStatus"].endswith("IN_PROGRESS") or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    if stack["StackStatus"] not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        raise RuntimeError(
            f"stack {name} is {stack['StackStatus']}: {stack.get('StackStatusReason')}"
        )
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
