"""Real-time endpoints: models, endpoint configurations and endpoints, served for real.

moto records models, endpoint configs and endpoints and marks an endpoint InService at once with
nothing behind it. Here each production variant of an endpoint is a model server
(``model_servers``) started when the endpoint is created, and the endpoint moves as on AWS:

- ``CreateModel`` takes an image with ``ModelDataUrl`` and ``Environment``, or a versioned
  ``ModelPackageName`` whose inference specification supplies them, refused when that version is
  not ``Approved``; a role SageMaker could not assume is refused. One container per model.
- ``CreateEndpoint``: ``Creating`` → ``InService`` once every variant's server answers ``/ping``,
  or ``Failed`` with AWS's ``FailureReason`` (a model that will not load, a missing artifact).
- ``UpdateEndpoint``: ``Updating`` while the new config's servers start; the old config serves
  until they are healthy, then they take the traffic and the old servers stop. A failed update
  leaves the endpoint ``InService`` on the old config, the reason in ``FailureReason``. Refused
  while the endpoint is not ``InService``, as AWS does. Its ``DeploymentConfig`` is recorded and
  applied all at once (traffic shifting and alarm rollback belong to promotion).
- ``UpdateEndpointWeightsAndCapacities`` moves the traffic at once; ``DeleteEndpoint`` stops the
  servers. Names already taken are refused (moto would replace the endpoint or config).
- The local AWS keeps serving across restarts, as endpoints do on AWS: on start it brings every
  endpoint that was ``InService`` (or being updated) back on its current config, in the
  background; requests wait for it.

Serverless variants (``ServerlessConfig``) start their server on the first request and stop it
when idle (``serverless``); an ``AsyncInferenceConfig`` queues ``InvokeEndpointAsync`` requests
(``async_inference``). Not emulated, refused with a message saying so: provisioned concurrency,
several containers per model, inference components, and ``ModelDataSource`` (uncompressed
models). Instance types are recorded; a variant's instance count becomes its server's number of
workers.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import re
import threading
import time
from dataclasses import dataclass, field

from moto.backends import get_backend
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig, SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse

from local_aws.capabilities.async_inference import AsyncQueue
from local_aws.capabilities.model_servers import Container, ModelServer, ServerError
from local_aws.capabilities.sagemaker_job import NOT_EMULATED, check_role, sagemaker_backends
from local_aws.capabilities.serverless import ServerlessVariant
from local_aws.capability import Capability, Context, patch

log = logging.getLogger(__name__)

HOSTING = "hosting"
_PACKAGE_ARN = re.compile(r"^arn:aws[\w-]*:sagemaker:([\w-]+):(\d{12}):model-package/(.+)$")
#: How long an invocation waits for an endpoint the local AWS is bringing back after a restart.
RECOVERY_WAIT_SECONDS = 120.0


@dataclass
class LiveEndpoint:
    """What serves an endpoint now: one server per variant, and the traffic weights."""

    config_name: str
    servers: dict[str, ModelServer] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    data_capture: dict | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    #: The endpoint's asynchronous requests, when its config has an AsyncInferenceConfig.
    async_queue: AsyncQueue | None = None

    def pick(self, target_variant: str | None) -> tuple[str, ModelServer] | None:
        """The variant for one request: ``target_variant``, else by weight."""
        if target_variant is not None:
            server = self.servers.get(target_variant)
            return (target_variant, server) if server else None
        names = [name for name in self.servers if self.weights.get(name, 0) > 0]
        if not names:
            return None
        name = random.choices(names, weights=[self.weights[n] for n in names])[0]
        return name, self.servers[name]

    def stop(self) -> None:
        if self.async_queue is not None:
            self.async_queue.close()
        for server in self.servers.values():
            server.stop()


class Hosting:
    """The live endpoints of this local AWS: ``(account, region, name)`` → LiveEndpoint."""

    def __init__(self, context: Context):
        self.context = context
        self.live: dict[tuple[str, str, str], LiveEndpoint] = {}
        self._lock = threading.Lock()

    def get(self, account: str, region: str, name: str) -> LiveEndpoint | None:
        return self.live.get((account, region, name))

    def put(self, account: str, region: str, name: str, live: LiveEndpoint | None):
        """Make ``live`` serve the endpoint; return what served it before."""
        with self._lock:
            key = (account, region, name)
            previous = self.live.pop(key, None)
            if live is not None:
                self.live[key] = live
            return previous

    def stop_all(self) -> None:
        with self._lock:
            endpoints, self.live = list(self.live.values()), {}
        for live in endpoints:
            live.stop()


def hosting(context: Context) -> Hosting:
    return context.shared[HOSTING]


# --- deploying ----------------------------------------------------------------------------------


def start_config(
    context: Context, account: str, region: str, endpoint: str, config: FakeEndpointConfig
) -> LiveEndpoint:
    """Start a server for each variant of ``config``; raise ServerError (none left running)."""
    backend = get_backend("sagemaker")[account][region]
    live = LiveEndpoint(config.endpoint_config_name, data_capture=config.data_capture_config)
    try:
        for variant in config.production_variants:
            name = variant["VariantName"]
            container = resolve_container(backend, variant["ModelName"])
            make = functools.partial(
                ModelServer.for_variant,
                context,
                account,
                region,
                endpoint,
                name,
                container,
                int(variant.get("InitialInstanceCount") or 1),
            )
            if "ServerlessConfig" in variant:
                live.servers[name] = ServerlessVariant(make, variant["ServerlessConfig"])
            else:
                live.servers[name] = server = make()
                server.start()
            live.weights[name] = float(variant.get("InitialVariantWeight", 1.0))
    except BaseException:
        live.stop()
        raise
    if config.async_inference_config:
        live.async_queue = AsyncQueue(context, live, config.async_inference_config)
    live.ready.set()
    return live


def resolve_container(backend: SageMakerModelBackend, model_name: str) -> Container:
    """The image, artifact and environment a model runs, its model package's if it names one."""
    model = backend.describe_model(model_name)
    container = model.primary_container or model.containers[0]
    environment = dict(container.get("Environment") or {})
    package_name = container.get("ModelPackageName")
    if package_name:
        package = find_model_package(backend, package_name)
        specified = package.inference_specification["Containers"][0]
        environment = {**(specified.get("Environment") or {}), **environment}
        return Container(
            specified["Image"], specified.get("ModelDataUrl"), environment, model.execution_role_arn
        )
    return Container(
        container.get("Image", ""),
        container.get("ModelDataUrl"),
        environment,
        model.execution_role_arn,
    )


