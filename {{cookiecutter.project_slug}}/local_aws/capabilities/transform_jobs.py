"""Batch transform jobs, run through the same model server as endpoints.

moto records a transform job as Completed at once. Here ``CreateTransformJob`` hands the job to
the runner, which starts the model's server (the image's ``serve``, as for an endpoint variant),
sends it the input and writes what it answers, as SageMaker does:

- every object under ``TransformInput.DataSource.S3DataSource.S3Uri`` (a prefix, or one object)
  is read, split into records by ``SplitType`` (``Line``, or ``None``: the object is one record)
  and sent one record a request (``BatchStrategy`` ``SingleRecord``) or as many as fit in
  ``MaxPayloadInMB`` (``MultiRecord``), with ``ContentType`` and ``TransformOutput.Accept``;
- ``DataProcessing`` filters each record: ``InputFilter`` before the request, ``JoinSource``
  ``Input`` joins the input record to its prediction (CSV: the prediction's columns appended;
  JSON: the prediction under ``SageMakerOutput``), then ``OutputFilter``. Filters are JSONPath
  expressions over the record as a list (CSV) or object (JSON): ``$``, ``$[1:]``, ``$[0,-1]``,
  ``$.name``, ``$['a','b']``, as SageMaker's documented examples use them;
- answers are assembled per object (``AssembleWith`` ``Line``: one a line) into
  ``<S3OutputPath>/<key relative to the input prefix>.out``;
- a container error fails the job with the container's message; ``StopTransformJob`` stops it;
  the server's output goes to ``/aws/sagemaker/TransformJobs``, ``<job>/<instance>``;
- ``DataCaptureConfig`` (``BatchDataCaptureConfig``) captures as "Capture data from batch
  transform job" in SageMaker's developer guide documents it: no copy of the data, but two
  manifests, ``<DestinationS3Uri>/input/yyyy/mm/dd/hh/`` and ``.../output/yyyy/mm/dd/hh/``, the
  hour being the job's start (UTC), each a JSON array ``[{"prefix": "s3://…/"}, "<relative key>",
  …]`` naming the objects read and written. ``GenerateInferenceId`` appends an inference ID (a
  random UUID) and the job's start time to every output record: two CSV columns, or the fields
  ``SageMakerInferenceId`` and ``SageMakerInferenceTime`` of a JSON record. It needs an answer
  line per record: a job whose container answers several records with one document fails,
  saying so (answer in CSV or JSON Lines, or send single records). The manifests' own
  object names are not documented; here they are ``<job name>.jsonl``.

Refused, as not emulated: several instances, ``ManifestFile`` and ``AugmentedManifestFile``
input, ``RecordIO``/``TFRecord`` splitting and compressed input.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import uuid
from typing import Any

from moto.backends import get_backend
from moto.core.utils import utcnow
from moto.sagemaker.responses import SageMakerResponse
from moto.utilities.utils import get_partition

from local_aws.capabilities.endpoints import resolve_container
from local_aws.capabilities.model_servers import ModelServer, ServerError
from local_aws.capabilities.s3_storage import blob_digest
from local_aws.capabilities.s3_transfer import split_uri
from local_aws.capabilities.sagemaker_job import (
    NOT_EMULATED,
    SageMakerJob,
    fail_interrupted,
    job_name_taken,
    run_on_create,
    stop_on_request,
)
from local_aws.capability import Capability, Context, patch
from local_aws.jobs.runner import JobError, JobStopped

LOG_GROUP = "/aws/sagemaker/TransformJobs"
DEFAULT_MAX_PAYLOAD_MB = 6
#: Seconds a request may take (``ModelClientConfig.InvocationsTimeoutInSeconds``; AWS: 600).
DEFAULT_INVOCATION_TIMEOUT = 600


class TransformExecution(SageMakerJob):
    kind = "transform"
    log_group = LOG_GROUP
    name_key = "TransformJobName"
    status_attribute = "transform_job_status"

    def record(self):
        backend = self.context.store.backend("sagemaker")[self.account_id][self.region]
        return backend.transform_jobs[self.name]

    def run(self) -> None:
        self.started = utcnow()
        self.update(transform_start_time=self.started)
        backend = get_backend("sagemaker")[self.account_id][self.region]
        with self.context.lock:
            container = resolve_container(backend, self.request["ModelName"])
        environment = {**container.environment, **self.request.get("Environment", {})}
        instance = f"i-{uuid.uuid4().hex[:17]}"
        server = ModelServer(
            self.context,
            self.account_id,
            self.region,
            dataclasses.replace(container, environment=environment),
            1,
            sandbox_root=self.sandbox.root,
            log_group=LOG_GROUP,
            log_stream=f"{self.name}/{instance}-server",
            ping_failure=(
                "ClientError: the model's container did not pass the ping health check. See the "
                f"job's log stream in {LOG_GROUP} for more information."
            ),
            label=f"{self.name}/{instance}",
        )
        try:
            server.start()
        except ServerError as error:
            raise JobError(str(error)) from error
        try:
            written = self.transform_all(server)
        finally:
            server.stop()
        if self.request.get("DataCaptureConfig"):
            self.capture(written)
        self.update(transform_job_status="Completed", transform_end_time=utcnow())

    def transform_all(self, server: ModelServer) -> list[tuple[str, str]]:
        """Transform every input object; the (input key, output key) pairs written."""
        source = self.request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
        bucket, prefix = split_uri(source)
        output = self.request["TransformOutput"]["S3OutputPath"].rstrip("/")
        written = []
        for key, data in self.input_objects(source):
            if self.stop_requested.is_set():
                raise JobStopped("request")
            relative = key[len(prefix) :].lstrip("/") or key.rsplit("/", 1)[-1]
            answer = self.transform_object(server, key, data)
            self.s3.upload_bytes(answer, f"{output}/{relative}.out")
            written.append((key, f"{relative}.out"))
            self.log.write(f"Transformed s3://{bucket}/{key}")
        return written

    def capture(self, written: list[tuple[str, str]]) -> None:
        """The input and output manifests of the batch ``DataCaptureConfig``."""
        source = self.request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
        bucket, prefix = split_uri(source)
        folder = prefix if prefix.endswith("/") else prefix.rpartition("/")[0] + "/"
        folder = folder.lstrip("/")
        output = self.request["TransformOutput"]["S3OutputPath"].rstrip("/")
        hour = self.started.strftime("%Y/%m/%d/%H")
        destination = self.request["DataCaptureConfig"]["DestinationS3Uri"].rstrip("/")
        manifests = {
            "input": [{"prefix": f"s3://{bucket}/{folder}"}]
            + [key[len(folder) :] for key, _ in written],
            "output": [{"prefix": f"{output}/"}] + [out for _, out in written],
        }
        for kind, manifest in manifests.items():
            self.s3.upload_bytes(
                json.dumps(manifest).encode(),
                f"{destination}/{kind}/{hour}/{self.name}.jsonl",
                "application/jsonl",
            )
        self.log.write(f"Captured the job's input and output manifests under {destination}")

    def input_objects(self, uri: str) -> list[tuple[str, bytes]]:
        bucket_name, prefix = split_uri(uri)
        s3 = get_backend("s3")[self.account_id][get_partition(self.region)]
        with self.context.lock:
            try:
                bucket = s3.get_bucket(bucket_name)
            except Exception as error:  # moto raises MissingBucket
                raise JobError(f"ClientError: the bucket {bucket_name!r} does not exist") from error
            keys = sorted(
                name
                for name, key in bucket.keys.items()
                if name.startswith(prefix) and not name.endswith("/") and hasattr(key, "etag")
            )
            blobs = [(name, blob_digest(bucket.keys[name])) for name in keys]
        if not blobs:
            raise JobError(
                f'ClientError: No S3 objects found under S3 URL "{uri}" given in input data source.'
            )
        store = self.s3.blobs
        return [(name, store.read(digest)) for name, digest in blobs]

    def transform_object(self, server: ModelServer, key: str, data: bytes) -> bytes:
        request = self.request
        transform_input, transform_output = request["TransformInput"], request["TransformOutput"]
        content_type = transform_input.get("ContentType", "application/octet-stream")
        accept = transform_output.get("Accept", content_type)
        processing = request.get("DataProcessing", {})
        records = split_records(data, transform_input.get("SplitType", "None"))
        client = request.get("ModelClientConfig", {})
        timeout = float(client.get("InvocationsTimeoutInSeconds", DEFAULT_INVOCATION_TIMEOUT))
        answers: list[bytes] = []
        for batch in self.batches(records):
            payload = b"\n".join(
                filter_record(record, processing.get("InputFilter", "$"), content_type)
                for record in batch
            )
            status, _headers, body = server.invoke(
                payload, {"Content-Type": content_type, "Accept": accept}, timeout=timeout
            )
            if status >= 400:
                message = body.decode("utf-8", errors="replace")
                raise JobError(
                    f"ClientError: the model's container answered {status} for {key}: {message}"
                )
            answers += self.per_batch(batch, body, key, content_type, accept)
        separator = b"\n" if transform_output.get("AssembleWith") == "Line" else b""
        return separator.join(answers) + (separator if answers else b"")

    def per_batch(
        self, batch: list[bytes], body: bytes, key: str, content_type: str, accept: str
    ) -> list[bytes]:
        """The answers to one request as they are written: joined, filtered, marked."""
        processing = self.request.get("DataProcessing", {})
        per_record = processing.get("JoinSource") == "Input" or processing.get(
            "OutputFilter", "$"
        ) not in ("$", "")
        generate_ids = self.request.get("DataCaptureConfig", {}).get("GenerateInferenceId")
        if not per_record and not generate_ids:  # the answer as the container gave it
            return [body.rstrip(b"\n")]
        if len(batch) == 1:  # one record, one answer, however many lines it takes
            predictions = [body.strip()]
        else:
            predictions = [line for line in body.splitlines() if line.strip()]
        if len(predictions) != len(batch):
            needs = "joining or filtering" if per_record else "GenerateInferenceId"
            raise JobError(
                f"ClientError: {len(batch)} records sent, {len(predictions)} answer lines "
                f"received for {key}: {needs} needs one answer line per record (answer in "
                "CSV or JSON Lines, or use BatchStrategy SingleRecord)"
            )
        answers = []
        for record, prediction in zip(batch, predictions, strict=True):
            if processing.get("JoinSource") == "Input":
                prediction = join(record, prediction, content_type)
            answers.append(filter_record(prediction, processing.get("OutputFilter", "$"), accept))
        if generate_ids:
            answers = self.with_inference_ids(answers, accept)
        # One request's records stay one per line, whatever AssembleWith joins requests with.
        return [b"\n".join(answers)]

    def with_inference_ids(self, answers: list[bytes], accept: str) -> list[bytes]:
        """Every output record with a new inference ID and the job's start time appended."""
        started = self.started.strftime("%Y-%m-%dT%H:%M:%SZ")
        marked = []
        for answer in answers:
            line = b" ".join(answer.splitlines())  # a pretty-printed JSON answer: one line
            inference_id = str(uuid.uuid4())
            if is_csv(accept):
                marked.append(line.rstrip(b"\r") + f",{inference_id},{started}".encode())
                continue
            try:
                document = json.loads(line)
            except ValueError as error:
                raise JobError(
                    "ClientError: GenerateInferenceId needs CSV, JSON or JSON Lines output; an "
                    f"answer line is not JSON: {line[:80]!r}"
                ) from error
            if not isinstance(document, dict):
                document = {"SageMakerOutput": document}
            document.update(SageMakerInferenceId=inference_id, SageMakerInferenceTime=started)
            marked.append(json.dumps(document).encode())
        return marked

    def batches(self, records: list[bytes]) -> list[list[bytes]]:
        if self.request.get("BatchStrategy", "MultiRecord") != "MultiRecord":
            return [[record] for record in records]
        limit = int(self.request.get("MaxPayloadInMB", DEFAULT_MAX_PAYLOAD_MB)) * 1024 * 1024
        batches, current, size = [], [], 0
        for record in records:
            if current and size + len(record) + 1 > limit:
                batches.append(current)
                current, size = [], 0
            current.append(record)
            size += len(record) + 1
        return batches + ([current] if current else [])

    def on_failed(self, reason: str) -> None:
        self.update(
            transform_job_status="Failed", failure_reason=reason, transform_end_time=utcnow()
        )

    def on_stopped(self, stopped_by: str) -> None:
        self.update(transform_job_status="Stopped", transform_end_time=utcnow())


