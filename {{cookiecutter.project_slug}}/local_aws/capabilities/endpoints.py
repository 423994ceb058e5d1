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
  while the endpoint is not ``InService``, as AWS does. A ``DeploymentConfig`` that shifts traffic
  (canary, linear, baking periods, alarm rollback) runs as ``blue_green`` describes.
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

import contextlib
import functools
import json
import logging
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass, field

from moto.backends import get_backend
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig, SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse

from local_aws.capabilities import blue_green
from local_aws.capabilities.async_inference import AsyncQueue
from local_aws.capabilities.blue_green import SplitVariant
from local_aws.capabilities.model_servers import (
    INVOCATION_TIMEOUT,
    STARTUP_SECONDS,
    Container,
    ModelServer,
    ServerError,
)
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
    in_flight: int = 0
    _count: threading.Lock = field(default_factory=threading.Lock)

    def pick(self, target_variant: str | None) -> tuple[str, ModelServer] | None:
        """The variant for one request: ``target_variant``, else by weight."""
        if target_variant is not None:
            name = target_variant if target_variant in self.servers else None
        else:
            weights = {name: self.weights.get(name, 0.0) for name in self.servers}
            names = [name for name, weight in weights.items() if weight > 0]
            name = random.choices(names, weights=[weights[n] for n in names])[0] if names else None
        if name is None:
            return None
        server = self.servers[name]
        # A variant whose traffic shifts (blue/green) answers from one of its two fleets.
        return name, server.choose() if isinstance(server, SplitVariant) else server

    @contextlib.contextmanager
    def serving(self):
        """Count a request in flight while it is served (an update waits for them to end)."""
        with self._count:
            self.in_flight += 1
        try:
            yield
        finally:
            with self._count:
                self.in_flight -= 1

    def drain(self, timeout: float = INVOCATION_TIMEOUT) -> None:
        """Wait for the requests in flight to end (or ``timeout``), as AWS drains a fleet."""
        deadline = time.monotonic() + timeout
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.05)

    def drain_and_stop(self, timeout: float = INVOCATION_TIMEOUT) -> None:
        """Stop once the requests in flight have ended: the old fleet of an updated endpoint."""
        self.drain(timeout)
        self.stop()

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()


