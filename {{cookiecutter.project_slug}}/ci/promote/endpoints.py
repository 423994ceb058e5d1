"""The environment's endpoint made to match its pin: models, endpoint config, endpoint.

Names are derived, so a run finds what an earlier one made: a model per endpoint, variant and
source version (``<endpoint>-<variant>-v<version>``), an endpoint config per content (its
sha256 in the name). Changing the pin makes a new config; the endpoint is updated to it with the
pin's deployment policy (SageMaker's blue/green ``DeploymentConfig``), which SageMaker applies
only between configs with the same variant names: a pin that adds or removes a variant is
updated all at once, and ``plan`` says so. A config the endpoint already runs changes nothing; an
endpoint whose creation failed is made again; one SageMaker left ``UpdateRollbackFailed`` or
``OutOfService`` stops promotion for a person to look at.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

from botocore.exceptions import ClientError

from {{ cookiecutter.package_name }}_pipeline.config import Environment
from {{ cookiecutter.package_name }}_pipeline.pins import Pin

from .accounts import PromotionError

#: Endpoint statuses that are on their way somewhere else.
MOVING = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")
#: Statuses promotion does not repair on its own.
STUCK = ("UpdateRollbackFailed", "OutOfService")
POLL_SECONDS = 2.0


def capture_config(pin: Pin, environment: Environment, slug: str) -> dict | None:
    capture = pin.capture
    if not capture.enabled:
        return None
    return {
        "EnableCapture": True,
        "InitialSamplingPercentage": capture.sampling_percent,
        "DestinationS3Uri": capture.destination or f"s3://{environment.bucket}/{slug}/capture",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {
            "CsvContentTypes": ["text/csv"],
            "JsonContentTypes": ["application/json"],
        },
        **({"KmsKeyId": environment.kms_key_id} if environment.kms_key_id else {}),
    }


def endpoint_config(pin: Pin, environment: Environment, slug: str) -> dict:
    """The ``CreateEndpointConfig`` request the pin describes, named by its content."""
    variants = []
    for variant in pin.variants:
        entry = {
            "VariantName": variant.name,
            "ModelName": pin.model_name(variant),
            "InitialVariantWeight": variant.weight,
        }
        if variant.serverless_memory_mb is not None:
            entry["ServerlessConfig"] = {
                "MemorySizeInMB": variant.serverless_memory_mb,
                "MaxConcurrency": variant.serverless_max_concurrency,
            }
        else:
            entry |= {
                "InstanceType": variant.instance_type,
                "InitialInstanceCount": variant.instance_count,
            }
        variants.append(entry)
    request = {"ProductionVariants": variants}
    capture = capture_config(pin, environment, slug)
    if capture:
        request["DataCaptureConfig"] = capture
    if environment.kms_key_id and not any("ServerlessConfig" in v for v in variants):
        request["KmsKeyId"] = environment.kms_key_id
    digest = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:10]
    return {"EndpointConfigName": f"{pin.endpoint[:52]}-{digest}", **request}


def deployment_config(pin: Pin) -> dict:
    """The pin's policy as ``UpdateEndpoint``'s ``DeploymentConfig``."""
    policy = pin.deployment
    routing: dict = {
        "Type": policy.strategy.upper(),
        "WaitIntervalInSeconds": policy.wait_seconds,
    }
    if policy.strategy == "canary":
        routing["CanarySize"] = {"Type": "CAPACITY_PERCENT", "Value": policy.step_percent}
    if policy.strategy == "linear":
        routing["LinearStepSize"] = {"Type": "CAPACITY_PERCENT", "Value": policy.step_percent}
    config: dict = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": policy.termination_wait_seconds,
            "MaximumExecutionTimeoutInSeconds": policy.maximum_execution_timeout_seconds,
        }
    }
    if policy.rollback_alarms:
        config["AutoRollbackConfiguration"] = {
            "Alarms": [{"AlarmName": name} for name in policy.rollback_alarms]
        }
    return config


@dataclass
class EndpointState:
    """What the account holds now, read without changing anything."""

    models: dict[str, bool]
    config_exists: bool
    endpoint: dict | None


def current_state(sagemaker, pin: Pin, config_name: str) -> EndpointState:
    models = {}
    for variant in pin.variants:
        name = pin.model_name(variant)
        models[name] = _exists(lambda n=name: sagemaker.describe_model(ModelName=n))
    config_exists = _exists(
        lambda: sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
    )
    try:
        endpoint = sagemaker.describe_endpoint(EndpointName=pin.endpoint)
    except ClientError as error:
        if "Could not find" not in error.response["Error"]["Message"]:
            raise
        endpoint = None
    return EndpointState(models, config_exists, endpoint)


def _exists(describe) -> bool:
    try:
        describe()
    except ClientError as error:
        if "Could not find" in error.response["Error"]["Message"]:
            return False
        raise
    return True


def same_variants(pin: Pin, endpoint: dict) -> bool:
    """Whether the pin keeps the endpoint's variant names (what blue/green deployment needs)."""
    serving = {variant["VariantName"] for variant in endpoint.get("ProductionVariants", [])}
    return serving == {variant.name for variant in pin.variants}


