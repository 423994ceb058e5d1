"""Request checks: every request is held to its AWS service model before moto sees it.

botocore checks only types and required members before it sends a request, and moto accepts
almost anything, while AWS refuses any request that breaks a constraint of its service model: a
103-character job name with underscores, an instance type that does not exist, a list longer
than allowed. This module derives those constraints from botocore's service models, for every
operation of every service, and refuses such requests the way AWS does:

* JSON protocol (SageMaker, CloudWatch Logs, EventBridge, SQS, CloudWatch, ...): HTTP 400
  ``ValidationException`` with AWS's message, e.g. ``1 validation error detected: Value 'x_y'
  at 'processingJobName' failed to satisfy constraint: Member must satisfy regular expression
  pattern: ...``; a value of the wrong JSON type gets ``SerializationException``.
* Query protocol (STS, IAM, SNS; SQS and CloudWatch from older clients): HTTP 400
  ``<ErrorResponse>`` XML with code ``ValidationError``.

Checked, at any depth: required members, value types, string patterns (Java regular
expressions, matched against the whole value as Java's ``Matcher.matches()`` does), lengths of
strings, blobs, lists and maps, numeric ranges and enums. Not checked: "exactly one member" of
union structures and rules between members, which need each service's own logic, and the few
patterns that cannot be translated from Java (skipped and logged, so they never refuse a value).

Only signed requests in the JSON or query protocol are checked. Everything else passes through
unchecked: REST protocols (S3, SageMaker runtime, feature store runtime, ...), Smithy RPC v2
CBOR, the EC2 protocol, unsigned requests, and services or operations botocore does not know.
"""

from __future__ import annotations

import base64
import binascii
import functools
import gzip
import json
import logging
import os
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape, quoteattr

import regex
from botocore.loaders import create_loader

logger = logging.getLogger(__name__)

_ENVIRON_KEY = "local_aws.request_info"
_READ_ONLY = re.compile(
    r"(Describe|List|Get|Search|Query|Head|BatchGet|BatchDescribe|Lookup|Filter|Scan|Simulate)"
    r"([A-Z]|$)"
)


@dataclass(frozen=True)
class RequestInfo:
    """What a request asks for, in botocore's terms."""

    service: str  #: botocore service name, e.g. ``sagemaker``
    operation: str  #: e.g. ``CreateProcessingJob``
    protocol: str  #: ``json`` or ``query``: how the request was sent
    params: dict[str, Any]  #: the input members, shaped as a boto3 call would pass them

    @property
    def is_read_only(self) -> bool:
        """Whether the operation only reads (Describe*, List*, Get*, ...), so changes no state."""
        return _READ_ONLY.match(self.operation) is not None


class MalformedRequest(ValueError):
    """A JSON value of the wrong type: AWS fails to deserialize it before any constraint check."""


# --- Java regular expressions ------------------------------------------------------------------

# Java's POSIX classes match ASCII only, unlike the Unicode ones of the ``regex`` module.
_POSIX_CLASSES = {
    "Lower": "a-z",
    "Upper": "A-Z",
    "ASCII": r"\x00-\x7F",
    "Alpha": "a-zA-Z",
    "Digit": "0-9",
    "Alnum": "a-zA-Z0-9",
    "Punct": r"\x21-\x2F\x3A-\x40\x5B-\x60\x7B-\x7E",
    "Graph": r"\x21-\x7E",
    "Print": r"\x20-\x7E",
    "Blank": r" \t",
    "Cntrl": r"\x00-\x1F\x7F",
    "XDigit": "0-9a-fA-F",
    "Space": r" \t\n\x0B\f\r",
    # Java-only names.
    "L1": r"\x00-\xFF",
    "LD": r"\p{L}\p{Nd}",
    "all": r"\x00-\U0010FFFF",
}
# Java's predefined classes, ASCII-only by default; \h and \v are its whitespace classes.
_SHORTHAND_CLASSES = {
    "d": "0-9",
    "w": "a-zA-Z_0-9",
    "s": r" \t\n\x0B\f\r",
    "h": r" \t\xA0\u1680\u180E\u2000-\u200A\u202F\u205F\u3000",
    "v": r"\n\x0B\f\r\x85\u2028\u2029",
}
# Java's ``.`` stops at every line terminator, Python's only at ``\n``.
_JAVA_DOT = r"[^\n\r\x85\u2028\u2029]"
_DOTALL_FLAG = re.compile(r"\(\?[a-zA-Z]*s")
_GENERAL_CATEGORY = re.compile(r"[A-Z][a-z]?")
_SKIPPED_PATTERNS: dict[str, str] = {}


