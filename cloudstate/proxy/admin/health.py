"""Admin operation ``GetMetrics``: the proxy's own metrics (:mod:`cloudstate.proxy.metrics`) as
numbers for the console's health page: per method the requests, errors and latency buckets, the
active entities per service, the store's commit latency. Counters are totals since the proxy
started; a reader takes two and charts the difference (rates, percentiles over the interval).

Example (HTTP)::

    GET /v1/metrics
    -> {"methods": [{"service": "...ShoppingCart", "method": "AddItem", "requests": "12",
                     "errors": "1", "latency": [{"le": 0.0005, "count": "3"}, ...]}], ...}
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from cloudstate.protocol import admin_pb2
from cloudstate.proxy import metrics
from cloudstate.proxy.admin.decode import timestamp
from cloudstate.proxy.admin.operations import ProxyState, operation


@dataclass
class _Histogram:
    """One histogram's buckets, summed over the label sets folded into it."""

    buckets: dict[float, float] = field(default_factory=dict)
    count: float = 0.0
    total: float = 0.0

    def add(self, suffix: str, labels: dict[str, str], value: float) -> None:
        if suffix == "_bucket":
            bound = float(labels["le"])
            if not math.isinf(bound):
                self.buckets[bound] = self.buckets.get(bound, 0.0) + value
        elif suffix == "_count":
            self.count += value
        elif suffix == "_sum":
            self.total += value

    def messages(self) -> list[admin_pb2.LatencyBucket]:
        return [
            admin_pb2.LatencyBucket(le=bound, count=round(count))
            for bound, count in sorted(self.buckets.items())
        ]


@dataclass
class _Method:
    requests: float = 0.0
    errors: float = 0.0
    latency: _Histogram = field(default_factory=_Histogram)


def _samples(name: str) -> Iterable[tuple[str, dict[str, str], float]]:
    """(suffix, labels, value) of every sample of the metric family ``name``."""
    for family in metrics.REGISTRY.collect():
        if family.name != name:
            continue
        for sample in family.samples:
            yield sample.name.removeprefix(name), sample.labels, sample.value


@operation("GetMetrics")
async def get_metrics(
    request: admin_pb2.GetMetricsRequest, proxy: ProxyState
) -> admin_pb2.GetMetricsResponse:
    methods: dict[tuple[str, str], _Method] = {}

    def of(labels: dict[str, str]) -> _Method:
        return methods.setdefault((labels["service"], labels["method"]), _Method())

    for suffix, labels, value in _samples("cloudstate_requests"):
        if suffix == "_total":
            found = of(labels)
            found.requests += value
            if labels["status"] != "OK":
                found.errors += value
    for suffix, labels, value in _samples("cloudstate_request_duration_seconds"):
        of(labels).latency.add(suffix, labels, value)
    commit = _Histogram()
    for suffix, labels, value in _samples("cloudstate_store_commit_duration_seconds"):
        commit.add(suffix, labels, value)
    reply = admin_pb2.GetMetricsResponse(
        time=timestamp(time.time()),
        store_commits=round(commit.count),
        store_commit_seconds_sum=commit.total,
        store_commit=commit.messages(),
        requests_in_flight=round(
            sum(value for _, _, value in _samples("cloudstate_requests_in_flight"))
        ),
    )
    for (service, method), found in sorted(methods.items()):
        reply.methods.add(
            service=service,
            method=method,
            requests=round(found.requests),
            errors=round(found.errors),
            observed=round(found.latency.count),
            latency_seconds_sum=found.latency.total,
            latency=found.latency.messages(),
        )
    for _, labels, value in _samples("cloudstate_entities_active"):
        reply.entities.add(
            service=labels["service"], entity_type=labels["entity_type"], active=round(value)
        )
    return reply
