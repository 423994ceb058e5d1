"""Which AWS operation a request asks for, and its parameters as boto3 would pass them.

JSON-protocol requests name their operation in ``X-Amz-Target``, query-protocol requests in
their ``Action`` field; the service is the signing name of the request's credential scope.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
from dataclasses import dataclass
from io import BytesIO
from typing import Any
from urllib.parse import parse_qsl

from local_aws.validation.service_models import CATALOG, Ref, ServiceModel, Shape

logger = logging.getLogger(__name__)

ENVIRON_KEY = "local_aws.request_info"
_READ_ONLY = re.compile(
    r"(Describe|List|Get|Search|Query|Head|BatchGet|BatchDescribe|Lookup|Filter|Scan|Simulate)"
    r"([A-Z]|$)"
)


@dataclass(frozen=True)
class RequestInfo:
    """What a request asks for, in botocore's terms."""

    service: str  #: botocore service name, e.g. ``sagemaker``
    operation: str  #: e.g. ``CreateProcessingJob``
    protocol: str  #: ``json``, ``query`` or ``rest-json``: how the request was sent
    params: dict[str, Any]  #: the input members, shaped as a boto3 call would pass them

    @property
    def is_read_only(self) -> bool:
        """Whether the operation only reads (Describe*, List*, Get*, ...), so changes no state."""
        return _READ_ONLY.match(self.operation) is not None


class MalformedRequest(ValueError):
    """A JSON value of the wrong type: AWS fails to deserialize it before any constraint check."""


_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/,\s]+/([^/,\s]+)/aws4_request")
_FORM_CONTENT = "application/x-www-form-urlencoded"


def identify(environ: dict) -> RequestInfo | None:
    """The service, operation and parameters of a WSGI request; None when it is not checked.

    Reads the body without consuming it (``wsgi.input`` is replaced by a copy) and remembers
    the answer in the environ, so later layers asking again pay nothing.
    """
    if ENVIRON_KEY not in environ:
        try:
            environ[ENVIRON_KEY] = _identify(environ)
        except Exception:  # an unreadable request is moto's to answer, never a crash here
            logger.exception("Could not identify the request; passing it through unchecked")
            environ[ENVIRON_KEY] = None
    return environ[ENVIRON_KEY]


def _identify(environ: dict) -> RequestInfo | None:
    service = _signing_name(environ)
    if service is None:
        return None
    target = environ.get("HTTP_X_AMZ_TARGET")
    is_form = environ.get("CONTENT_TYPE", "").startswith(_FORM_CONTENT)
    body = _peek_body(environ) if target or is_form else b""  # never read an S3 upload
    if body and environ.get("HTTP_CONTENT_ENCODING") == "gzip":  # botocore compresses big ones
        body = gzip.decompress(body)
    if target:
        return _identify_json(service, target, body)
    form = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    form += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    fields = dict(form)
    if "Action" in fields:
        return _identify_query(service, fields)
    return _identify_rest_json(service, environ)


def _signing_name(environ: dict) -> str | None:
    """The service name in the SigV4 credential scope (header or presigned URL)."""
    match = _CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if match:
        return match.group(1)
    for name, value in parse_qsl(environ.get("QUERY_STRING", "")):
        if name == "X-Amz-Credential":
            parts = value.split("/")
            return parts[3] if len(parts) == 5 else None
    return None


def _peek_body(environ: dict) -> bytes:
    stream = environ.get("wsgi.input")
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if stream is None or (length <= 0 and not environ.get("wsgi.input_terminated")):
        return b""
    body = stream.read(length) if length > 0 else stream.read()
    environ["wsgi.input"] = BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


def _identify_json(signing_name: str, target: str, body: bytes) -> RequestInfo | None:
    prefix, _, operation = target.rpartition(".")
    for service, metadata in CATALOG.candidates(signing_name):
        if metadata.get("targetPrefix") != prefix:
            continue
        model = CATALOG.model(service)
        if not model.speaks("json") or operation not in model.operations:
            continue
        try:
            params = json.loads(body) if body.strip() else {}
        except ValueError:
            return None
        return RequestInfo(service, operation, "json", params) if isinstance(params, dict) else None
    return None


def _identify_rest_json(signing_name: str, environ: dict) -> RequestInfo | None:
    """A REST-JSON request: the operation from its method, path and literal query fields,
    members from where the model puts them (path labels, headers, query fields, the body).

    A request that more than one operation could be is passed through unchecked."""
    method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
    fields = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    for service, _ in CATALOG.candidates(signing_name):
        model = CATALOG.model(service)
        if not model.speaks("rest-json"):
            continue
        found = [
            (route, match)
            for route in model.routes()
            if route.method == method
            and (match := route.path.match(path))
            and all(
                name in fields and (value is None or fields[name] == value)
                for name, value in route.query
            )
        ]
        most_specific = max((len(route.query) for route, _ in found), default=0)
        found = [(route, match) for route, match in found if len(route.query) == most_specific]
        if not found:
            continue
        if len(found) > 1:
            return None
        route, match = found[0]
        shape = model.input_shape(route.operation)
        params = _rest_params(model, shape, route, match, environ) if shape else {}
        return RequestInfo(service, route.operation, "rest-json", params)
    return None