def translate_pattern(java_pattern: str) -> str:
    """Rewrite a Java regular expression for the ``regex`` module, compiled with ``regex.V1``.

    V1 reads nested character classes and ``&&`` as Java does. What still differs is rewritten:
    POSIX classes (``\\p{Print}``, ``\\p{Alnum}``, ...) and ``\\d \\w \\s`` match ASCII only,
    ``.`` stops at any line terminator, a ``\\uD83D\\uDE00`` surrogate pair is one code point,
    ``\\x{...}``, ``\\Q...\\E``, octal ``\\0nn``, ``\\e`` and ``\\cX`` escapes, and V1's set
    operators ``--``, ``||``, ``~~`` which are literal characters in Java.
    Raises ValueError for what has no translation.
    """
    out: list[str] = []
    dotall = _DOTALL_FLAG.search(java_pattern) is not None
    depth = 0  # nesting of character classes
    i, end = 0, len(java_pattern)
    while i < end:
        char = java_pattern[i]
        if char == "\\":
            piece, i, is_class = _translate_escape(java_pattern, i)
            out.append(piece)
            # After a class escape inside a class, Java reads "-" as a literal hyphen.
            hyphen = java_pattern[i : i + 2]
            if is_class and depth and hyphen[:1] == "-" and hyphen not in ("-", "-]"):
                out.append(r"\-")
                i += 1
            continue
        if depth:
            if char == "[":
                depth += 1
            elif char == "]":
                depth -= 1
            elif char in "-|~" and java_pattern[i + 1 : i + 2] == char:
                out.append(char + "\\" + char)
                i += 2
                continue
        elif char == "[":
            depth = 1
        elif char == "." and not dotall:
            out.append(_JAVA_DOT)
            i += 1
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _translate_escape(pattern: str, start: int) -> tuple[str, int, bool]:
    """Translate the escape at ``start``: (replacement, index after it, whether it is a class)."""
    if start + 1 >= len(pattern):
        raise ValueError("pattern ends with a backslash")
    letter = pattern[start + 1]
    after = start + 2
    if letter in "pP":
        if pattern[after : after + 1] == "{":
            close = pattern.index("}", after)
            name, after = pattern[after + 1 : close], close + 1
        else:
            name, after = pattern[after : after + 1], after + 1
        negate = "^" if letter == "P" else ""
        return f"[{negate}{_property_class(name)}]", after, True
    if letter.lower() in _SHORTHAND_CLASSES:
        negate = "^" if letter.isupper() else ""
        return f"[{negate}{_SHORTHAND_CLASSES[letter.lower()]}]", after, True
    if letter == "Q":
        close = pattern.find(r"\E", after)
        stop = close if close >= 0 else len(pattern)
        return regex.escape(pattern[after:stop]), (stop + 2 if close >= 0 else stop), False
    if letter == "x" and pattern[after : after + 1] == "{":
        close = pattern.index("}", after)
        return _code_point(int(pattern[after + 1 : close], 16)), close + 1, False
    if letter == "u":
        unit = int(pattern[after : after + 4], 16)
        after += 4
        if 0xD800 <= unit <= 0xDBFF and pattern[after : after + 2] == "\\u":
            low = int(pattern[after + 2 : after + 6], 16)
            if 0xDC00 <= low <= 0xDFFF:
                unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                after += 6
        return _code_point(unit), after, False
    if letter == "0":
        digits = re.match(r"[0-3][0-7]{2}|[0-7]{1,2}", pattern[after:])
        if digits is None:
            raise ValueError("\\0 without octal digits")
        return _code_point(int(digits.group(), 8)), after + len(digits.group()), False
    if letter == "e":
        return r"\x1B", after, False
    if letter == "c":
        return _code_point(ord(pattern[after]) ^ 0x40), after + 1, False
    return pattern[start:after], after, False