def find_model_package(backend: SageMakerModelBackend, name: str):
    """A model package by name or ARN (an ARN may name another account's registry)."""
    match = _PACKAGE_ARN.match(name)
    if match:
        backend = get_backend("sagemaker")[match.group(2)][match.group(1)]
    return backend.describe_model_package(name)


def _variants_in_service(config: FakeEndpointConfig, live: LiveEndpoint) -> list[dict]:
    """``ProductionVariants`` as DescribeEndpoint shows them once the config serves."""
    variants = []
    for variant in config.production_variants:
        name = variant["VariantName"]
        count = int(variant.get("InitialInstanceCount") or 1)
        weight = live.weights.get(name, float(variant.get("InitialVariantWeight", 1.0)))
        server = live.servers[name]
        described = {
            "VariantName": name,
            "DeployedImages": [
                {
                    "SpecifiedImage": server.container.image,
                    "ResolvedImage": server.container.image,
                    "ResolutionTime": utcnow(),
                }
            ],
            "CurrentWeight": weight,
            "DesiredWeight": weight,
        }
        if "ServerlessConfig" in variant:
            described["CurrentServerlessConfig"] = variant["ServerlessConfig"]
            described["DesiredServerlessConfig"] = variant["ServerlessConfig"]
        else:
            described["CurrentInstanceCount"] = described["DesiredInstanceCount"] = count
        variants.append(described)
    return variants


def _deploy(context: Context, account: str, region: str, name: str, update: bool) -> None:
    """Thread body of Create/UpdateEndpoint: start the config's servers and record the end."""
    backend = get_backend("sagemaker")[account][region]
    with context.lock:
        endpoint = backend.endpoints[name]
        config = backend.endpoint_configs[endpoint.pending_config]
    try:
        live = start_config(context, account, region, name, config)
    except Exception as error:  # ServerError, or a defect: the endpoint must not stay Creating
        reason = str(error) if isinstance(error, ServerError) else f"InternalServerError: {error}"
        log.info("endpoint %s: %s", name, reason)
        with context.lock:
            endpoint.failure_reason = reason
            endpoint.endpoint_status = "InService" if update else "Failed"
            endpoint.last_modified_time = utcnow()
            endpoint.pending_config = None
            context.store.save(["sagemaker"])
        return
    previous = hosting(context).put(account, region, name, live)
    with context.lock:
        endpoint.endpoint_config_name = config.endpoint_config_name
        endpoint.production_variants = _variants_in_service(config, live)
        endpoint.data_capture_config = config.data_capture_config
        endpoint.endpoint_status = "InService"
        endpoint.failure_reason = None
        endpoint.pending_config = None
        endpoint.last_modified_time = utcnow()
        context.store.save(["sagemaker"])
    if previous is not None:
        previous.stop()


