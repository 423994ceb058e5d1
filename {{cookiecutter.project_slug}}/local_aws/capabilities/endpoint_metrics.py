"""The ``AWS/SageMaker`` endpoint metrics, from the invocations the runtime serves.

SageMaker publishes per endpoint and variant (dimensions ``EndpointName``, ``VariantName``), at
one-minute resolution: ``Invocations`` (a count), ``InvocationsPerInstance`` (invocations divided
by the variant's instance count), ``ModelLatency`` and ``OverheadLatency`` (microseconds: the
container's time, and the rest), ``Invocation4XXErrors`` and ``Invocation5XXErrors`` (0 or 1 per
invocation, so that their Average is a rate and their Sum a count).

Each invocation only updates a statistic set in memory (sum, count, minimum, maximum per metric
and minute); the sets are written to CloudWatch every ``FLUSH_SECONDS`` as statistic-set
datapoints, so the stored data grows with time, not with traffic.
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from datetime import UTC, datetime

from moto.backends import get_backend
from moto.cloudwatch.models import MetricAggregatedDatum

from local_aws.capability import Context

NAMESPACE = "AWS/SageMaker"
FLUSH_SECONDS = float(os.environ.get("LOCAL_AWS_METRICS_FLUSH_SECONDS", "10"))
METRICS = "endpoint metrics"
_UNITS = {
    "Invocations": "None",
    "InvocationsPerInstance": "None",
    "ModelLatency": "Microseconds",
    "OverheadLatency": "Microseconds",
    "Invocation4XXErrors": "None",
    "Invocation5XXErrors": "None",
}


class EndpointMetrics:
    """Statistic sets per (account, region, endpoint, variant, minute, metric)."""

    def __init__(self, context: Context):
        self.context = context
        self._sets: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0, float("inf"), 0.0])
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="endpoint-metrics", daemon=True)
        self._thread.start()

    def record(
        self,
        where: tuple[str, str, str, str],
        instances: int,
        status: int,
        model_seconds: float,
        overhead_seconds: float,
    ) -> None:
        """One invocation of ``where`` = (account, region, endpoint, variant)."""
        # naive UTC, as moto keeps the timestamps of the datapoints it is sent
        minute = datetime.now(UTC).replace(second=0, microsecond=0, tzinfo=None)
        values = {
            "Invocations": 1.0,
            "InvocationsPerInstance": 1.0 / max(instances, 1),
            "Invocation4XXErrors": 1.0 if 400 <= status < 500 else 0.0,
            "Invocation5XXErrors": 1.0 if status >= 500 else 0.0,
        }
        if model_seconds >= 0:
            values["ModelLatency"] = model_seconds * 1e6
        values["OverheadLatency"] = max(overhead_seconds, 0.0) * 1e6
        with self._lock:
            for metric, value in values.items():
                statistics = self._sets[(*where, minute, metric)]
                statistics[0] += value
                statistics[1] += 1
                statistics[2] = min(statistics[2], value)
                statistics[3] = max(statistics[3], value)

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            self.flush()

    def flush(self) -> None:
        with self._lock:
            sets, self._sets = self._sets, defaultdict(lambda: [0.0, 0, float("inf"), 0.0])
        if not sets:
            return
        with self.context.lock:
            for (account, region, endpoint, variant, minute, metric), values in sets.items():
                total, count, smallest, largest = values
                backend = get_backend("cloudwatch")[account][region]
                backend.metric_data.append(
                    MetricAggregatedDatum(
                        namespace=NAMESPACE,
                        name=metric,
                        min_stat=smallest,
                        max_stat=largest,
                        sample_count=count,
                        sum_stat=total,
                        dimensions=[
                            {"Name": "EndpointName", "Value": endpoint},
                            {"Name": "VariantName", "Value": variant},
                        ],
                        timestamp=minute,
                        unit=_UNITS[metric],
                    )
                )
            self.context.store.save_soon(["cloudwatch"])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.flush()


def endpoint_metrics(context: Context) -> EndpointMetrics:
    return context.shared[METRICS]