def _rest_params(model: ServiceModel, shape: Shape, route, match, environ: dict) -> dict:
    query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    body = _peek_body(environ)
    if route.payload is None and body.strip():
        try:
            document = json.loads(body)
        except ValueError:
            document = {}
    else:
        document = {}
    params: dict[str, Any] = {}
    for member in shape.members:
        kind = model.shape(member.shape).type
        if member.location == "uri":
            value = (
                match.group(member.location_name)
                if member.location_name in match.groupdict()
                else None
            )
        elif member.location == "header":
            name = member.location_name.upper().replace("-", "_")
            value = environ.get(
                name if name in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{name}"
            )
        elif member.location == "querystring":
            value = query.get(member.location_name)
        elif member.name == route.payload:
            value = body if kind == "blob" else (json.loads(body) if body.strip() else None)
        else:
            value = document.get(member.json_key) if isinstance(document, dict) else None
            if value is not None:
                params[member.name] = value
            continue
        if value is not None:
            params[member.name] = (
                value if not isinstance(value, str) else _parse_scalar(kind, value)
            )
    return params


def _identify_query(signing_name: str, fields: dict[str, str]) -> RequestInfo | None:
    operation = fields.pop("Action")
    version = fields.pop("Version", None)
    for service, _ in CATALOG.candidates(signing_name):
        model = CATALOG.model(service)
        if not model.speaks("query") or operation not in model.operations:
            continue
        if version is not None and version != model.api_version:
            continue
        shape = model.input_shape(operation)
        params = _QueryDecoder(model, fields).structure(shape, "") if shape else {}
        return RequestInfo(service, operation, "query", params)
    return None


_ABSENT = object()


class _QueryDecoder:
    """Turns flattened query fields (``Tags.member.1.Key=...``) back into boto3-shaped params.

    Numbers and booleans that do not parse stay strings, for the checks to report.
    """

    def __init__(self, model: ServiceModel, fields: dict[str, str]):
        self.model = model
        self.fields = fields
        self.prefixes = {key[:i] for key in fields for i, c in enumerate(key) if c == "."}
        self.prefixes.update(fields)

    def value(self, ref: Ref, key: str) -> Any:
        shape = self.model.shape(ref.shape)
        if shape.type == "structure":
            return self.structure(shape, key) if key in self.prefixes else _ABSENT
        if shape.type == "list":
            return self.list(shape, ref.flattened, key)
        if shape.type == "map":
            return self.map(shape, ref.flattened, key)
        text = self.fields.get(key, _ABSENT)
        return text if text is _ABSENT else _parse_scalar(shape.type, text)

    def structure(self, shape: Shape, key: str) -> dict[str, Any]:
        result = {}
        for member in shape.members:
            value = self.value(member, f"{key}.{member.query_key}" if key else member.query_key)
            if value is not _ABSENT:
                result[member.name] = value
        return result

    def list(self, shape: Shape, flattened: bool, key: str) -> Any:
        if self.fields.get(key) == "":
            return []  # how the query protocol sends an empty list
        member = shape.member
        if not flattened:
            base = f"{key}.{member.query_key}"
        elif member.query_key != "member":
            base = ".".join([*key.split(".")[:-1], member.query_key])
        else:
            base = key
        items, index = [], 1
        while f"{base}.{index}" in self.prefixes:
            item = self.value(member, f"{base}.{index}")
            items.append(None if item is _ABSENT else item)
            index += 1
        return items or _ABSENT

    def map(self, shape: Shape, flattened: bool, key: str) -> Any:
        base = key if flattened else f"{key}.entry"
        result, index = {}, 1
        while f"{base}.{index}" in self.prefixes:
            entry = f"{base}.{index}"
            map_key = self.fields.get(f"{entry}.{shape.key.query_key}")
            item = self.value(shape.value, f"{entry}.{shape.value.query_key}")
            if map_key is not None:
                result[map_key] = None if item is _ABSENT else item
            index += 1
        return result or _ABSENT


def _parse_scalar(shape_type: str, text: str) -> Any:
    try:
        if shape_type in ("integer", "long"):
            return int(text)
        if shape_type in ("float", "double"):
            return float(text)
    except ValueError:
        return text
    if shape_type == "boolean" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text