def _property_class(name: str) -> str:
    """The body of a character class equal to Java's ``\\p{name}``."""
    if name in _POSIX_CLASSES:
        return _POSIX_CLASSES[name]
    if name.startswith("java"):
        raise ValueError(f"no translation for \\p{{{name}}}")
    if name.startswith("Is") and _GENERAL_CATEGORY.fullmatch(name[2:]):
        name = name[2:]  # Java's \p{IsLu} is the category Lu
    return rf"\p{{{name}}}"


def _code_point(value: int) -> str:
    return f"\\u{value:04X}" if value <= 0xFFFF else f"\\U{value:08X}"


@functools.cache
def compile_pattern(java_pattern: str) -> regex.Pattern[str] | None:
    """The compiled form of a model's pattern, or None when it cannot be translated."""
    try:
        return regex.compile(translate_pattern(java_pattern), regex.V1)
    except (regex.error, ValueError, IndexError) as exc:
        _SKIPPED_PATTERNS[java_pattern] = str(exc)
        logger.info("Not enforcing pattern %r: %s", java_pattern, exc)
        return None


def skipped_patterns() -> dict[str, str]:
    """Patterns met so far that could not be translated, with the reason for each."""
    return dict(_SKIPPED_PATTERNS)


# --- Service models ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Ref:
    """A reference to a shape: a structure member, or a list's member, a map's key or value."""

    name: str  # member name, as in boto3 parameters
    path_name: str  # in error messages: the member name with its first letter lowered
    shape: str
    json_key: str  # key in a JSON body
    query_key: str  # path component in a query string
    flattened: bool  # query protocol: a list or map without its ".member" or ".entry" level


@dataclass(frozen=True, slots=True)
class _Shape:
    name: str
    type: str
    min: int | float | None
    max: int | float | None
    pattern: str | None
    enum: tuple[str, ...]
    sensitive: bool
    document: bool
    required: frozenset[str]
    members: tuple[_Ref, ...]
    member: _Ref | None  # of a list
    key: _Ref | None  # of a map
    value: _Ref | None  # of a map


def _ref(raw_shapes: dict, ref: dict, name: str, default_query_key: str) -> _Ref:
    location_name = ref.get("locationName")
    return _Ref(
        name=name,
        path_name=name[:1].lower() + name[1:],
        shape=ref["shape"],
        json_key=location_name or name,
        query_key=location_name or default_query_key,
        flattened=bool(ref.get("flattened", raw_shapes[ref["shape"]].get("flattened"))),
    )


class _ServiceModel:
    """One botocore service model; shapes are indexed as requests first need them."""

    def __init__(self, raw: dict):
        metadata = raw["metadata"]
        self.protocols = tuple(metadata.get("protocols") or [metadata["protocol"]])
        self.json_version = metadata.get("jsonVersion", "1.0")
        self.xml_namespace = metadata.get("xmlNamespace")
        self.query_compatible = "awsQueryCompatible" in metadata
        self.api_version = metadata.get("apiVersion")
        self.operations = {
            operation: spec.get("input", {}).get("shape")
            for operation, spec in raw["operations"].items()
        }
        self._raw_shapes = raw["shapes"]
        self._shapes: dict[str, _Shape] = {}
        self._hides_value: dict[str, bool] = {}

    def speaks(self, protocol: str) -> bool:
        # A query-compatible service still answers its older query-protocol clients.
        return protocol in self.protocols or (protocol == "query" and self.query_compatible)

    def input_shape(self, operation: str) -> _Shape | None:
        name = self.operations.get(operation)
        return self.shape(name) if name else None

    def shape(self, name: str) -> _Shape:
        shape = self._shapes.get(name)
        if shape is None:
            shape = self._shapes[name] = self._build(name)
        return shape

    def _build(self, name: str) -> _Shape:
        raw = self._raw_shapes[name]
        shapes = self._raw_shapes
        member = raw.get("member")
        key, value = raw.get("key"), raw.get("value")
        return _Shape(
            name=name,
            type=raw["type"],
            min=raw.get("min"),
            max=raw.get("max"),
            pattern=raw.get("pattern"),
            enum=tuple(raw.get("enum", ())),
            sensitive=bool(raw.get("sensitive")),
            document=bool(raw.get("document")),
            required=frozenset(raw.get("required", ())),
            members=tuple(
                _ref(shapes, ref, member_name, member_name)
                for member_name, ref in raw.get("members", {}).items()
            ),
            member=_ref(shapes, member, "member", "member") if member else None,
            key=_ref(shapes, key, "key", "key") if key else None,
            value=_ref(shapes, value, "value", "value") if value else None,
        )

    def hides_value(self, shape: _Shape) -> bool:
        """Whether an error about this shape must not echo its value: it holds a sensitive one."""
        known = self._hides_value.get(shape.name)
        if known is None:
            known = self._hides_value[shape.name] = self._holds_sensitive(shape.name, set())
        return known

    def _holds_sensitive(self, name: str, seen: set[str]) -> bool:
        seen.add(name)
        shape = self.shape(name)
        if shape.sensitive:
            return True
        refs = [*shape.members, *(r for r in (shape.member, shape.key, shape.value) if r)]
        return any(r.shape not in seen and self._holds_sensitive(r.shape, seen) for r in refs)


