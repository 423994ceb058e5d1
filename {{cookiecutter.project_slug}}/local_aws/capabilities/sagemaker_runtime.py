"""The SageMaker runtime: ``InvokeEndpoint`` answered by the endpoint's model servers.

moto answers every invocation with a canned body. Here a request goes to one of the endpoint's
variants (``TargetVariant``, else drawn by weight), as SageMaker sends it to the container: the
body, ``Content-Type``, ``Accept`` and ``CustomAttributes`` (the container's own custom
attributes come back). The answer carries ``InvokedProductionVariant``; a container's error
(4xx or 5xx) becomes AWS's ``ModelError`` (HTTP 424) with ``OriginalStatusCode``,
``OriginalMessage`` and the ``LogStreamArn`` of the endpoint's log group; a container that takes
more than 60 s is a ``ModelError`` too. The request checks refuse what AWS refuses (a body over
6 MB, an ``InferenceId`` over 64 characters, an endpoint name with ``_``), since this operation's
request is read like any other (REST-JSON).

Invocations never take the state lock: the live endpoints are in memory, and what an invocation
adds (captured data, the endpoint metrics) is buffered and written in the background
(``data_capture``, ``endpoint_metrics``).
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import unquote

from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

from local_aws.capabilities import async_inference, data_capture
from local_aws.capabilities.endpoint_metrics import METRICS, EndpointMetrics, endpoint_metrics
from local_aws.capabilities.endpoints import RECOVERY_WAIT_SECONDS, hosting
from local_aws.capabilities.model_servers import INVOCATION_TIMEOUT, LOG_GROUP, ServerError
from local_aws.capabilities.serverless import MAX_BODY_BYTES as MAX_SERVERLESS_BODY
from local_aws.capabilities.serverless import ServerlessVariant, Throttled
from local_aws.capability import Capability, Context, patch

CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"


def _error(status: int, code: str, message: str, **fields) -> tuple[str, dict]:
    """A REST-JSON error as SageMaker's runtime sends it."""
    body = json.dumps({"message": message, **fields})
    headers = {
        "status": status,  # how moto's responses carry theirs
        "Content-Type": "application/json",
        "x-amzn-ErrorType": code,
        "x-amzn-RequestId": str(uuid.uuid4()),
    }
    return body, headers


def _invoke(context: Context):
    def make(_original):
        def invoke_endpoint(self: SageMakerRuntimeResponse):
            received = time.monotonic()
            account, region = self.current_account, self.region
            name = unquote(self.path.split("/")[2])
            live = hosting(context).get(account, region, name)
            if live is not None and not live.ready.is_set():
                live.ready.wait(RECOVERY_WAIT_SECONDS)  # being brought back after a restart
                live = hosting(context).get(account, region, name)
            if live is None:
                return _error(
                    400, "ValidationError", f"Endpoint {name} of account {account} not found."
                )
            target = self.headers.get("X-Amzn-SageMaker-Target-Variant")
            picked = live.pick(target)
            if picked is None:
                return _error(
                    400,
                    "ValidationError",
                    f"The variant {target!r} does not exist for endpoint {name}."
                    if target
                    else f"Endpoint {name} has no variant that takes traffic.",
                )
            variant, server = picked
            content_type = self.headers.get("Content-Type") or "application/octet-stream"
            accept = self.headers.get("Accept") or "*/*"
            forward = {"Content-Type": content_type, "Accept": accept}
            if self.headers.get(CUSTOM_ATTRIBUTES):
                forward[CUSTOM_ATTRIBUTES] = self.headers[CUSTOM_ATTRIBUTES]
            body = self.raw_body or b""
            where = (account, region, name, variant)
            metrics = endpoint_metrics(context)
            stream_arn = (
                f"arn:aws:logs:{region}:{account}:log-group:{LOG_GROUP}/{name}"
                f":log-stream:{server.log_stream}"
            )
            if isinstance(server, ServerlessVariant) and len(body) > MAX_SERVERLESS_BODY:
                return _error(
                    400,
                    "ValidationError",
                    f"Request body of {len(body)} bytes is over the {MAX_SERVERLESS_BODY} bytes "
                    "a serverless endpoint takes.",
                )
            sent = time.monotonic()
            try:
                with live.serving():
                    status, headers, answer = server.invoke(body, forward)
            except Throttled:
                return _error(400, "ThrottlingException", "Rate exceeded")
            except ServerError as error:  # a serverless variant's cold start failed
                metrics.record(where, server.workers, 500, -1, time.monotonic() - received)
                return _error(
                    424,
                    "ModelError",
                    f'Received server error (500) from primary with message "{error}".',
                    OriginalStatusCode=500,
                    OriginalMessage=str(error),
                    LogStreamArn=stream_arn,
                )
            except TimeoutError:
                metrics.record(where, server.workers, 500, INVOCATION_TIMEOUT, 0.0)
                return _error(
                    424,
                    "ModelError",
                    'Received server error (0) from primary with message "Your invocation '
                    'timed out while waiting for a response from container primary.".',
                    OriginalStatusCode=0,
                    OriginalMessage="invocation timed out",
                    LogStreamArn=stream_arn,
                )
            except OSError as error:
                metrics.record(where, server.workers, 500, -1, time.monotonic() - received)
                return _error(
                    424,
                    "ModelError",
                    f'Received server error (0) from primary with message "{error}".',
                    OriginalStatusCode=0,
                    OriginalMessage=str(error),
                    LogStreamArn=stream_arn,
                )
            answered = time.monotonic()
            if status >= 400:
                metrics.record(where, server.workers, status, answered - sent, sent - received)
                text = answer.decode("utf-8", errors="replace")
                side = "client" if status < 500 else "server"
                return _error(
                    424,
                    "ModelError",
                    f'Received {side} error ({status}) from primary with message "{text}". '
                    f"See https://{region}.console.aws.amazon.com/cloudwatch/home?region="
                    f"{region}#logEventViewer:group={LOG_GROUP}/{name} in account {account} "
                    "for more information.",
                    OriginalStatusCode=status,
                    OriginalMessage=text,
                    LogStreamArn=stream_arn,
                )
            answer_type = headers.get("Content-Type", accept)
            if data_capture.sampled(live.data_capture):
                when = datetime.now(UTC)
                capture = data_capture.record(
                    live.data_capture,
                    content_type,
                    body,
                    answer_type,
                    answer,
                    self.headers.get("X-Amzn-SageMaker-Inference-Id"),
                    when,
                )
                destination = live.data_capture["DestinationS3Uri"]
                data_capture.capture_writer(context).add(
                    (account, region, destination, name, variant), capture, when
                )
            response_headers = {
                "Content-Type": answer_type,
                "x-Amzn-Invoked-Production-Variant": variant,
            }
            if headers.get(CUSTOM_ATTRIBUTES):
                response_headers[CUSTOM_ATTRIBUTES] = headers[CUSTOM_ATTRIBUTES]
            overhead = (sent - received) + (time.monotonic() - answered)
            metrics.record(where, server.workers, 200, answered - sent, overhead)
            return answer, response_headers

        return invoke_endpoint

    return make


