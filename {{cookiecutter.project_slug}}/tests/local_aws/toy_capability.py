"""A toy capability, defined outside the local AWS: named counters behind a route of their own.

``POST /_toy/counters/<name>`` adds one and answers the count, ``GET`` answers it; the counters
live in a backend of their own that the state store keeps, and ``recover`` counts restarts.
"""

from __future__ import annotations

import json

from moto.core.base_backend import BackendDict, BaseBackend

from local_aws.capability import Capability, Context

REGION = "us-east-1"


class ToyBackend(BaseBackend):
    def __init__(self, region_name: str, account_id: str):
        super().__init__(region_name, account_id)
        self.counters: dict[str, int] = {}
        self.recoveries = 0


toy_backends = BackendDict(ToyBackend, "toy", use_boto3_regions=False, additional_regions=[REGION])


def counters_app(context: Context):
    backend = toy_backends[context.account_id][REGION]

    def app(environ, start_response):
        name = environ["PATH_INFO"].removeprefix("/_toy/counters/")
        if environ["REQUEST_METHOD"] == "POST":
            backend.counters[name] = backend.counters.get(name, 0) + 1
        body = {"name": name, "count": backend.counters.get(name, 0)}
        body["recoveries"] = backend.recoveries
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]

    return app


def recover(context: Context) -> list[str]:
    backend = toy_backends[context.account_id][REGION]
    backend.recoveries += 1
    return [f"toy counters: {len(backend.counters)} restored"]


TOY = Capability(
    name="toy counters",
    persists=("toy",),
    backends={"toy": toy_backends},
    recover=recover,
    routes={"/_toy/counters/": counters_app},
)
