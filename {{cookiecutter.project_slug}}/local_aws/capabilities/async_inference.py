"""Asynchronous inference: ``InvokeEndpointAsync`` on endpoints with an ``AsyncInferenceConfig``.

As on SageMaker, the call only queues the request and answers at once (HTTP 202) with an
``InferenceId`` and the ``OutputLocation`` (``<S3OutputPath>[/<S3OutputPathExtension>]/`` then
``Filename`` or ``<id>.out``) and ``FailureLocation`` (``<S3FailurePath>/<id>-error.out``) where
the answer will be. A worker per endpoint reads the input from ``InputLocation`` (or takes the
inline ``Body``), sends it to a variant (by weight) and writes the model's answer to the output
location, or the error to the failure location; the config's SNS ``SuccessTopic`` or
``ErrorTopic`` is notified with SageMaker's ``InferenceResult`` message. A request still queued
after ``RequestTTLSeconds`` (default 6 hours) expires as a failure.

The queue is the endpoint's, whatever config serves it, and requests wait while the endpoint is
brought back after a restart. Queued requests live in memory: those not yet answered when the
local AWS stops are lost (SageMaker keeps its queue), as are those of a deleted endpoint.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from moto.backends import get_backend
from moto.utilities.utils import get_partition

from local_aws.capabilities.s3_storage import blob_digest, blob_store
from local_aws.capabilities.s3_transfer import S3LocationError, S3Transfer, split_uri
from local_aws.capability import Context

log = logging.getLogger(__name__)

WAIT_FOR_ENDPOINT_SECONDS = 120.0


@dataclass(frozen=True)
class AsyncRequest:
    account: str
    region: str
    endpoint: str
    input_location: str
    content_type: str
    accept: str
    inference_id: str
    output_location: str
    failure_location: str
    received: datetime
    #: Seconds the container may take (``InvocationTimeoutSeconds``; AWS's default 900).
    timeout: float = 900.0
    #: Seconds the request may wait in the queue (``RequestTTLSeconds``; AWS's default 21,600).
    ttl: float = 21600.0
    #: The inline ``Body``, when the request has no ``InputLocation``.
    body: bytes | None = None


class AsyncQueue:
    """One endpoint's queue of asynchronous requests and the worker that answers them."""

    def __init__(self, context: Context, places, key: tuple[str, str, str], config: dict):
        self.context = context
        self.places = places  # the endpoints' Hosting: the queue serves whatever is live
        self.key = key
        self.config = config
        self._queue: queue.Queue[AsyncRequest | None] = queue.Queue()
        self._closed = False
        threading.Thread(target=self._work, name="async-inference", daemon=True).start()

    def submit(self, request: AsyncRequest) -> None:
        self._queue.put(request)

    def close(self) -> None:
        """Stop answering: what is still queued is dropped."""
        self._closed = True
        self._queue.put(None)

    def _work(self) -> None:
        while (request := self._queue.get()) is not None:
            if self._closed:
                log.warning("async inference %s dropped: the queue closed", request.inference_id)
                continue
            try:
                self._answer(request)
            except Exception:  # one request's failure must not stop the queue
                log.exception("async inference %s failed", request.inference_id)

    def _answer(self, request: AsyncRequest) -> None:
        transfer = S3Transfer(
            request.account, request.region, self.context.store, blob_store(self.context)
        )
        try:
            body = request.body if request.body is not None else self._read(request)
        except S3LocationError as error:
            self._fail(transfer, request, f"Failed to read the input: {error}")
            return
        live = self.places.get(*self.key)
        if live is not None and not live.ready.is_set():
            live.ready.wait(WAIT_FOR_ENDPOINT_SECONDS)  # being brought back after a restart
            live = self.places.get(*self.key)
        waited = (datetime.now(UTC) - request.received).total_seconds()
        if waited > request.ttl:
            self._fail(
                transfer,
                request,
                f"The request expired: it waited {waited:.0f} s in the queue, longer than its "
                f"RequestTTLSeconds ({request.ttl:.0f}).",
            )
            return
        picked = live.pick(None) if live is not None else None
        if picked is None:
            self._fail(transfer, request, "The endpoint has no variant that takes traffic.")
            return
        _variant, server = picked
        try:
            with live.serving():
                status, headers, answer = server.invoke(
                    body,
                    {"Content-Type": request.content_type, "Accept": request.accept},
                    timeout=request.timeout,
                )
        except Exception as error:  # a server that went away, a cold start that failed
            self._fail(transfer, request, f"Received server error (0) from primary: {error}")
            return
        if status >= 400:
            message = answer.decode("utf-8", errors="replace")
            self._fail(transfer, request, f"Received {status} from primary: {message}")
            return
        transfer.upload_bytes(answer, request.output_location, headers.get("Content-Type"))
        self._notify(
            request,
            "SuccessTopic",
            "Completed",
            {
                "contentType": headers.get("Content-Type", request.accept),
                "outputLocation": request.output_location,
            },
        )

    def _read(self, request: AsyncRequest) -> bytes:
        bucket_name, key_name = split_uri(request.input_location)
        s3 = get_backend("s3")[request.account][get_partition(request.region)]
        with self.context.lock:
            try:
                key = s3.get_object(bucket_name, key_name)
            except Exception as error:  # moto raises MissingBucket, MissingKey
                raise S3LocationError(f"no object at {request.input_location}") from error
            digest = blob_digest(key)
        return blob_store(self.context).read(digest)

    def _fail(self, transfer: S3Transfer, request: AsyncRequest, message: str) -> None:
        transfer.upload_bytes(message.encode(), request.failure_location, "text/plain")
        self._notify(
            request,
            "ErrorTopic",
            "Failed",
            {"failureLocation": request.failure_location},
            failure_reason=message,
        )

    def _notify(self, request, topic_key, status, response, failure_reason=None) -> None:
        notification = self.config.get("OutputConfig", {}).get("NotificationConfig", {})
        topic = notification.get(topic_key)
        if not topic:
            return
        message = {
            "awsRegion": request.region,
            "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "receivedTime": request.received.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "invocationStatus": status,
            "requestParameters": {
                "contentType": request.content_type,
                "endpointName": request.endpoint,
                "inputLocation": request.input_location,
            },
            "responseParameters": response,
            "inferenceId": request.inference_id,
            "eventVersion": "1.0",
            "eventSource": "aws:sagemaker",
            "eventName": "InferenceResult",
        }
        if failure_reason:
            message["failureReason"] = failure_reason
        parts = topic.split(":")
        with self.context.lock:
            try:
                get_backend("sns")[parts[4]][parts[3]].publish(
                    message=json.dumps(message), arn=topic
                )
            except Exception as error:  # a deleted topic: the answer is in S3 all the same
                log.warning("async inference: could not notify %s: %s", topic, error)
            self.context.store.save(["sns"])


