"""Prometheus metrics of the proxy, served at ``/metrics`` on the admin port (``--admin-port``,
:mod:`cloudstate.proxy.admin.server`).

All metrics live in one registry of this process (:data:`REGISTRY`, not prometheus-client's
global one). Hot paths use label children bound once (per method, per entity type, per store), so
recording costs an attribute lookup and a lock-free-ish increment, never a dict of labels.

Example::

    from cloudstate.proxy import metrics
    bound = metrics.method_metrics("com.example.ShoppingCart", "AddItem")
    bound.record("OK", 0.003)
    text = metrics.render()     # the Prometheus text exposition
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)

REQUESTS = Counter(
    "cloudstate_requests",
    "Client requests (and eventing deliveries) by service, method and gRPC status",
    ["service", "method", "status"],
    registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "cloudstate_request_duration_seconds",
    "Time from a unary request reaching the router to its reply (forwards and synchronous "
    "side effects included)",
    ["service", "method"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
IN_FLIGHT = Gauge(
    "cloudstate_requests_in_flight",
    "Requests being handled by the router right now",
    registry=REGISTRY,
)
QUEUED = Gauge(
    "cloudstate_requests_queued",
    "Requests waiting for a slot of --max-concurrent-requests (--max-queued-requests)",
    registry=REGISTRY,
)
REJECTED = Counter(
    "cloudstate_requests_rejected",
    "Requests refused by a limit (RESOURCE_EXHAUSTED / HTTP 429), by limit",
    ["limit"],
    registry=REGISTRY,
)
CONNECTIONS_OPEN = Gauge(
    "cloudstate_connections_open",
    "Connections of the client port open now (--http-max-connections)",
    registry=REGISTRY,
)
CONNECTIONS_CUT = Counter(
    "cloudstate_connections_cut",
    "Client connections refused or closed by a limit of the client port, by limit",
    ["limit"],
    registry=REGISTRY,
)
HTTP_BUFFERED = Gauge(
    "cloudstate_http_buffered_bytes",
    "Request bytes held by HTTP connections until their requests are answered "
    "(--http-max-buffered)",
    registry=REGISTRY,
)
ACTIVATIONS = Counter(
    "cloudstate_entity_activations",
    "Entities activated (state loaded, stream opened)",
    ["entity_type", "service"],
    registry=REGISTRY,
)
EXPIRED_VALUES_PURGED = Counter(
    "cloudstate_expired_values_purged",
    "Value entities and CRDTs whose time-to-live ran out, purged from the store (payload gone)",
    registry=REGISTRY,
)
PASSIVATIONS = Counter(
    "cloudstate_entity_passivations",
    "Entities passivated after their idle timeout",
    ["entity_type", "service"],
    registry=REGISTRY,
)
STREAM_RESTARTS = Counter(
    "cloudstate_entity_stream_restarts",
    "User-function entity streams restarted (broken stream, timeout, failure, conflict)",
    ["entity_type", "service"],
    registry=REGISTRY,
)
CONFLICTS = Counter(
    "cloudstate_entity_conflicts_total",
    "Commands re-run because another node changed the entity first (a lost conditional write "
    "or a stale read caught by validation)",
    ["entity_type", "service"],
    registry=REGISTRY,
)
ACTIVE_ENTITIES = Gauge(
    "cloudstate_entities_active",
    "Entities currently active",
    ["entity_type", "service"],
    registry=REGISTRY,
)
REPLAYED_EVENTS = Counter(
    "cloudstate_replayed_events",
    "Journal events replayed into user-function streams on activation",
    ["service"],
    registry=REGISTRY,
)
REPLAY_SECONDS = Histogram(
    "cloudstate_replay_duration_seconds",
    "Time to load and replay an event-sourced entity (snapshot and events) on activation",
    ["service"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
JOURNAL_BATCH = Histogram(
    "cloudstate_store_write_batch_size",
    "Write requests carried by one store transaction (group commit)",
    ["store"],
    buckets=_BATCH_BUCKETS,
    registry=REGISTRY,
)
COMMIT_SECONDS = Histogram(
    "cloudstate_store_commit_duration_seconds",
    "Time to run and commit one store write transaction",
    ["store"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
STORE_ERRORS = Counter(
    "cloudstate_store_errors",
    "Failed store transactions (the whole batch failed)",
    ["store"],
    registry=REGISTRY,
)
EVENTING_LAG = Gauge(
    "cloudstate_eventing_lag_seconds",
    "Age of the oldest event a consumer has not handled yet (0 when caught up)",
    ["consumer", "source"],
    registry=REGISTRY,
)
EVENTING_PENDING = Gauge(
    "cloudstate_eventing_pending_events",
    "Offsets between a consumer's committed offset and the head of its log",
    ["consumer", "source"],
    registry=REGISTRY,
)
EVENTING_FAILURES = Gauge(
    "cloudstate_eventing_failures",
    "Failed deliveries (retried) of a consumer since the proxy started",
    ["consumer", "source"],
    registry=REGISTRY,
)
EVENTING_DEAD_LETTERS = Gauge(
    "cloudstate_eventing_dead_letters",
    "Messages an eventing consumer or view parked and that wait for a redrive or a discard "
    "(cloudstate eventing dead-letters)",
    ["consumer"],
    registry=REGISTRY,
)
EVENTING_PARKED = Counter(
    "cloudstate_eventing_parked",
    "Messages an eventing consumer or view parked after its attempts ran out",
    ["consumer"],
    registry=REGISTRY,
)
IDEMPOTENT_CALLS = Counter(
    "cloudstate_idempotent_calls",
    "Calls with an idempotency key, by outcome: first (ran, answer stored), replayed (answered "
    "from the stored answer) or mismatch (the key was used for another request)",
    ["outcome"],
    registry=REGISTRY,
)

DURABLE_PENDING = Gauge(
    "cloudstate_durable_tasks_pending",
    "Durable tasks (durable side effects, timers, schedule ticks) waiting to be delivered",
    registry=REGISTRY,
)
DURABLE_OVERDUE = Gauge(
    "cloudstate_durable_tasks_overdue",
    "Pending durable tasks whose due time has passed (being delivered or retried)",
    registry=REGISTRY,
)
DEAD_LETTERS = Gauge(
    "cloudstate_dead_letters",
    "Durable tasks whose attempts ran out (cloudstate durable dead-letters)",
    registry=REGISTRY,
)
DURABLE_DELIVERIES = Counter(
    "cloudstate_durable_deliveries",
    "Deliveries of durable tasks by outcome: ok, retry (failed, tried again later), dead "
    "(failed for the last time: a dead letter)",
    ["outcome"],
    registry=REGISTRY,
)
DURABLE_LATENESS = Histogram(
    "cloudstate_durable_lateness_seconds",
    "Time from a durable task's due time to the start of its delivery",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)

WORKFLOWS = Gauge(
    "cloudstate_workflows",
    "Workflows by service and status (running, waiting, suspended), counted from this node's "
    "writes (a workflow counts on the node that wrote it last)",
    ["service", "status"],
    registry=REGISTRY,
)
WORKFLOW_TRANSITIONS = Counter(
    "cloudstate_workflow_transitions",
    "Workflow transitions written by this node, by outcome: step (a step's transition), "
    "command, retry (an attempt failed, retried later), recover, timeout, operator",
    ["service", "outcome"],
    registry=REGISTRY,
)
WORKFLOW_STEP_SECONDS = Histogram(
    "cloudstate_workflow_step_seconds",
    "Time of one attempt of a workflow step (the step, its call and its continuation)",
    ["service", "step"],
    buckets=(*_LATENCY_BUCKETS, 30, 60),
    registry=REGISTRY,
)
WORKFLOW_STEP_RETRIES = Counter(
    "cloudstate_workflow_step_retries",
    "Failed attempts of workflow steps that are tried again",
    ["service", "step"],
    registry=REGISTRY,
)
WORKFLOWS_ENDED = Counter(
    "cloudstate_workflows_ended",
    "Workflows that ended on this node, by status (COMPLETED, FAILED, CANCELLED)",
    ["service", "status"],
    registry=REGISTRY,
)


class MethodMetrics:
    """Label children of one method, bound once; ``record`` is the per-request cost."""

    __slots__ = ("_by_status", "_latency", "_method", "_ok", "_service")

    def __init__(self, service: str, method: str) -> None:
        self._service = service
        self._method = method
        self._ok = REQUESTS.labels(service, method, "OK")
        self._latency = REQUEST_SECONDS.labels(service, method)
        self._by_status: dict[str, Any] = {"OK": self._ok}

    def record(self, status: str, seconds: float | None) -> None:
        """Count one request ending with ``status``; observe its latency when given."""
        child = self._ok if status == "OK" else self._by_status.get(status)
        if child is None:
            child = self._by_status[status] = REQUESTS.labels(self._service, self._method, status)
        child.inc()
        if seconds is not None:
            self._latency.observe(seconds)


_methods: dict[tuple[str, str], MethodMetrics] = {}


def method_metrics(service: str, method: str) -> MethodMetrics:
    """The bound metrics of ``service.method`` (created on first use)."""
    key = (service, method)
    bound = _methods.get(key)
    if bound is None:
        bound = _methods[key] = MethodMetrics(service, method)
    return bound


class EntityMetrics:
    """Label children of one entity type's service."""

    __slots__ = ("activations", "active", "conflicts", "passivations", "restarts")

    def __init__(self, entity_type: str, service: str) -> None:
        short = entity_type.rsplit(".", 1)[-1]
        self.activations = ACTIVATIONS.labels(short, service)
        self.passivations = PASSIVATIONS.labels(short, service)
        self.restarts = STREAM_RESTARTS.labels(short, service)
        self.conflicts = CONFLICTS.labels(short, service)
        self.active = ACTIVE_ENTITIES.labels(short, service)


class StoreMetrics:
    """Label children of one store backend (``sqlite``, ``postgresql``)."""

    __slots__ = ("batch", "commit", "errors")

    def __init__(self, store: str) -> None:
        self.batch = JOURNAL_BATCH.labels(store)
        self.commit = COMMIT_SECONDS.labels(store)
        self.errors = STORE_ERRORS.labels(store)


#: Called before each scrape to refresh gauges that are read, not pushed (eventing lag).
Refresher = Callable[[], Awaitable[None]]


def render() -> bytes:
    """The text exposition of every metric."""
    return generate_latest(REGISTRY)


def now() -> float:
    """The clock of every duration metric."""
    return time.perf_counter()