class _Catalog:
    """botocore's service models, found by the signing name requests carry, loaded on demand."""

    def __init__(self):
        self._lock = threading.Lock()
        self._loader = None
        self._services: frozenset[str] = frozenset()
        self._metadata: dict[str, dict] = {}
        self._by_signing_name: dict[str, list[str]] | None = None
        self._models: dict[str, _ServiceModel] = {}

    def candidates(self, signing_name: str) -> Iterator[tuple[str, dict]]:
        """(service, metadata) of each service signed with this name, the namesake first.

        Most services sign with their own name, so the index of every model's signing name is
        built only when the namesake does not serve a request.
        """
        self._get_loader()
        if signing_name in self._services:
            yield signing_name, self.metadata(signing_name)
        if self._by_signing_name is None:
            with self._lock:
                if self._by_signing_name is None:
                    self._by_signing_name = self._index_signing_names()
        for service in self._by_signing_name.get(signing_name, []):
            if service != signing_name:
                yield service, self.metadata(service)

    def metadata(self, service: str) -> dict:
        metadata = self._metadata.get(service)
        if metadata is None:
            metadata = self._metadata[service] = _read_metadata(self._get_loader(), service)
        return metadata

    def model(self, service: str) -> _ServiceModel:
        model = self._models.get(service)
        if model is None:
            with self._lock:
                model = self._models.get(service)
                if model is None:
                    raw = self._get_loader().load_service_model(service, "service-2")
                    model = self._models[service] = _ServiceModel(raw)
        return model

    def _get_loader(self):
        if self._loader is None:
            self._loader = create_loader()
            self._services = frozenset(self._loader.list_available_services("service-2"))
        return self._loader

    def _index_signing_names(self) -> dict[str, list[str]]:
        index: dict[str, list[str]] = {}
        for service in sorted(self._services):
            metadata = self.metadata(service)
            signing_name = metadata.get("signingName") or metadata.get("endpointPrefix")
            index.setdefault(signing_name, []).append(service)
        return index


def _read_metadata(loader, service: str) -> dict:
    """A model's metadata, read from the head of its file to avoid parsing every model whole."""
    version = loader.determine_latest_version(service, "service-2")
    for root in loader.search_paths:
        for suffix, opener in ((".json", open), (".json.gz", gzip.open)):
            path = os.path.join(root, service, version, "service-2" + suffix)
            if not os.path.isfile(path):
                continue
            with opener(path, "rt", encoding="utf-8") as model_file:
                head = model_file.read(16384)
            start = head.find('"metadata"')
            if start >= 0:
                try:
                    return json.JSONDecoder().raw_decode(head, head.index("{", start))[0]
                except ValueError:
                    pass
            return loader.load_service_model(service, "service-2")["metadata"]
    return loader.load_service_model(service, "service-2")["metadata"]


_CATALOG = _Catalog()


# --- Identifying requests ----------------------------------------------------------------------

_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/,\s]+/([^/,\s]+)/aws4_request")
_FORM_CONTENT = "application/x-www-form-urlencoded"


