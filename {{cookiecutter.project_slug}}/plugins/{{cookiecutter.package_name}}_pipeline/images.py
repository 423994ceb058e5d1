"""The container images a run uses: the jobs' image pinned to its digest, and the serving image."""

from __future__ import annotations

import logging

from .config import ConfigError, PipelineConfig
from .hooks import aws_client

log = logging.getLogger(__name__)


def pinned_image(config: PipelineConfig) -> str:
    """The configured jobs' image as ``<repository>@<digest>`` when it is a tag in ECR."""
    from botocore.exceptions import BotoCoreError, ClientError

    image = config.env.image_uri or ""
    registry, _, path = image.partition("/")
    repository, _, tag = path.rpartition(":")
    if ".dkr.ecr." not in registry or not repository or "@" in image:
        return image
    ecr = aws_client(config, "ecr")
    try:
        described = ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
    except ClientError as error:
        # not pushed to this account's ECR (the local AWS has no image): the jobs run the tag
        level = logging.INFO if _not_found(error) else logging.WARNING
        log.log(level, "Jobs run %s, not pinned to a digest: %s", image, error)
        return image
    except BotoCoreError as error:
        log.warning("Jobs run %s, not pinned to a digest: %s", image, error)
        return image
    return f"{registry}/{repository}@{described['imageDetails'][0]['imageDigest']}"


def _not_found(error) -> bool:
    return error.response["Error"]["Code"] in (
        "RepositoryNotFoundException",
        "ImageNotFoundException",
    )


def inference_image(config: PipelineConfig, jobs_image: str) -> str:
    """The image that serves registered versions (``[registry] serving_image``).

    By default the run's own jobs' image (``jobs_image``, pinned to its digest), whose ``serve``
    command runs the package's model server: what SageMaker runs is what the local AWS runs.
    With ``serving_image = "framework"``, SageMaker's framework image
    (``[registry] inference_image_uri``), which must be in the environment's region: SageMaker
    pulls serving images from the region's own registry.
    """
    registry, region = config.registry, config.env.region
    if registry.serving_image == "jobs":
        if not jobs_image:
            raise ConfigError(
                f"{config.path}: [environments.{config.env.name}] image_uri is empty, and "
                '[registry] serving_image = "jobs" serves registered versions with it'
            )
        return jobs_image
    if not registry.inference_image_uri:
        raise ConfigError(
            f"{config.path}: [registry] inference_image_uri is empty: SageMaker has no "
            f"{registry.inference_framework} {registry.inference_framework_version} image in "
            f"{region}; name a serving image there"
        )
    if f".dkr.ecr.{region}." not in registry.inference_image_uri:
        raise ConfigError(
            f"{config.path}: [registry] inference_image_uri {registry.inference_image_uri!r} is "
            f"not in {region}, the region of [environments.{config.env.name}]"
        )
    return registry.inference_image_uri