def new_request(
    live_config: dict, account, region, endpoint, headers, body: bytes | None = None
) -> AsyncRequest:
    """The queued request for an ``InvokeEndpointAsync`` call's headers (and inline body)."""
    output = live_config.get("OutputConfig", {})
    request_id = str(uuid.uuid4())
    output_path = output.get("S3OutputPath", "").rstrip("/")
    failure_path = (output.get("S3FailurePath") or output_path).rstrip("/")
    extension = headers.get("X-Amzn-SageMaker-S3OutputPathExtension", "").strip("/")
    if extension:
        output_path = f"{output_path}/{extension}"
    filename = headers.get("X-Amzn-SageMaker-Filename") or f"{request_id}.out"
    return AsyncRequest(
        account=account,
        region=region,
        endpoint=endpoint,
        input_location=headers.get("X-Amzn-SageMaker-InputLocation", ""),
        content_type=headers.get("X-Amzn-SageMaker-Content-Type") or "application/octet-stream",
        accept=headers.get("X-Amzn-SageMaker-Accept") or "*/*",
        inference_id=headers.get("X-Amzn-SageMaker-Inference-Id") or request_id,
        output_location=f"{output_path}/{filename}",
        failure_location=f"{failure_path}/{request_id}-error.out",
        received=datetime.now(UTC),
        timeout=float(headers.get("X-Amzn-SageMaker-InvocationTimeoutSeconds") or 900),
        ttl=float(headers.get("X-Amzn-SageMaker-RequestTTLSeconds") or 21600),
        body=body,
    )