def identify(environ: dict) -> RequestInfo | None:
    """The service, operation and parameters of a WSGI request; None when it is not checked.

    Reads the body without consuming it (``wsgi.input`` is replaced by a copy) and remembers
    the answer in the environ, so later layers asking again pay nothing.
    """
    if _ENVIRON_KEY not in environ:
        try:
            environ[_ENVIRON_KEY] = _identify(environ)
        except Exception:  # an unreadable request is moto's to answer, never a crash here
            logger.exception("Could not identify the request; passing it through unchecked")
            environ[_ENVIRON_KEY] = None
    return environ[_ENVIRON_KEY]


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
    return None


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
    for service, metadata in _CATALOG.candidates(signing_name):
        if metadata.get("targetPrefix") != prefix:
            continue
        model = _CATALOG.model(service)
        if not model.speaks("json") or operation not in model.operations:
            continue
        try:
            params = json.loads(body) if body.strip() else {}
        except ValueError:
            return None
        return RequestInfo(service, operation, "json", params) if isinstance(params, dict) else None
    return None


def _identify_query(signing_name: str, fields: dict[str, str]) -> RequestInfo | None:
    operation = fields.pop("Action")
    version = fields.pop("Version", None)
    for service, _ in _CATALOG.candidates(signing_name):
        model = _CATALOG.model(service)
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

    def __init__(self, model: _ServiceModel, fields: dict[str, str]):
        self.model = model
        self.fields = fields
        self.prefixes = {key[:i] for key in fields for i, c in enumerate(key) if c == "."}
        self.prefixes.update(fields)

    def value(self, ref: _Ref, key: str) -> Any:
        shape = self.model.shape(ref.shape)
        if shape.type == "structure":
            return self.structure(shape, key) if key in self.prefixes else _ABSENT
        if shape.type == "list":
            return self.list(shape, ref.flattened, key)
        if shape.type == "map":
            return self.map(shape, ref.flattened, key)
        text = self.fields.get(key, _ABSENT)
        return text if text is _ABSENT else _parse_scalar(shape.type, text)

    def structure(self, shape: _Shape, key: str) -> dict[str, Any]:
        result = {}
        for member in shape.members:
            value = self.value(member, f"{key}.{member.query_key}" if key else member.query_key)
            if value is not _ABSENT:
                result[member.name] = value
        return result

    def list(self, shape: _Shape, flattened: bool, key: str) -> Any:
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

    def map(self, shape: _Shape, flattened: bool, key: str) -> Any:
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


# --- Checking requests -------------------------------------------------------------------------


def validate(info: RequestInfo) -> list[str]:
    """AWS's messages for every constraint the request breaks; empty when it is valid.

    Raises MalformedRequest for a JSON value of the wrong type, which AWS reports alone.
    """
    model = _CATALOG.model(info.service)
    shape = model.input_shape(info.operation)
    if shape is None:
        return []
    checker = _Checker(model, info.protocol)
    checker.structure(shape, info.params, "")
    return checker.messages


_JAVA_TYPES = {
    "string": "String",
    "integer": "Integer",
    "long": "Long",
    "float": "Float",
    "double": "Double",
    "boolean": "Boolean",
    "timestamp": "Date",
}
_NON_FINITE = ("NaN", "Infinity", "-Infinity")