def _invoke_async(context: Context):
    def make(_original):
        def invoke_endpoint_async(self: SageMakerRuntimeResponse):
            account, region = self.current_account, self.region
            name = unquote(self.path.split("/")[2])
            places = hosting(context)
            live = places.get(account, region, name)
            if live is not None and not live.ready.is_set():
                live.ready.wait(RECOVERY_WAIT_SECONDS)  # being brought back after a restart
            queue = places.queues.get((account, region, name))
            if places.get(account, region, name) is None:
                return _error(
                    400, "ValidationError", f"Endpoint {name} of account {account} not found."
                )
            if queue is None:
                return _error(
                    400,
                    "ValidationError",
                    f"Endpoint {name} is not an asynchronous endpoint: its config has no "
                    "AsyncInferenceConfig.",
                )
            inline = self.body or None
            if (inline is None) == (not self.headers.get("X-Amzn-SageMaker-InputLocation")):
                return _error(
                    400,
                    "ValidationError",
                    "Body and InputLocation are mutually exclusive. Provide exactly one of them.",
                )
            request = async_inference.new_request(
                queue.config, account, region, name, self.headers, inline
            )
            queue.submit(request)
            headers = {
                "status": 202,
                "Content-Type": "application/json",
                "X-Amzn-SageMaker-OutputLocation": request.output_location,
                "X-Amzn-SageMaker-FailureLocation": request.failure_location,
            }
            return json.dumps({"InferenceId": request.inference_id}), headers

        return invoke_endpoint_async

    return make


def _raw_body(original):
    """Keep the request body as bytes: moto decodes it as UTF-8, which a binary body is not."""

    def setup_class(self, request, full_url, headers, use_raw_body=False):
        return original(self, request, full_url, headers, use_raw_body=True)

    return setup_class


def install(context: Context) -> None:
    context.shared[data_capture.CAPTURE] = data_capture.CaptureWriter(context)
    context.shared[METRICS] = EndpointMetrics(context)
    patch(SageMakerRuntimeResponse, "setup_class", _raw_body)
    patch(SageMakerRuntimeResponse, "invoke_endpoint", _invoke(context))
    patch(SageMakerRuntimeResponse, "invoke_endpoint_async", _invoke_async(context))


def stop(context: Context) -> None:
    """Write every buffered capture record and metric."""
    data_capture.capture_writer(context).close()
    endpoint_metrics(context).close()


CAPABILITY = Capability(
    name="SageMaker runtime",
    requires=("endpoints",),
    unlocked=frozenset(
        {("sagemaker-runtime", "InvokeEndpoint"), ("sagemaker-runtime", "InvokeEndpointAsync")}
    ),
    install=install,
    stop=stop,
)
