"""The WSGI middleware that refuses bad requests, and the error responses AWS would give."""

from __future__ import annotations

import json
import logging
import uuid
from xml.sax.saxutils import escape, quoteattr

from local_aws.validation.checks import validate
from local_aws.validation.identify import MalformedRequest, RequestInfo, identify
from local_aws.validation.service_models import CATALOG

logger = logging.getLogger(__name__)

WsgiResponse = tuple[str, list[tuple[str, str]], bytes]


def error_response(info: RequestInfo, messages: list[str]) -> WsgiResponse:
    """The WSGI status, headers and body AWS sends for these constraint messages."""
    count = len(messages)
    text = f"{count} validation error{'' if count == 1 else 's'} detected: " + "; ".join(messages)
    if info.protocol == "json":
        return _json_error(info, "ValidationException", {"message": text}, "ValidationError")
    if info.protocol == "rest-json":
        return _rest_json_error(info, text)
    return _query_error(info, "ValidationError", text)


def _rest_json_error(info: RequestInfo, message: str) -> WsgiResponse:
    """REST-JSON services name their validation error in the model (SageMaker's runtime:
    ``ValidationError``); most call it ``ValidationException``."""
    errors = CATALOG.model(info.service).errors.get(info.operation, set())
    code = "ValidationError" if "ValidationError" in errors else "ValidationException"
    body = json.dumps({"message": message}).encode()
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("x-amzn-RequestId", str(uuid.uuid4())),
        ("x-amzn-ErrorType", code),
    ]
    return "400 Bad Request", headers, body


def _malformed_response(info: RequestInfo, error: MalformedRequest) -> WsgiResponse:
    return _json_error(info, "SerializationException", {"Message": str(error)}, None)


def _json_error(info: RequestInfo, code: str, fields: dict, query_code: str | None) -> WsgiResponse:
    model = CATALOG.model(info.service)
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
    namespace = CATALOG.model(info.service).xml_namespace
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
