"""Deliberately broken variants of our proxy, to prove the TCK's proxy cases catch them.

``python tests/tck/mutant_proxy.py MUTANT --store URL`` patches one thing in the proxy, then runs
``cloudstate proxy`` (user function and port from ``USER_FUNCTION_HOST``/``USER_FUNCTION_PORT``
and ``HTTP_PORT``, as the TCK's ``--proxy-command`` provides them).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cloudstate import cli
from cloudstate.proxy import router
from cloudstate.proxy.entities import actor, base, crdt, event_sourced
from cloudstate.proxy.eventing import event_log
from cloudstate.proxy.http import grpc_native
from cloudstate.proxy.ingress import grpc_ingress
from cloudstate.proxy.stores import sqlite
from cloudstate.proxy.stores.base import Payload, StoredEvent


def forget_events() -> None:
    """Acknowledge events without writing them (a reply before anything is durable)."""

    async def append_events(
        self: Any,
        persistence_id: str,
        entity_id: str,
        expected_sequence: int,
        events: Sequence[Payload],
        snapshot: Payload | None = None,
    ) -> int:
        return expected_sequence + len(events)

    sqlite.SqliteStore.append_events = append_events  # type: ignore[method-assign]


def forget_deletes() -> None:
    """Acknowledge value-entity deletes without deleting anything."""
    original = sqlite.SqliteStore.save_value

    async def save_value(
        self: Any,
        persistence_id: str,
        entity_id: str,
        value: Payload | None,
        expected_version: int | None = None,
    ) -> int:
        if value is None:
            return (expected_version or 0) + 1
        return await original(self, persistence_id, entity_id, value, expected_version)

    sqlite.SqliteStore.save_value = save_value  # type: ignore[method-assign]


def no_replay() -> None:
    """Activate entities without replaying their journal."""

    async def read_events(
        self: Any, persistence_id: str, entity_id: str, after_sequence: int = 0
    ) -> AsyncIterator[StoredEvent]:
        return
        yield

    sqlite.SqliteStore.read_events = read_events  # type: ignore[method-assign,assignment]


def unknown_status() -> None:
    """Give user failures UNKNOWN, as the original proxy did, instead of INVALID_ARGUMENT."""
    original = base.failure_error

    def failure_error(failure: Any, default: grpc.StatusCode) -> Any:
        return original(failure, grpc.StatusCode.UNKNOWN)

    event_sourced.failure_error = failure_error  # type: ignore[assignment]


def ignore_passivation_strategy() -> None:
    """Use the proxy-wide passivation timeout even where the entity asks for its own."""
    original = actor.EntityManager.__init__

    def init(self: Any, service: Any, *args: Any) -> None:
        original(self, service, *args)
        self.passivation_timeout = self.settings.passivation_timeout

    actor.EntityManager.__init__ = init  # type: ignore[method-assign]


def drop_metadata() -> None:
    """Never pass request headers on to entities."""
    grpc_ingress.metadata_from_grpc = lambda pairs: None  # type: ignore[assignment,misc]
    grpc_native.metadata_from_grpc = lambda pairs: None  # type: ignore[assignment,misc]


def always_metadata() -> None:
    """Send a metadata entry with every command, even when the client sent no header."""
    original = base.metadata_from_grpc

    def metadata_from_grpc(pairs: Any) -> Any:
        return original([*(pairs or ()), ("x-mutant", "always")])

    grpc_ingress.metadata_from_grpc = metadata_from_grpc  # type: ignore[assignment]
    grpc_native.metadata_from_grpc = metadata_from_grpc  # type: ignore[assignment]


def drop_async_effects() -> None:
    """Never perform asynchronous side effects."""
    router.Router._start_async_effect = lambda self, effect, depth, chain: None  # type: ignore[method-assign]


def ignore_stream_cancel() -> None:
    """Do not tell the user function when a client cancels a streamed CRDT command."""

    async def cancel(self: Any, command_id: int) -> None:
        return None

    crdt.CrdtActor._cancel = cancel  # type: ignore[method-assign]


def wrong_event_source() -> None:
    """Put the entity id in the CloudEvent source of event-log events (instead of the
    persistence id)."""
    original = event_log.cloud_event_metadata

    def cloud_event_metadata(persistence_id: str, entity_id: str, event: Any) -> Any:
        return original(entity_id, entity_id, event)

    event_log.cloud_event_metadata = cloud_event_metadata


def workflow_call_without_key() -> None:
    """A workflow step's call carries no ``idempotency-key`` (only the attempt)."""
    from cloudstate.protocol import entity_pb2
    from cloudstate.proxy.workflows import steps

    original = steps.call_metadata

    def call_metadata(call: Any, key: str, attempt: int) -> Any:
        metadata = original(call, key, attempt)
        kept = [e for e in metadata.entries if e.key != "idempotency-key"]
        return entity_pb2.Metadata(entries=kept)

    steps.call_metadata = call_metadata


def workflow_attempt_always_1() -> None:
    """Every attempt of a workflow step is sent to the user function as attempt 1."""
    from cloudstate.proxy.workflows import engine

    original = engine.run_attempt

    async def run_attempt(
        stub: Any, router: Any, channel: Any, service: str, record: Any, step: Any, attempt: int
    ) -> Any:
        return await original(stub, router, channel, service, record, step, 1)

    engine.run_attempt = run_attempt  # type: ignore[assignment]


def without_workflows() -> None:
    """Not a bug: a proxy without the optional workflows extension (it lists neither
    ``cloudstate.workflows/1`` nor the workflow entity type)."""
    from cloudstate.proxy import discovery, reannounce, server

    original = discovery.proxy_info

    def proxy_info(supported_types: tuple[str, ...] = ()) -> Any:
        kept = tuple(t for t in supported_types if t != "cloudstate.workflow.Workflows")
        info = original(kept) if kept else original()
        del info.supported_entity_types[:]
        info.supported_entity_types.extend(kept or [])
        kept_extensions = [e for e in info.extensions if e != "cloudstate.workflows/1"]
        del info.extensions[:]
        info.extensions.extend(kept_extensions)
        return info

    discovery.proxy_info = proxy_info
    server.proxy_info = proxy_info
    reannounce.proxy_info = proxy_info


MUTANTS: dict[str, Callable[[], None]] = {
    "without-workflows": without_workflows,
    "workflow-call-without-key": workflow_call_without_key,
    "workflow-attempt-always-1": workflow_attempt_always_1,
    "wrong-event-source": wrong_event_source,
    "ignore-stream-cancel": ignore_stream_cancel,
    "drop-async-effects": drop_async_effects,
    "forget-events": forget_events,
    "forget-deletes": forget_deletes,
    "no-replay": no_replay,
    "unknown-status": unknown_status,
    "ignore-passivation-strategy": ignore_passivation_strategy,
    "drop-metadata": drop_metadata,
    "always-metadata": always_metadata,
}

if __name__ == "__main__":
    MUTANTS[sys.argv[1]]()
    cli.main(["proxy", *sys.argv[2:]])