def split_records(data: bytes, split_type: str) -> list[bytes]:
    if split_type == "Line":
        return [line for line in data.splitlines() if line.strip()]
    return [data]


# --- DataProcessing ------------------------------------------------------------------------------

_INDEXES = re.compile(r"^\$\[(.+)\]$")
_FIELD = re.compile(r"^\$\.([A-Za-z_][\w-]*)$")


def is_csv(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() == "text/csv"


def parse(record: bytes, content_type: str) -> Any:
    if is_csv(content_type):
        return next(csv.reader([record.decode("utf-8")]), [])
    return json.loads(record)


def serialize(value: Any, content_type: str) -> bytes:
    if is_csv(content_type):
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="").writerow(
            value if isinstance(value, list) else [value]
        )
        return buffer.getvalue().encode()
    return json.dumps(value).encode()


def filter_record(record: bytes, path: str, content_type: str) -> bytes:
    """``record`` through a JSONPath filter (``$`` keeps it as it is)."""
    if path in ("$", "", None):
        return record
    return serialize(select(parse(record, content_type), path), content_type)


def select(value: Any, path: str) -> Any:
    """The JSONPath subset SageMaker's filter examples use: indexes, slices, fields."""
    field = _FIELD.match(path)
    if field and isinstance(value, dict):
        return value.get(field.group(1))
    indexes = _INDEXES.match(path)
    if indexes is None:
        raise JobError(f"ClientError: the JSONPath filter {path!r} {NOT_EMULATED}")
    inner = indexes.group(1)
    if isinstance(value, dict):
        names = [name.strip().strip("'\"") for name in inner.split(",")]
        return {name: value[name] for name in names if name in value}
    if not isinstance(value, list):
        raise JobError(f"ClientError: the JSONPath filter {path!r} needs an array")
    selected = []
    for part in inner.split(","):
        part = part.strip()
        if ":" in part:
            start, _, stop = part.partition(":")
            selected += value[int(start) if start else None : int(stop) if stop else None]
        else:
            selected.append(value[int(part)])
    return selected