class _Checker:
    """Walks a request's params along its input shape, collecting AWS's messages."""

    def __init__(self, model: _ServiceModel, protocol: str):
        self.model = model
        self.is_json = protocol == "json"
        self.messages: list[str] = []

    def structure(self, shape: _Shape, params: dict, path: str) -> None:
        for member in shape.members:
            value = params.get(member.json_key if self.is_json else member.name)
            if value is not None:
                self.check(self.model.shape(member.shape), value, _join(path, member.path_name))
            elif member.name in shape.required:
                self.messages.append(
                    f"Value null at '{_join(path, member.path_name)}' failed to satisfy "
                    "constraint: Member must not be null"
                )

    def check(self, shape: _Shape, value: Any, path: str) -> None:
        if shape.type == "structure":
            if not shape.document and self._is(dict, value, shape):
                self.structure(shape, value, path)
        elif shape.type == "list":
            if self._is(list, value, shape):
                self._list(shape, value, path)
        elif shape.type == "map":
            if self._is(dict, value, shape):
                self._map(shape, value, path)
        else:
            for constraint in self._scalar_violations(shape, value):
                self._report(shape, value, path, constraint)

    def _list(self, shape: _Shape, items: list, path: str) -> None:
        self._count(shape, items, path)
        member = self.model.shape(shape.member.shape)
        if _is_scalar(member):
            if any(self._scalar_violations(member, item) for item in items):
                self._report(shape, items, path, _summary("Member", member))
            return
        for index, item in enumerate(items, 1):
            item_path = f"{path}.{index}.member"
            if item is None:
                self._report(member, None, item_path, "Member must not be null")
            else:
                self.check(member, item, item_path)

    def _map(self, shape: _Shape, entries: dict, path: str) -> None:
        self._count(shape, entries, path)
        key = self.model.shape(shape.key.shape)
        if any(self._scalar_violations(key, name) for name in entries):
            self._report(shape, entries, path, _summary("Map keys", key))
        value = self.model.shape(shape.value.shape)
        if _is_scalar(value):
            if any(self._scalar_violations(value, item) for item in entries.values()):
                self._report(shape, entries, path, _summary("Map value", value))
            return
        for name, item in entries.items():
            if item is not None:
                self.check(value, item, f"{path}.{name}.member")

    def _count(self, shape: _Shape, collection: list | dict, path: str) -> None:
        for constraint in _bound_violations(shape, len(collection), "length"):
            self._report(shape, collection, path, constraint)

    def _scalar_violations(self, shape: _Shape, value: Any) -> list[str]:
        """The constraints a scalar value breaks, its type first."""
        if value is None:
            return ["Member must not be null"]
        kind = shape.type
        problem = _type_problem(kind, value)
        if problem is not None:
            if self.is_json:
                raise MalformedRequest(problem)
            return [f"Member must be of type {_JAVA_TYPES.get(kind, kind)}"]
        if kind == "string":
            broken = []
            if shape.pattern:
                pattern = compile_pattern(shape.pattern)
                if pattern is not None and not pattern.fullmatch(value):
                    broken.append(
                        f"Member must satisfy regular expression pattern: {shape.pattern}"
                    )
            broken += _bound_violations(shape, _java_length(value), "length")
            if shape.enum and value not in shape.enum:
                broken.append(f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
            return broken
        if kind == "blob":
            return _bound_violations(shape, _blob_length(value), "length")
        if kind in ("integer", "long", "float", "double") and not isinstance(value, str):
            return _bound_violations(shape, value, "value")
        return []

    def _is(self, expected: type, value: Any, shape: _Shape) -> bool:
        if isinstance(value, expected):
            return True
        if self.is_json:
            raise MalformedRequest(_composite_type_problem(shape.type, value))
        return False

    def _report(self, shape: _Shape, value: Any, path: str, constraint: str) -> None:
        if value is None:
            shown = "null "
        elif self.model.hides_value(shape):
            shown = ""
        else:
            shown = f"'{_render(value)}' "
        self.messages.append(f"Value {shown}at '{path}' failed to satisfy constraint: {constraint}")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _is_scalar(shape: _Shape) -> bool:
    return shape.type not in ("structure", "list", "map")


def _type_problem(kind: str, value: Any) -> str | None:
    """Why a JSON value cannot be read as this scalar type, in AWS's words; None if it can."""
    if kind in ("string", "blob"):
        fits = isinstance(value, str)
    elif kind in ("integer", "long"):
        fits = isinstance(value, int) and not isinstance(value, bool)
        fits = fits or (isinstance(value, float) and value.is_integer())
    elif kind in ("float", "double"):
        fits = isinstance(value, int | float) and not isinstance(value, bool)
        fits = fits or value in _NON_FINITE  # botocore sends these as strings
    elif kind == "boolean":
        fits = isinstance(value, bool)
    elif kind == "timestamp":
        fits = isinstance(value, int | float | str) and not isinstance(value, bool)
    else:
        fits = True
    if fits:
        return None
    if kind == "blob":
        return "only base-64-encoded strings are convertible to bytes"
    java_type = _JAVA_TYPES.get(kind, kind)
    if isinstance(value, dict):
        return "Start of structure or map found where not expected"
    if isinstance(value, list):
        return f"Unrecognized collection type class java.lang.{java_type}"
    if kind == "boolean" and isinstance(value, str):
        return "Unexpected token received from parser"
    if isinstance(value, bool):
        token = "TRUE_VALUE" if value else "FALSE_VALUE"
    elif isinstance(value, int):
        token = "NUMBER_VALUE"
    elif isinstance(value, float):
        token = "DECIMAL_VALUE"
    else:
        token = "STRING_VALUE"
    return f"{token} cannot be converted to {java_type}"


def _composite_type_problem(kind: str, value: Any) -> str:
    if isinstance(value, dict):
        return "Start of structure or map found where not expected"
    if isinstance(value, list):
        return "Start of list found where not expected"
    return "Unexpected field type"


def _bound_violations(shape: _Shape, amount: int | float, what: str) -> list[str]:
    """AWS's words for a ``length`` (strings, blobs, lists, maps) or ``value`` out of bounds."""
    broken = []
    if shape.max is not None and amount > shape.max:
        broken.append(f"Member must have {what} less than or equal to {shape.max}")
    if shape.min is not None and amount < shape.min:
        broken.append(f"Member must have {what} greater than or equal to {shape.min}")
    return broken


def _summary(subject: str, shape: _Shape) -> str:
    """How AWS states the constraints on the members of a list or the keys or values of a map."""
    what = "length" if shape.type in ("string", "blob") else "value"
    parts = []
    if shape.max is not None:
        parts.append(f"Member must have {what} less than or equal to {shape.max}")
    if shape.min is not None:
        parts.append(f"Member must have {what} greater than or equal to {shape.min}")
    if shape.pattern:
        parts.append(f"Member must satisfy regular expression pattern: {shape.pattern}")
    if shape.enum:
        parts.append(f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
    return f"{subject} must satisfy constraint: [{', '.join(parts)}]"


def _java_length(text: str) -> int:
    """Length as Java counts it: in UTF-16 code units."""
    return len(text) if text.isascii() else len(text.encode("utf-16-le")) // 2


def _blob_length(value: str) -> int:
    try:
        return len(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        return len(value)


def _render(value: Any) -> str:
    """A value as AWS prints it in messages (Java's toString of lists and maps)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_render(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}={_render(item)}" for key, item in value.items()) + "}"
    return str(value)


# --- Answering -------------------------------------------------------------------------------


WsgiResponse = tuple[str, list[tuple[str, str]], bytes]


def error_response(info: RequestInfo, messages: list[str]) -> WsgiResponse:
    """The WSGI status, headers and body AWS sends for these constraint messages."""
    count = len(messages)
    text = f"{count} validation error{'' if count == 1 else 's'} detected: " + "; ".join(messages)
    if info.protocol == "json":
        return _json_error(info, "ValidationException", {"message": text}, "ValidationError")
    return _query_error(info, "ValidationError", text)


def _malformed_response(info: RequestInfo, error: MalformedRequest) -> WsgiResponse:
    return _json_error(info, "SerializationException", {"Message": str(error)}, None)


def _json_error(info: RequestInfo, code: str, fields: dict, query_code: str | None) -> WsgiResponse:
    model = _CATALOG.model(info.service)
    body = json.dumps({"__type": code, **fields}).encode()
    headers = [
        ("Content-Type", f"application/x-amz-json-{model.json_version}"),
        ("Content-Length", str(len(body))),
        ("x-amzn-RequestId", str(uuid.uuid4())),
        ("x-amzn-ErrorType", code),
    ]
    if model.query_compatible and query_code:
        # Query-compatible services name the error as their query protocol did.
        headers.append(("x-amzn-query-error", f"{query_code};Sender"))
    return "400 Bad Request", headers, body


def _query_error(info: RequestInfo, code: str, message: str) -> WsgiResponse:
    namespace = _CATALOG.model(info.service).xml_namespace
    xmlns = f" xmlns={quoteattr(namespace)}" if namespace else ""
    body = (
        f"<ErrorResponse{xmlns}><Error><Type>Sender</Type><Code>{code}</Code>"
        f"<Message>{escape(message)}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    ).encode()
    headers = [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))]
    return "400 Bad Request", headers, body


class ValidatingMiddleware:
    """WSGI middleware: refuses, as AWS would, each request that breaks its service model.

    Anything it cannot identify passes through to the wrapped app, and so does any request
    whose check fails unexpectedly (logged): a fault here must not stop the local AWS.
    """

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        try:
            refusal = self._refusal(environ)
        except Exception:
            logger.exception("Request check failed; passing the request through unchecked")
            refusal = None
        if refusal is None:
            return self.app(environ, start_response)
        status, headers, body = refusal
        start_response(status, headers)
        return [body]

    @staticmethod
    def _refusal(environ):
        info = identify(environ)
        if info is None:
            return None
        try:
            messages = validate(info)
        except MalformedRequest as error:
            return _malformed_response(info, error)
        return error_response(info, messages) if messages else None