def _start_deploy(context: Context, account: str, region: str, name: str, update: bool) -> None:
    threading.Thread(
        target=_deploy, args=(context, account, region, name, update), daemon=True
    ).start()


# --- the API ------------------------------------------------------------------------------------


def _create_model(original):
    def create_model(self: SageMakerResponse):
        request = json.loads(self.body)
        check_role(request["ExecutionRoleArn"])
        if request["ModelName"] in self.sagemaker_backend._models:
            model = self.sagemaker_backend._models[request["ModelName"]]
            raise ValidationError(f'Cannot create already existing model "{model.arn}".')
        containers = request.get("Containers") or []
        if "PrimaryContainer" in request:
            containers = [request["PrimaryContainer"]]
        if len(containers) != 1:
            raise ValidationError(
                f"a model of {len(containers)} containers (an inference pipeline) {NOT_EMULATED}"
            )
        container = containers[0]
        if "ModelDataSource" in container:
            raise ValidationError(f"ModelDataSource (an uncompressed model) {NOT_EMULATED}")
        package_name = container.get("ModelPackageName")
        if package_name:
            _check_approved(self.sagemaker_backend, package_name)
        elif not container.get("Image"):
            raise ValidationError("The container must specify an Image or a ModelPackageName.")
        return original(self)

    return create_model


def _check_approved(backend: SageMakerModelBackend, package_name: str) -> None:
    """SageMaker deploys a versioned package only once it is Approved."""
    try:
        package = find_model_package(backend, package_name)
    except (ValidationError, KeyError) as error:
        raise ValidationError(f"ModelPackage {package_name} does not exist.") from error
    if package.model_package_group_name and package.model_approval_status != "Approved":
        raise ValidationError(
            f"Cannot create a model from model package {package.arn}: its ModelApprovalStatus "
            f"is {package.model_approval_status}, and only an Approved model package version "
            "can be deployed."
        )


def _create_endpoint_config(original):
    def create_endpoint_config(self: SageMakerResponse):
        request = json.loads(self.body)
        configs = self.sagemaker_backend.endpoint_configs
        name = request["EndpointConfigName"]
        if name in configs:
            raise ValidationError(
                "Cannot create already existing endpoint configuration "
                f'"{configs[name].endpoint_config_arn}".'
            )
        problems = []
        for variant in request["ProductionVariants"]:
            subject = f"ProductionVariant {variant['VariantName']!r}"
            if "ServerlessConfig" in variant:
                if variant["ServerlessConfig"].get("ProvisionedConcurrency"):
                    problems.append(f"{subject}: ProvisionedConcurrency {NOT_EMULATED}")
            elif not variant.get("InstanceType") or not variant.get("InitialInstanceCount"):
                problems.append(
                    f"{subject}: InstanceType and InitialInstanceCount are required for an "
                    "instance-based variant"
                )
        if problems:
            raise ValidationError("; ".join(problems))
        return original(self)

    return create_endpoint_config


def _create_endpoint(context: Context):
    def make(original):
        def create_endpoint(self: SageMakerResponse):
            request = json.loads(self.body)
            backend = self.sagemaker_backend
            name = request["EndpointName"]
            if name in backend.endpoints:
                raise ValidationError(
                    f'Cannot create already existing endpoint "{backend.endpoints[name].arn}".'
                )
            result = original(self)
            endpoint = backend.endpoints[name]
            endpoint.endpoint_status = "Creating"
            endpoint.pending_config = request["EndpointConfigName"]
            _start_deploy(context, self.current_account, self.region, name, update=False)
            return result

        return create_endpoint

    return make


def _update_endpoint(context: Context):
    def make(_original):
        def update_endpoint(self: SageMakerResponse):
            request = json.loads(self.body)
            backend = self.sagemaker_backend
            endpoint = _existing(backend, request["EndpointName"])
            if endpoint.endpoint_status != "InService":
                raise ValidationError(f'Cannot update in-progress endpoint "{endpoint.arn}".')
            backend.describe_endpoint_config(request["EndpointConfigName"])  # it must exist
            endpoint.endpoint_status = "Updating"
            endpoint.pending_config = request["EndpointConfigName"]
            endpoint.last_deployment_config = request.get("DeploymentConfig")
            endpoint.last_modified_time = utcnow()
            _start_deploy(context, self.current_account, self.region, endpoint.endpoint_name, True)
            return ActionResult({"EndpointArn": endpoint.arn})

        return update_endpoint

    return make


