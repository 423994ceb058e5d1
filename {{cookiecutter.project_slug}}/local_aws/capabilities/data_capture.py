"""Data capture: what an endpoint was asked and answered, in S3, as SageMaker writes it.

Layout and format (SageMaker Model Monitor's, which monitoring jobs read):

    <DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/<mm-ss-mmm>-<uuid>.jsonl

one JSON object per line::

    {"captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
                                       "data": "...", "encoding": "CSV"},
                     "endpointOutput": {...}},
     "eventMetadata": {"eventId": "<uuid>", "inferenceTime": "2026-02-14T17:25:49.123Z",
                       "inferenceId": "..."},
     "eventVersion": "0"}

``data`` is base64 (``encoding`` ``BASE64``) unless ``CaptureContentTypeHeader`` lists the
observed content type as CSV or JSON, when it is the text itself. ``CaptureOptions`` chooses
input, output or both; ``InitialSamplingPercentage`` the share of requests captured.

Records are buffered off the request path and written every ``FLUSH_SECONDS`` (SageMaker writes
within minutes), one object per endpoint, variant and hour; a write that fails is tried again
with the next flush, and everything buffered is written when the local AWS stops.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import random
import threading
import uuid
from collections import defaultdict
from datetime import UTC, datetime

from local_aws.capabilities.s3_storage import blob_store
from local_aws.capabilities.s3_transfer import S3LocationError, S3Transfer
from local_aws.capability import Context

log = logging.getLogger(__name__)

FLUSH_SECONDS = float(os.environ.get("LOCAL_AWS_CAPTURE_FLUSH_SECONDS", "10"))
CAPTURE = "data capture"


def record(
    config: dict,
    content_type: str,
    request_body: bytes,
    accept: str,
    response_body: bytes,
    inference_id: str | None,
    when: datetime,
) -> dict:
    """One capture record for an invocation, as ``config`` (a DataCaptureConfig) asks."""
    modes = {option["CaptureMode"] for option in config.get("CaptureOptions", [])}
    types = config.get("CaptureContentTypeHeader") or {}
    data: dict = {}
    if "Input" in modes:
        data["endpointInput"] = _payload(types, content_type, request_body, "INPUT")
    if "Output" in modes:
        data["endpointOutput"] = _payload(types, accept, response_body, "OUTPUT")
    metadata = {
        "eventId": str(uuid.uuid4()),
        "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z",
    }
    if inference_id:
        metadata["inferenceId"] = inference_id
    return {"captureData": data, "eventMetadata": metadata, "eventVersion": "0"}


def _payload(types: dict, content_type: str, body: bytes, mode: str) -> dict:
    media_type = (content_type or "").split(";")[0].strip()
    if media_type in types.get("CsvContentTypes", []):
        encoding = "CSV"
    elif media_type in types.get("JsonContentTypes", []):
        encoding = "JSON"
    else:
        encoding = "BASE64"
    if encoding == "BASE64":
        text = base64.b64encode(body).decode("ascii")
    else:
        text = body.decode("utf-8", errors="replace")
    return {"observedContentType": content_type, "mode": mode, "data": text, "encoding": encoding}


def sampled(config: dict | None) -> bool:
    """Whether this request is captured: capture on, and drawn at its sampling percentage."""
    if not config or not config.get("EnableCapture", True):
        return False
    return random.uniform(0, 100) < float(config.get("InitialSamplingPercentage", 100))


class CaptureWriter:
    """Buffers capture records and writes them to S3 in the background."""

    def __init__(self, context: Context):
        self.context = context
        self._pending: dict[tuple, list[str]] = defaultdict(list)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="data-capture", daemon=True)
        self._thread.start()

    def add(self, where: tuple[str, str, str, str, str], capture: dict, when: datetime) -> None:
        """Buffer one record; ``where`` is (account, region, destination, endpoint, variant)."""
        account, region, destination, endpoint, variant = where
        hour = when.strftime("%Y/%m/%d/%H")
        key = (account, region, destination.rstrip("/"), endpoint, variant, hour)
        line = json.dumps(capture, separators=(",", ":"))
        with self._lock:
            self._pending[key].append(line)

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            self.flush()

    def flush(self) -> None:
        with self._lock:
            batches, self._pending = self._pending, defaultdict(list)
        failed = {}
        for key, lines in batches.items():
            account, region, destination, endpoint, variant, hour = key
            now = datetime.now(UTC)
            name = f"{now:%M-%S}-{now.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
            uri = f"{destination}/{endpoint}/{variant}/{hour}/{name}"
            transfer = S3Transfer(account, region, self.context.store, blob_store(self.context))
            try:
                transfer.upload_bytes(("\n".join(lines) + "\n").encode(), uri)
            except (S3LocationError, OSError) as error:
                log.warning("data capture for %s not written yet (%s): retrying", endpoint, error)
                failed[key] = lines
        if failed:
            with self._lock:
                for key, lines in failed.items():
                    self._pending[key][:0] = lines

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.flush()


def capture_writer(context: Context) -> CaptureWriter:
    return context.shared[CAPTURE]