def join(record: bytes, prediction: bytes, content_type: str) -> bytes:
    """``JoinSource: Input``: the input record with its prediction."""
    if is_csv(content_type):
        return record.rstrip(b"\r\n") + b"," + prediction
    document = json.loads(record)
    try:
        output = json.loads(prediction)
    except ValueError:
        output = prediction.decode("utf-8", errors="replace")
    document["SageMakerOutput"] = output
    return json.dumps(document).encode()


# --- the API -------------------------------------------------------------------------------------


def refusals(request: dict) -> list[str]:
    problems = []
    if request.get("TransformResources", {}).get("InstanceCount", 1) != 1:
        problems.append(f"TransformResources.InstanceCount > 1 {NOT_EMULATED}")
    transform_input = request["TransformInput"]
    source = transform_input["DataSource"].get("S3DataSource", {})
    if source.get("S3DataType", "S3Prefix") != "S3Prefix":
        problems.append(f"TransformInput S3DataType {source.get('S3DataType')} {NOT_EMULATED}")
    if transform_input.get("SplitType", "None") not in ("None", "Line"):
        problems.append(f"TransformInput SplitType {transform_input['SplitType']} {NOT_EMULATED}")
    if transform_input.get("CompressionType", "None") != "None":
        problems.append(f"TransformInput CompressionType Gzip {NOT_EMULATED}")
    return problems


def _running(job, request: dict) -> None:
    job.transform_job_status = "InProgress"
    job.transform_end_time = None
    job.failure_reason = None


def install(context: Context) -> None:
    """Route ``CreateTransformJob`` and ``StopTransformJob`` to the runner."""

    def checked_create(original):
        create = run_on_create(context, TransformExecution, refusals, job_name_taken, _running)(
            original
        )

        def create_transform_job(self: SageMakerResponse):
            request = json.loads(self.body)
            self.sagemaker_backend.describe_model(request["ModelName"])  # it must exist
            return create(self)

        return create_transform_job

    patch(SageMakerResponse, "create_transform_job", checked_create)
    patch(SageMakerResponse, "stop_transform_job", stop_on_request(context, TransformExecution))


def recover(context: Context) -> list[str]:
    """Fail the jobs that were running when the local AWS stopped or died."""
    return fail_interrupted(context, "transform")


CAPABILITY = Capability(
    name="transform jobs",
    persists=("sagemaker",),
    requires=("AWS services", "S3 storage", "endpoints"),
    install=install,
    recover=recover,
)