def _existing(backend: SageMakerModelBackend, name: str) -> FakeEndpoint:
    endpoint = backend.endpoints.get(name)
    if endpoint is None:
        arn = FakeEndpoint.arn_formatter(name, backend.account_id, backend.region_name)
        raise ValidationError(f'Could not find endpoint "{arn}".')
    return endpoint


def _update_weights(context: Context):
    def make(original):
        def update_endpoint_weights_and_capacities(
            self: SageMakerModelBackend, endpoint_name: str, desired_weights_and_capacities
        ):
            endpoint = _existing(self, endpoint_name)
            if endpoint.endpoint_status != "InService":
                raise ValidationError(f'Cannot update in-progress endpoint "{endpoint.arn}".')
            arn = original(self, endpoint_name, desired_weights_and_capacities)
            live = hosting(context).get(self.account_id, self.region_name, endpoint_name)
            if live is not None:
                for variant in desired_weights_and_capacities:
                    if variant.get("DesiredWeight") is not None:
                        live.weights[variant["VariantName"]] = float(variant["DesiredWeight"])
            return arn

        return update_endpoint_weights_and_capacities

    return make


def _delete_endpoint(context: Context):
    def make(original):
        def delete_endpoint(self: SageMakerModelBackend, endpoint_name: str):
            original(self, endpoint_name)
            live = hosting(context).put(self.account_id, self.region_name, endpoint_name, None)
            if live is not None:
                threading.Thread(target=live.stop, daemon=True).start()

        return delete_endpoint

    return make


# --- the capability -----------------------------------------------------------------------------


def install(context: Context) -> None:
    context.shared[HOSTING] = Hosting(context)
    patch(SageMakerResponse, "create_model", _create_model)
    patch(SageMakerResponse, "create_endpoint_config", _create_endpoint_config)
    patch(SageMakerResponse, "create_endpoint", _create_endpoint(context))
    patch(SageMakerResponse, "update_endpoint", _update_endpoint(context))
    patch(
        SageMakerModelBackend,
        "update_endpoint_weights_and_capacities",
        _update_weights(context),
    )
    patch(SageMakerModelBackend, "delete_endpoint", _delete_endpoint(context))
    # moto's record has no place for these; older states have none
    FakeEndpoint.pending_config = None
    FakeEndpoint.last_deployment_config = None


def recover(context: Context) -> list[str]:
    """Bring back every endpoint that served when the local AWS stopped (or died)."""
    brought_back = []
    with context.lock:
        for account, region, backend in sagemaker_backends():
            for endpoint in backend.endpoints.values():
                name = endpoint.endpoint_name
                if endpoint.endpoint_status == "Creating":
                    brought_back.append(f"resumed creating endpoint {name}")
                    _start_deploy(context, account, region, name, update=False)
                    continue
                if endpoint.endpoint_status not in ("InService", "Updating"):
                    continue
                if endpoint.endpoint_status == "Updating":
                    endpoint.endpoint_status = "InService"
                    endpoint.failure_reason = (
                        "The update was interrupted by a restart of the local AWS; the "
                        "endpoint serves its previous configuration."
                    )
                endpoint.pending_config = endpoint.endpoint_config_name
                endpoint.endpoint_status = "InService"
                placeholder = LiveEndpoint(endpoint.endpoint_config_name)
                hosting(context).put(account, region, name, placeholder)
                threading.Thread(
                    target=_bring_back,
                    args=(context, account, region, name, placeholder),
                    daemon=True,
                ).start()
                brought_back.append(f"bringing back endpoint {name}")
        context.store.save(["sagemaker"])
    return brought_back


def _bring_back(context, account, region, name, placeholder: LiveEndpoint) -> None:
    started = time.monotonic()
    _deploy(context, account, region, name, update=True)
    live = hosting(context).get(account, region, name)
    if live is placeholder:  # it did not come back: requests stop waiting for it
        hosting(context).put(account, region, name, None)
    placeholder.ready.set()
    log.info("endpoint %s back in %.1f s", name, time.monotonic() - started)


def stop(context: Context) -> None:
    """Stop every server; the endpoints stay InService and come back with the local AWS."""
    hosting(context).stop_all()


CAPABILITY = Capability(
    name="endpoints",
    persists=("sagemaker",),
    requires=("AWS services", "S3 storage"),
    install=install,
    recover=recover,
    stop=stop,
)