def changes(pin: Pin, state: EndpointState, config_name: str) -> list[str]:
    """What ``apply`` would do, one line a change."""
    endpoint = state.endpoint
    if endpoint is not None and endpoint["EndpointStatus"] in STUCK:
        raise PromotionError(
            f"{pin.endpoint} is {endpoint['EndpointStatus']} "
            f"({endpoint.get('FailureReason') or 'no reason given'}): SageMaker could not put "
            "it back on its own; a person restores it (see the rollback runbook) before "
            "promotion goes on"
        )
    lines = [f"create model {name}" for name, exists in state.models.items() if not exists]
    if not state.config_exists:
        shares = ", ".join(
            f"{v.name}: version {v.version}, weight {v.weight:g}" for v in pin.variants
        )
        lines.append(f"create endpoint config {config_name} ({shares})")
    if endpoint is None:
        lines.append(f"create endpoint {pin.endpoint}")
    elif endpoint["EndpointStatus"] == "Failed":
        lines.append(
            f"replace endpoint {pin.endpoint}, which is Failed "
            f"({endpoint.get('FailureReason') or 'no reason given'})"
        )
    elif endpoint["EndpointConfigName"] != config_name:
        how = (
            pin.deployment.strategy.replace("_", " ")
            if same_variants(pin, endpoint)
            else "all at once: the variants change, which blue/green deployment cannot shift"
        )
        lines.append(
            f"update endpoint {pin.endpoint} from {endpoint['EndpointConfigName']} to "
            f"{config_name} ({how})"
        )
    return lines


def apply(
    sagemaker,
    pin: Pin,
    environment: Environment,
    slug: str,
    copies: dict[str, str],
    log,
    timeout: float,
) -> bool:
    """Make the endpoint serve the pin; whether anything changed."""
    request = endpoint_config(pin, environment, slug)
    name = request["EndpointConfigName"]
    endpoint = wait_until_settled(sagemaker, pin.endpoint, timeout, log)
    state = current_state(sagemaker, pin, name)
    todo = changes(pin, state, name)
    if not todo:
        return False
    for variant in pin.variants:
        model = pin.model_name(variant)
        if not state.models[model]:
            sagemaker.create_model(
                ModelName=model,
                ExecutionRoleArn=environment.role_arn,
                PrimaryContainer={"ModelPackageName": copies[variant.name]},
            )
            log(f"  created model {model}")
    if not state.config_exists:
        sagemaker.create_endpoint_config(**request)
        log(f"  created endpoint config {name}")
    if endpoint is None or endpoint["EndpointStatus"] == "Failed":
        if endpoint is not None:  # a create that failed: make it again
            sagemaker.delete_endpoint(EndpointName=pin.endpoint)
            _wait_gone(sagemaker, pin.endpoint, timeout)
        sagemaker.create_endpoint(EndpointName=pin.endpoint, EndpointConfigName=name)
        log(f"  creating endpoint {pin.endpoint}")
    elif endpoint["EndpointConfigName"] != name:
        policy = (
            {"DeploymentConfig": deployment_config(pin)} if same_variants(pin, endpoint) else {}
        )
        sagemaker.update_endpoint(EndpointName=pin.endpoint, EndpointConfigName=name, **policy)
        log(f"  updating endpoint {pin.endpoint} to {name}")
    settled = wait_until_settled(sagemaker, pin.endpoint, timeout, log)
    if settled["EndpointStatus"] != "InService" or settled["EndpointConfigName"] != name:
        raise PromotionError(
            f"{pin.endpoint} in {environment.name} is {settled['EndpointStatus']} on "
            f"{settled['EndpointConfigName']}, not on {name}: "
            f"{settled.get('FailureReason') or 'the update was rolled back'}. The pin was not "
            "applied; fix the version or revert the pin"
        )
    log(f"  {pin.endpoint} is InService on {name}")
    return True


def wait_until_settled(sagemaker, name: str, timeout: float, log) -> dict | None:
    """The endpoint once no create, update or rollback is under way (None: there is none)."""
    deadline = time.monotonic() + timeout
    said = False
    while True:
        try:
            endpoint = sagemaker.describe_endpoint(EndpointName=name)
        except ClientError as error:
            if "Could not find" in error.response["Error"]["Message"]:
                return None
            raise
        if endpoint["EndpointStatus"] not in MOVING:
            return endpoint
        if not said:
            log(f"  waiting for {name}: {endpoint['EndpointStatus']}")
            said = True
        if time.monotonic() > deadline:
            raise PromotionError(
                f"{name} is still {endpoint['EndpointStatus']} after {timeout:.0f} s: run "
                "apply again later (it picks up where this run stopped)"
            )
        time.sleep(POLL_SECONDS)


def _wait_gone(sagemaker, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            sagemaker.describe_endpoint(EndpointName=name)
        except ClientError:
            return
        time.sleep(POLL_SECONDS)
    raise PromotionError(f"{name} is still being deleted after {timeout:.0f} s")
