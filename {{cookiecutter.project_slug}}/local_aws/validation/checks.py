"""The checks: every constraint of the operation's input shape, at any depth, as AWS words them."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from local_aws.validation.identify import MalformedRequest, RequestInfo
from local_aws.validation.java_regex import compile_pattern
from local_aws.validation.service_models import CATALOG, ServiceModel, Shape


def validate(info: RequestInfo) -> list[str]:
    """AWS's messages for every constraint the request breaks; empty when it is valid.

    Raises MalformedRequest for a JSON value of the wrong type, which AWS reports alone.
    """
    model = CATALOG.model(info.service)
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

    def __init__(self, model: ServiceModel, protocol: str):
        self.model = model
        self.is_json = protocol == "json"
        self.messages: list[str] = []

    def structure(self, shape: Shape, params: dict, path: str) -> None:
        for member in shape.members:
            value = params.get(member.json_key if self.is_json else member.name)
            if value is not None:
                self.check(self.model.shape(member.shape), value, _join(path, member.path_name))
            elif member.name in shape.required:
                self.messages.append(
                    f"Value null at '{_join(path, member.path_name)}' failed to satisfy "
                    "constraint: Member must not be null"
                )

    def check(self, shape: Shape, value: Any, path: str) -> None:
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

    def _list(self, shape: Shape, items: list, path: str) -> None:
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

    def _map(self, shape: Shape, entries: dict, path: str) -> None:
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

    def _count(self, shape: Shape, collection: list | dict, path: str) -> None:
        for constraint in _bound_violations(shape, len(collection), "length"):
            self._report(shape, collection, path, constraint)

    def _scalar_violations(self, shape: Shape, value: Any) -> list[str]:
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

    def _is(self, expected: type, value: Any, shape: Shape) -> bool:
        if isinstance(value, expected):
            return True
        if self.is_json:
            raise MalformedRequest(_composite_type_problem(shape.type, value))
        return False

    def _report(self, shape: Shape, value: Any, path: str, constraint: str) -> None:
        if value is None:
            shown = "null "
        elif self.model.hides_value(shape):
            shown = ""
        else:
            shown = f"'{_render(value)}' "
        self.messages.append(f"Value {shown}at '{path}' failed to satisfy constraint: {constraint}")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _is_scalar(shape: Shape) -> bool:
    return shape.type not in ("structure", "list", "map")


def _type_problem(kind: str, value: Any) -> str | None:
    """Why a JSON value cannot be read as this scalar type, in AWS's words; None if it can."""
    if kind in ("string", "blob"):
        fits = isinstance(value, str) or (kind == "blob" and isinstance(value, bytes))
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


def _bound_violations(shape: Shape, amount: int | float, what: str) -> list[str]:
    """AWS's words for a ``length`` (strings, blobs, lists, maps) or ``value`` out of bounds."""
    broken = []
    if shape.max is not None and amount > shape.max:
        broken.append(f"Member must have {what} less than or equal to {shape.max}")
    if shape.min is not None and amount < shape.min:
        broken.append(f"Member must have {what} greater than or equal to {shape.min}")
    return broken


def _summary(subject: str, shape: Shape) -> str:
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


def _blob_length(value: str | bytes) -> int:
    if isinstance(value, bytes):  # a REST payload, as sent
        return len(value)
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
