#!/usr/bin/env python3
"""The model server: SageMaker's container serving contract around the inference handlers.

SageMaker starts a serving container as ``docker run <image> serve``; the jobs' image copies this
file to ``/usr/local/bin/serve`` (see Dockerfile), and the local AWS runs the same file for each
endpoint variant. It follows the contract of SageMaker's framework containers, so the registered
model runs the same here, on SageMaker and in SageMaker's own XGBoost image:

- the model is unpacked at ``/opt/ml/model``; the handlers' code is ``$SAGEMAKER_PROGRAM``
  (``inference.py``) from ``$SAGEMAKER_SUBMIT_DIRECTORY`` (a ``tar.gz`` in S3, or a folder),
  else from the model's ``code/`` folder;
- each worker loads the model with ``model_fn`` as it starts; ``GET /ping`` answers 200 from
  then on (a server whose ``model_fn`` fails exits, and never passes the health check);
- ``POST /invocations`` runs ``input_fn`` → ``predict_fn`` → ``output_fn`` with the request's
  ``Content-Type`` and ``Accept`` (``$SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`` when it has none);
- it listens on ``$SAGEMAKER_BIND_TO_PORT`` (8080) at ``$MODEL_SERVER_HOST`` (every interface,
  as in a container; the local AWS binds 127.0.0.1), with ``$SAGEMAKER_MODEL_SERVER_WORKERS``
  workers (one per CPU) and ``$SAGEMAKER_MODEL_SERVER_TIMEOUT`` seconds per request (60).

Errors: an exception carrying a ``status_code`` answers with it and its message (the package's
``RequestError``: 400 for a body it cannot read, 415 for an unsupported content type); any other
exception is the model's, 500 with its message and the traceback in the log. (SageMaker's
framework images answer 500 to every handler error.)

This file imports only the standard library, gunicorn and (for code in S3) boto3: it runs before
any of the package's code is on the path.
"""

from __future__ import annotations

import importlib.util
import io
import logging
import os
import sys
import tarfile
import tempfile
import traceback
from pathlib import Path
from types import ModuleType

log = logging.getLogger("serve")

MODEL_DIR = "/opt/ml/model"
HANDLERS = ("model_fn", "input_fn", "predict_fn", "output_fn")


class HandlerError(Exception):
    """A handler failed: the HTTP status and the message the caller gets."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def load_handlers(model_dir: Path) -> ModuleType:
    """Import ``$SAGEMAKER_PROGRAM`` from the submitted code, with its folder on the path."""
    program = os.environ.get("SAGEMAKER_PROGRAM", "inference.py")
    submitted = os.environ.get("SAGEMAKER_SUBMIT_DIRECTORY", "")
    if submitted.startswith("s3://"):
        code_dir = download_code(submitted)
    elif submitted:
        code_dir = Path(submitted)
    else:
        code_dir = model_dir / "code"
    path = code_dir / program
    if not path.is_file():
        raise FileNotFoundError(f"the handlers' code {program} is not in {submitted or code_dir}")
    sys.path.insert(0, str(code_dir))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    missing = [name for name in HANDLERS if not callable(getattr(module, name, None))]
    if missing:
        raise AttributeError(f"{program} defines no {', '.join(missing)}")
    return module


def download_code(uri: str) -> Path:
    """Unpack the code tarball at ``uri`` into a fresh folder (refusing unsafe members)."""
    import boto3

    bucket, _, key = uri[len("s3://") :].partition("/")
    body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    target = Path(tempfile.mkdtemp(prefix="code-"))
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
        archive.extractall(target, filter="data")
    return target


class InferenceApp:
    """The WSGI application: ``/ping`` and ``/invocations`` around the loaded handlers."""

    def __init__(self, handlers: ModuleType, model: object, default_accept: str):
        self.handlers = handlers
        self.model = model
        self.default_accept = default_accept

    def __call__(self, environ, start_response):
        path, method = environ.get("PATH_INFO", ""), environ["REQUEST_METHOD"]
        if path == "/ping" and method == "GET":
            return self.respond(start_response, 200, b"")
        if path == "/invocations" and method == "POST":
            return self.invoke(environ, start_response)
        return self.respond(start_response, 404, f"no route {method} {path}".encode())

    def invoke(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        content_type = environ.get("CONTENT_TYPE", "")
        accept = environ.get("HTTP_ACCEPT") or self.default_accept
        if accept in ("", "*/*"):
            accept = self.default_accept
        try:
            data = self.call("input_fn", body, content_type)
            prediction = self.call("predict_fn", data, self.model)
            answer = self.call("output_fn", prediction, accept)
        except HandlerError as error:
            return self.respond(start_response, error.status, str(error).encode())
        if isinstance(answer, str):
            answer = answer.encode("utf-8")
        return self.respond(start_response, 200, answer, accept)

    def call(self, name: str, *args):
        try:
            return getattr(self.handlers, name)(*args)
        except Exception as error:
            status = getattr(error, "status_code", 500)
            if status >= 500:
                log.error("%s failed:\n%s", name, traceback.format_exc())
            raise HandlerError(status, str(error) or type(error).__name__) from error

    @staticmethod
    def respond(start_response, status: int, body: bytes, content_type: str = "text/plain"):
        from http import HTTPStatus

        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        start_response(
            f"{status} {phrase}",
            [("Content-Type", content_type), ("Content-Length", str(len(body)))],
        )
        return [body]


def build_app() -> InferenceApp:
    """Load the handlers and the model: done once in each worker."""
    model_dir = Path(os.environ.get("SM_MODEL_DIR", MODEL_DIR))
    handlers = load_handlers(model_dir)
    model = handlers.model_fn(str(model_dir))
    default_accept = os.environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "application/json")
    log.info("model loaded from %s; serving %s", model_dir, handlers.__file__)
    return InferenceApp(handlers, model, default_accept)


def options() -> dict:
    """gunicorn's settings from SageMaker's serving variables."""
    host = os.environ.get("MODEL_SERVER_HOST", "0.0.0.0")
    port = os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080")
    return {
        "bind": f"{host}:{port}",
        "workers": int(os.environ.get("SAGEMAKER_MODEL_SERVER_WORKERS") or os.cpu_count() or 1),
        "timeout": int(os.environ.get("SAGEMAKER_MODEL_SERVER_TIMEOUT", "60")),
        "worker_class": "sync",
        # model_fn runs in each worker once it has started (XGBoost and OpenMP do not survive a
        # fork after use); a model that will not load stops the server
        "preload_app": False,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "model-server",
        "control_socket_disable": True,  # gunicorn's admin socket in $HOME: not needed here
    }


def main(argv: list[str] | None = None) -> None:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments not in ([], ["serve"]):
        sys.exit(f"usage: serve (SageMaker starts serving containers as `serve`), got {arguments}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):
        def load_config(self):
            for name, value in options().items():
                self.cfg.set(name, value)

        def load(self):
            return build_app()

    Server().run()


if __name__ == "__main__":
    main()