class Hosting:
    """The live endpoints of this local AWS: ``(account, region, name)`` → LiveEndpoint.

    Each create, update or recovery of an endpoint gets a token; what a deploy started is put in
    service only if its token is still the endpoint's (not deleted, not updated again since)
    and the local AWS is not stopping, else it is stopped.
    """

    def __init__(self, context: Context):
        self.context = context
        self.live: dict[tuple[str, str, str], LiveEndpoint] = {}
        self.tokens: dict[tuple[str, str, str], str] = {}
        #: Asynchronous requests per endpoint: the queue outlives config changes.
        self.queues: dict[tuple[str, str, str], AsyncQueue] = {}
        self.stopping = False
        #: Fleets a deployment replaced, waiting out their termination wait.
        self.retiring: list[LiveEndpoint] = []
        self._deploys: list[threading.Thread] = []
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

    def new_token(self, account: str, region: str, name: str) -> str:
        token = uuid.uuid4().hex
        self.tokens[(account, region, name)] = token
        return token

    def current(self, account: str, region: str, name: str, token: str) -> bool:
        return not self.stopping and self.tokens.get((account, region, name)) == token

    def forget(self, account: str, region: str, name: str) -> None:
        """The endpoint is deleted: stop what serves it, its queue included."""
        key = (account, region, name)
        self.tokens.pop(key, None)
        queue = self.queues.pop(key, None)
        if queue is not None:
            queue.close()
        live = self.put(account, region, name, None)
        if live is not None:
            threading.Thread(target=live.stop, daemon=True).start()

    def set_queue(self, context: Context, account, region, name, config: dict | None) -> None:
        """The endpoint's queue of asynchronous requests, as its config now asks."""
        key = (account, region, name)
        queue = self.queues.get(key)
        if config and queue is None:
            self.queues[key] = AsyncQueue(context, self, key, config)
        elif config:
            queue.config = config
        elif queue is not None:
            self.queues.pop(key).close()

    def retire(self, split: LiveEndpoint, fleet: LiveEndpoint, wait: float) -> None:
        """Stop ``fleet`` once ``wait`` seconds have passed and the requests the shifting
        endpoint (``split``) had in flight have ended; ``stop_all`` stops it sooner."""
        with self._lock:
            self.retiring.append(fleet)

        def retire() -> None:
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and not self.stopping:
                time.sleep(0.2)
            split.drain()  # its servers are the two fleets': stop only the one retired
            fleet.drain_and_stop()
            with self._lock:
                if fleet in self.retiring:
                    self.retiring.remove(fleet)

        threading.Thread(target=retire, daemon=True).start()

    def start_deploy(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._deploys = [t for t in self._deploys if t.is_alive()] + [thread]
        thread.start()

    def stop_all(self) -> None:
        self.stopping = True
        with self._lock:
            deploys = list(self._deploys)
        for thread in deploys:
            thread.join(timeout=STARTUP_SECONDS)
        for queue in self.queues.values():
            queue.close()
        with self._lock:
            endpoints, self.live = list(self.live.values()), {}
            endpoints += self.retiring
            self.retiring = []
        for live in endpoints:
            live.stop()


def hosting(context: Context) -> Hosting:
    return context.shared[HOSTING]


# --- deploying ----------------------------------------------------------------------------------


def start_config(
    context: Context,
    account: str,
    region: str,
    endpoint: str,
    config: FakeEndpointConfig,
    weights: dict[str, float] | None = None,
) -> LiveEndpoint:
    """Start a server for each variant of ``config``; raise ServerError (none left running).

    ``weights`` (a recovered endpoint's current ones) override the config's initial weights.
    """
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
                live.servers[name] = ServerlessVariant(make, variant["ServerlessConfig"], container)
            else:
                live.servers[name] = server = make()
                server.start()
            live.weights[name] = float(
                (weights or {}).get(name, variant.get("InitialVariantWeight", 1.0))
            )
    except BaseException:
        live.stop()
        raise
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


def _deploy(context: Context, account: str, region: str, name: str, token: str, kind: str) -> None:
    """Thread body of a create, update or recovery (``kind``): start the pending config's
    servers and put them in service, if the deploy is still the endpoint's own."""
    backend = get_backend("sagemaker")[account][region]
    places = hosting(context)
    endpoint = None
    try:
        with context.lock:
            endpoint = backend.endpoints[name]
            config = backend.endpoint_configs[endpoint.pending_config]
            weights = None
            if kind == "recovery":
                weights = {
                    v["VariantName"]: v["CurrentWeight"]
                    for v in endpoint.production_variants
                    if v.get("CurrentWeight") is not None
                }
        live = start_config(context, account, region, name, config, weights)
    except Exception as error:  # ServerError, a deleted config or model, or a defect
        reason = str(error) if isinstance(error, ServerError) else f"InternalServerError: {error!r}"
        log.info("endpoint %s: %s", name, reason)
        with context.lock:
            if endpoint is not None and places.current(account, region, name, token):
                if kind == "recovery":
                    reason = f"The local AWS could not bring the endpoint back: {reason}"
                endpoint.failure_reason = reason
                endpoint.endpoint_status = "InService" if kind == "update" else "Failed"
                endpoint.last_modified_time = utcnow()
                endpoint.pending_config = None
                context.store.save(["sagemaker"])
        return
    shift = None
    if kind == "update":
        shift = blue_green.traffic_shift(
            endpoint.last_deployment_config, config.production_variants
        )
    if shift is not None:
        _shift_traffic(context, account, region, name, token, endpoint, config, live, shift)
        return
    previous = None
    with context.lock:
        stale = not places.current(account, region, name, token)
        stale = stale or backend.endpoints.get(name) is not endpoint
        if not stale:
            previous = _put_in_service(context, account, region, endpoint, config, live, kind)
    if stale:  # deleted, updated again or the local AWS is stopping: never served
        live.stop()
    elif previous is not None:
        threading.Thread(target=previous.drain_and_stop, daemon=True).start()


def _put_in_service(context, account, region, endpoint, config, live, kind) -> LiveEndpoint | None:
    """``live`` serves the endpoint on ``config`` (under the state lock); what served before."""
    name = endpoint.endpoint_name
    places = hosting(context)
    previous = places.put(account, region, name, live)
    places.set_queue(context, account, region, name, config.async_inference_config)
    endpoint.endpoint_config_name = config.endpoint_config_name
    endpoint.production_variants = _variants_in_service(config, live)
    endpoint.data_capture_config = config.data_capture_config
    endpoint.endpoint_status = "InService"
    if kind != "recovery":
        endpoint.failure_reason = None
    endpoint.pending_config = None
    endpoint.pending_deployment_summary = None
    endpoint.last_modified_time = utcnow()
    context.store.save(["sagemaker"])
    return previous


def _shift_traffic(context, account, region, name, token, endpoint, config, green, shift) -> None:
    """Move each variant's traffic from the serving fleet to ``green`` in ``shift``'s steps,
    baking after each; roll back to the serving fleet when an alarm fires."""
    backend = get_backend("sagemaker")[account][region]
    places = hosting(context)
    started = time.monotonic()

    def still_ours() -> bool:
        return places.current(account, region, name, token) and (
            backend.endpoints.get(name) is endpoint
        )

    with context.lock:
        blue = places.get(account, region, name)
        if not still_ours():
            green.stop()
            return
        if blue is None or set(blue.servers) != set(green.servers):
            green.stop()
            _abandon(context, endpoint, "The serving fleet changed before traffic could shift.")
            return
        split = LiveEndpoint(blue.config_name, data_capture=blue.data_capture)
        split.servers = {
            variant: blue_green.SplitVariant(blue.servers[variant], green.servers[variant])
            for variant in green.servers
        }
        split.weights = dict(green.weights)
        split.ready.set()
        places.put(account, region, name, split)
        endpoint.pending_deployment_summary = {
            "EndpointConfigName": config.endpoint_config_name,
            "ProductionVariants": _variants_in_service(config, green),
            "StartTime": utcnow(),
        }
        context.store.save(["sagemaker"])
    reason = None
    for step in range(len(shift.steps)):
        for variant_name, variant in split.servers.items():
            variant.share = shift.share(variant_name, step)
        reason = _bake(context, account, region, shift, started, still_ours)
        if reason:
            break
    with context.lock:
        if not still_ours():  # deleted meanwhile: what served it is stopped already
            return
        if reason is None:
            _put_in_service(context, account, region, endpoint, config, green, "update")
        else:
            for variant in split.servers.values():
                variant.share = 0.0
            places.put(account, region, name, blue)
            _abandon(context, endpoint, reason)
    retired, wait = (blue, shift.termination_wait_seconds) if reason is None else (green, 0.0)
    places.retire(split, retired, wait)


def _abandon(context, endpoint, reason: str) -> None:
    """An update that did not go through (cannot shift, rolled back): the endpoint is
    ``InService`` on what serves it, the reason recorded (under the lock)."""
    endpoint.endpoint_status = "InService"
    endpoint.failure_reason = reason
    endpoint.pending_config = None
    endpoint.pending_deployment_summary = None
    endpoint.last_modified_time = utcnow()
    context.store.save(["sagemaker"])


def _bake(context, account, region, shift, started, still_ours) -> str | None:
    """Wait a baking period watching the rollback alarms: why to roll back, if anything."""
    deadline = time.monotonic() + shift.wait_seconds
    cloudwatch = get_backend("cloudwatch")[account][region]
    while True:
        with context.lock:
            if not still_ours():
                return "The endpoint was deleted during the deployment."
            firing = [
                alarm.name
                for alarm in cloudwatch.get_alarms_by_alarm_names(list(shift.alarms))
                if alarm.state_value == "ALARM"
            ]
        if firing:
            return (
                f"The deployment was rolled back: the CloudWatch alarm {firing[0]} went into ALARM."
            )
        if time.monotonic() - started > shift.maximum_seconds:
            return (
                "The deployment was rolled back: it did not finish within "
                f"MaximumExecutionTimeoutInSeconds ({shift.maximum_seconds:.0f} s)."
            )
        if time.monotonic() >= deadline:
            return None
        time.sleep(min(0.5, max(deadline - time.monotonic(), 0.01)))


def _start_deploy(context: Context, account: str, region: str, name: str, kind: str) -> None:
    token = hosting(context).new_token(account, region, name)
    hosting(context).start_deploy(_deploy, context, account, region, name, token, kind)


# --- the API ------------------------------------------------------------------------------------


def _create_model(original):
    def create_model(self: SageMakerResponse):
        request = json.loads(self.body)
        if "ExecutionRoleArn" in request:
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
            _start_deploy(context, self.current_account, self.region, name, "create")
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
            new_config = backend.describe_endpoint_config(request["EndpointConfigName"])
            serving = backend.endpoint_configs[endpoint.endpoint_config_name]
            cloudwatch = get_backend("cloudwatch")[self.current_account][self.region]
            problems = blue_green.problems(
                request.get("DeploymentConfig"),
                serving.production_variants,
                new_config["ProductionVariants"],
                {alarm.name for alarm in cloudwatch.alarms.values()},
            )
            if problems:
                raise ValidationError(" ".join(problems))
            endpoint.endpoint_status = "Updating"
            endpoint.pending_config = request["EndpointConfigName"]
            endpoint.last_deployment_config = request.get("DeploymentConfig")
            endpoint.last_modified_time = utcnow()
            _start_deploy(
                context, self.current_account, self.region, endpoint.endpoint_name, "update"
            )
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
    def make(_original):
        def update_endpoint_weights_and_capacities(
            self: SageMakerModelBackend, endpoint_name: str, desired_weights_and_capacities
        ):
            """Merge what the call names into the variants (moto blanks what it omits)."""
            endpoint = _existing(self, endpoint_name)
            if endpoint.endpoint_status != "InService":
                raise ValidationError(f'Cannot update in-progress endpoint "{endpoint.arn}".')
            variants = {v["VariantName"]: v for v in endpoint.production_variants}
            names = [item.get("VariantName") for item in desired_weights_and_capacities]
            for name in names:
                if names.count(name) > 1:
                    raise ValidationError(
                        f'The variant name "{name}" was non-unique within the request.'
                    )
                if name not in variants:
                    raise ValidationError(
                        f'The variant name(s) "{name}" is/are not present within endpoint '
                        f'configuration "{endpoint.endpoint_config_name}".'
                    )
            live = hosting(context).get(self.account_id, self.region_name, endpoint_name)
            for item in desired_weights_and_capacities:
                variant = variants[item["VariantName"]]
                if item.get("DesiredWeight") is not None:
                    variant["CurrentWeight"] = variant["DesiredWeight"] = item["DesiredWeight"]
                    if live is not None:
                        live.weights[item["VariantName"]] = float(item["DesiredWeight"])
                if item.get("DesiredInstanceCount") is not None:
                    count = item["DesiredInstanceCount"]
                    variant["CurrentInstanceCount"] = variant["DesiredInstanceCount"] = count
            endpoint.last_modified_time = utcnow()
            return endpoint.arn

        return update_endpoint_weights_and_capacities

    return make


def _delete_endpoint(context: Context):
    def make(original):
        def delete_endpoint(self: SageMakerModelBackend, endpoint_name: str):
            original(self, endpoint_name)
            hosting(context).forget(self.account_id, self.region_name, endpoint_name)

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
    """Bring back every endpoint that served when the local AWS stopped (or died).

    It shows ``SystemUpdating`` (AWS's status while it works on an endpoint) until its servers
    answer; invocations wait for them meanwhile. An update that was under way is abandoned: the
    endpoint comes back on its previous config.
    """
    brought_back = []
    places = hosting(context)
    with context.lock:
        for account, region, backend in sagemaker_backends():
            for endpoint in backend.endpoints.values():
                name, status = endpoint.endpoint_name, endpoint.endpoint_status
                if status == "Creating":
                    brought_back.append(f"resumed creating endpoint {name}")
                    _start_deploy(context, account, region, name, "create")
                    continue
                if status not in ("InService", "Updating", "SystemUpdating", "RollingBack"):
                    continue
                endpoint.pending_deployment_summary = None
                if status in ("Updating", "RollingBack"):
                    endpoint.failure_reason = (
                        "The update was interrupted by a restart of the local AWS; the "
                        "endpoint serves its previous configuration."
                    )
                endpoint.pending_config = endpoint.endpoint_config_name
                endpoint.endpoint_status = "SystemUpdating"
                placeholder = LiveEndpoint(endpoint.endpoint_config_name)
                places.put(account, region, name, placeholder)
                token = places.new_token(account, region, name)
                places.start_deploy(_bring_back, context, account, region, name, token, placeholder)
                brought_back.append(f"bringing back endpoint {name}")
        context.store.save(["sagemaker"])
    return brought_back


def _bring_back(context, account, region, name, token, placeholder: LiveEndpoint) -> None:
    started = time.monotonic()
    try:
        _deploy(context, account, region, name, token, "recovery")
    finally:
        places = hosting(context)
        if places.get(account, region, name) is placeholder:  # it did not come back
            places.put(account, region, name, None)
        placeholder.ready.set()  # requests waiting for it stop waiting
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
