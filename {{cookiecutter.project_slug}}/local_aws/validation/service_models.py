"""botocore's service models, loaded and indexed as requests first need them."""

from __future__ import annotations

import gzip
import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from botocore.loaders import create_loader


@dataclass(frozen=True, slots=True)
class Ref:
    """A reference to a shape: a structure member, or a list's member, a map's key or value."""

    name: str  # member name, as in boto3 parameters
    path_name: str  # in error messages: the member name with its first letter lowered
    shape: str
    json_key: str  # key in a JSON body
    query_key: str  # path component in a query string
    flattened: bool  # query protocol: a list or map without its ".member" or ".entry" level
    location: str | None  # REST protocols: uri, header, querystring (None: in the body)
    location_name: str | None  # REST protocols: the label, header or query field


@dataclass(frozen=True, slots=True)
class Route:
    """A REST operation's HTTP method and path template, matched against a request."""

    operation: str
    method: str
    path: re.Pattern
    #: The input member that is the whole body (a blob), if any.
    payload: str | None
    #: Query fields the request URI names literally (``?versions``, ``?find=LayerVersion``).
    query: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True, slots=True)
class Shape:
    name: str
    type: str
    min: int | float | None
    max: int | float | None
    pattern: str | None
    enum: tuple[str, ...]
    sensitive: bool
    document: bool
    required: frozenset[str]
    members: tuple[Ref, ...]
    member: Ref | None  # of a list
    key: Ref | None  # of a map
    value: Ref | None  # of a map


def _ref(raw_shapes: dict, ref: dict, name: str, default_query_key: str) -> Ref:
    location_name = ref.get("locationName")
    return Ref(
        name=name,
        path_name=name[:1].lower() + name[1:],
        shape=ref["shape"],
        json_key=location_name or name,
        query_key=location_name or default_query_key,
        flattened=bool(ref.get("flattened", raw_shapes[ref["shape"]].get("flattened"))),
        location=ref.get("location"),
        location_name=location_name,
    )


class ServiceModel:
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
        self._http = {
            operation: spec.get("http", {}) for operation, spec in raw["operations"].items()
        }
        self._routes: list[Route] | None = None
        self.errors = {
            operation: {error["shape"] for error in spec.get("errors", [])}
            for operation, spec in raw["operations"].items()
        }
        self._raw_shapes = raw["shapes"]
        self._shapes: dict[str, Shape] = {}
        self._hides_value: dict[str, bool] = {}

    def routes(self) -> list[Route]:
        """REST operations: method, path template and the query fields their URI names."""
        if self._routes is None:
            routes = []
            for operation, http in self._http.items():
                template, _, literal = http.get("requestUri", "").partition("?")
                query = tuple(
                    (name, value if "=" in field else None)
                    for field in filter(None, literal.split("&"))
                    if not (value := field.partition("=")[2]).startswith("{")
                    for name in [field.partition("=")[0]]
                )
                pattern = re.sub(
                    r"\\{([A-Za-z0-9_]+)(\\\+)?\\}",
                    lambda m: f"(?P<{m.group(1)}>{'.+' if m.group(2) else '[^/]+'})",
                    re.escape(template),
                )
                shape_name = self.operations.get(operation)
                payload = self._raw_shapes[shape_name].get("payload") if shape_name else None
                method = http.get("method", "POST")
                routes.append(
                    Route(operation, method, re.compile(f"^{pattern}/?$"), payload, query)
                )
            self._routes = routes
        return self._routes

    def speaks(self, protocol: str) -> bool:
        # A query-compatible service still answers its older query-protocol clients.
        return protocol in self.protocols or (protocol == "query" and self.query_compatible)

    def input_shape(self, operation: str) -> Shape | None:
        name = self.operations.get(operation)
        return self.shape(name) if name else None

    def shape(self, name: str) -> Shape:
        shape = self._shapes.get(name)
        if shape is None:
            shape = self._shapes[name] = self._build(name)
        return shape

    def _build(self, name: str) -> Shape:
        raw = self._raw_shapes[name]
        shapes = self._raw_shapes
        member = raw.get("member")
        key, value = raw.get("key"), raw.get("value")
        return Shape(
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

    def hides_value(self, shape: Shape) -> bool:
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
        self._models: dict[str, ServiceModel] = {}

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

    def model(self, service: str) -> ServiceModel:
        model = self._models.get(service)
        if model is None:
            with self._lock:
                model = self._models.get(service)
                if model is None:
                    raw = self._get_loader().load_service_model(service, "service-2")
                    model = self._models[service] = ServiceModel(raw)
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


CATALOG = _Catalog()
