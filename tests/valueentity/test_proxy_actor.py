"""The proxy's value-entity actor in process: ``ValueEntityHandler`` in front of the SDK's test
model (a real gRPC server on a free port) and a real SQLite store in ``tmp_path``.

These cover what is hard to provoke from outside: a second writer changing the stored value behind
the actor's back, and a store that fails.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from cloudstate.any_support import pack
from cloudstate.cloudstate import CloudState, CloudStateServer
from cloudstate.protocol import entity_pb2_grpc, value_entity_pb2, value_entity_pb2_grpc
from cloudstate.proxy.discovery import discover
from cloudstate.proxy.entities.actor import EntitySettings
from cloudstate.proxy.entities.value_entity import ValueEntityHandler
from cloudstate.proxy.errors import ProxyError
from cloudstate.proxy.model import VALUE_ENTITY
from cloudstate.proxy.stores.base import Payload, StoredValue, StoreError
from cloudstate.proxy.stores.sqlite import SqliteStore
from cloudstate.value_entity import ValueEntity
from cloudstate.value_entity.servicer import ValueEntityServicer
from tests.sdk import valueentity_model as m

PID = "ve-model"


@pytest.fixture(scope="module")
async def user_function() -> AsyncIterator[CloudStateServer]:
    server = (
        await CloudState()
        .register_value_entity(m.model)
        .register_value_entity(m.two)
        .register_value_entity(m.probe)
        .serve_async(host="127.0.0.1", port=0)
    )
    yield server
    await server.stop(0)


class FlakyStore(SqliteStore):
    """A SQLite store whose reads or writes can be made to fail."""

    fail_loads = False
    fail_saves = False

    async def load_value(self, persistence_id: str, entity_id: str) -> StoredValue | None:
        if self.fail_loads:
            raise StoreError("disk on fire (load)")
        return await super().load_value(persistence_id, entity_id)

    async def save_value(
        self,
        persistence_id: str,
        entity_id: str,
        value: Payload | None,
        expected_version: int | None = None,
        expires_at: float | None = None,
    ) -> int:
        if self.fail_saves:
            raise StoreError("disk on fire (save)")
        return await super().save_value(
            persistence_id, entity_id, value, expected_version, expires_at=expires_at
        )


class Harness:
    def __init__(
        self, handler: ValueEntityHandler, probe: ValueEntityHandler, store: FlakyStore
    ) -> None:
        self.handler = handler
        self.probe = probe
        self.store = store
        self.method = handler.service.methods["Process"]

    async def append_a(self, entity_id: str) -> str:
        """Probe.AsyncUpdate: the new state is the current one plus "a" (depends on the state)."""
        request = m.Request(id=entity_id).SerializeToString()
        method = self.probe.service.methods["AsyncUpdate"]
        outcome = await self.probe.handle(method, entity_id, request, None)
        return str(m.Response.FromString(outcome.client_action.reply.payload.value).message)

    async def process(self, entity_id: str, *actions: Any) -> str:
        request = m.Request(id=entity_id, actions=actions)
        outcome = await self.handler.handle(
            self.method, entity_id, request.SerializeToString(), None
        )
        return str(m.Response.FromString(outcome.client_action.reply.payload.value).message)


@pytest.fixture
async def harness(user_function: CloudStateServer, tmp_path: Path) -> AsyncIterator[Harness]:
    store = FlakyStore(tmp_path / "proxy.db")
    await store.start()

    async def report(message: str) -> None:
        pass

    async with grpc.aio.insecure_channel(user_function.address) as channel:
        model = await discover(channel, supported_types=(VALUE_ENTITY,))
        settings = EntitySettings()
        handler = ValueEntityHandler(
            model.services["sdktest.ve.Model"], channel, store, settings, report
        )
        probe = ValueEntityHandler(
            model.services["sdktest.ve.Probe"], channel, store, settings, report
        )
        yield Harness(handler, probe, store)
        await handler.close()
        await probe.close()
    await store.close()


def update(value: str) -> Any:
    return m.RequestAction(update={"value": value})


async def test_a_concurrent_writer_is_never_overwritten_with_a_stale_result(
    harness: Harness,
) -> None:
    """Another writer (another proxy node, say) replaces the value behind the actor's back. The
    actor's next write is conditional on the version it knows, so the store refuses it; the
    command is then either re-run on the latest value or failed with ABORTED — never applied to
    the stale value."""
    assert await harness.append_a("c") == "a"
    await harness.store.save_value("Probe", "c", Payload(*_packed(m.Persisted(value="theirs"))))
    try:
        result = await harness.append_a("c")
    except ProxyError as error:
        assert error.status == grpc.StatusCode.ABORTED
        assert "concurrently" in error.message
        result = await harness.append_a("c")  # the entity restarted from the stored value
    assert result == "theirsa"
    stored = await harness.store.load_value("Probe", "c")
    assert stored is not None and m.Persisted.FromString(stored.payload.value).value == "theirsa"


async def test_a_failing_store_write_fails_the_command_and_changes_nothing(
    harness: Harness,
) -> None:
    assert await harness.process("w", update("kept")) == "kept"
    harness.store.fail_saves = True
    with pytest.raises(ProxyError) as error:
        await harness.process("w", update("never"))
    assert error.value.status == grpc.StatusCode.UNAVAILABLE
    assert "disk on fire (save)" in error.value.message
    assert "the command was not applied" in error.value.message
    harness.store.fail_saves = False
    assert await harness.process("w") == "kept"  # restarted from the stored value


async def test_a_failing_store_read_fails_activation(harness: Harness) -> None:
    harness.store.fail_loads = True
    with pytest.raises(ProxyError) as error:
        await harness.process("r")
    assert error.value.status == grpc.StatusCode.UNAVAILABLE
    assert "cannot load entity 'r' of sdktest.ve.Model" in error.value.message
    harness.store.fail_loads = False
    assert await harness.process("r", update("ok")) == "ok"


async def test_a_command_arriving_as_the_idle_timer_fires_is_served(
    user_function: CloudStateServer, tmp_path: Path
) -> None:
    """The idle timer and a new command can fall due in the same turn of the event loop (here:
    the loop is kept busy past the idle deadline, then both run — the command first, the timer
    right after). The actor then still holds a command: it must serve it, not passivate."""
    store = SqliteStore(tmp_path / "idle.db")
    await store.start()

    async def report(message: str) -> None:
        pass

    try:
        async with grpc.aio.insecure_channel(user_function.address) as channel:
            model = await discover(channel, supported_types=(VALUE_ENTITY,))
            settings = EntitySettings(passivation_timeout=0.2)
            service = model.services["sdktest.ve.Model"]
            handler = ValueEntityHandler(service, channel, store, settings, report)
            harness = Harness(handler, handler, store)
            assert await harness.process("idle", update("kept")) == "kept"
            await asyncio.sleep(0.05)  # the actor waits for a command; its idle timer runs
            late = asyncio.ensure_future(harness.process("idle"))
            time.sleep(0.3)  # noqa: ASYNC251  # busy past the deadline: command and timer together
            assert await late == "kept"
            assert handler.active_entities == 1
            await handler.close()
    finally:
        await store.close()


class CountingServicer(ValueEntityServicer):
    """The SDK's value-entity servicer, counting per entity the streams opened and the commands
    open at once (received, not yet answered). Each command is held a few milliseconds before
    it is handled: time enough for a second command of the entity to arrive, if anything sent
    one before the first was answered."""

    def __init__(self, entities: list[ValueEntity]) -> None:
        super().__init__(entities)
        self.streams: Counter[str] = Counter()
        self.open: Counter[str] = Counter()
        self.most_open: Counter[str] = Counter()

    async def handle(
        self,
        request_iterator: AsyncIterator[value_entity_pb2.ValueEntityStreamIn],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[value_entity_pb2.ValueEntityStreamOut]:
        entity = ""

        async def counted() -> AsyncIterator[value_entity_pb2.ValueEntityStreamIn]:
            nonlocal entity
            async for message in request_iterator:
                kind = message.WhichOneof("message")
                if kind == "init":
                    entity = message.init.entity_id
                    self.streams[entity] += 1
                elif kind == "command":
                    self.open[entity] += 1
                    self.most_open[entity] = max(self.most_open[entity], self.open[entity])
                    await asyncio.sleep(0.005)
                yield message

        async for out in super().handle(counted(), context):
            if out.WhichOneof("message") == "reply":
                self.open[entity] -= 1
            yield out


async def test_commands_of_one_entity_run_one_at_a_time_in_order(tmp_path: Path) -> None:
    """Twenty concurrent commands for one entity: the user function sees them on one stream,
    never two open at once (each answered before the next is sent), in arrival order."""
    counting = CountingServicer([m.model])
    server = grpc.aio.server()
    entity_pb2_grpc.add_EntityDiscoveryServicer_to_server(  # type: ignore[no-untyped-call]
        CloudState().register_value_entity(m.model).discovery_servicer(), server
    )
    value_entity_pb2_grpc.add_ValueEntityServicer_to_server(counting, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    store = SqliteStore(tmp_path / "one-at-a-time.db")
    await store.start()

    async def report(message: str) -> None:
        pass

    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            model = await discover(channel, supported_types=(VALUE_ENTITY,))
            service = model.services["sdktest.ve.Model"]
            handler = ValueEntityHandler(service, channel, store, EntitySettings(), report)
            method = service.methods["Process"]

            async def process(value: str) -> str:
                request = m.Request(id="o", actions=[update(value)]).SerializeToString()
                outcome = await handler.handle(method, "o", request, None)
                reply = outcome.client_action.reply.payload.value
                return str(m.Response.FromString(reply).message)

            results = await asyncio.gather(*(process(str(i)) for i in range(20)))
            await handler.close()
        stored = await store.load_value(PID, "o")
    finally:
        await store.close()
        await server.stop(0)
    assert results == [str(i) for i in range(20)]
    assert counting.streams["o"] == 1, "the entity's commands were spread over several streams"
    assert counting.most_open["o"] == 1, "the entity had several commands open at once"
    assert stored is not None and stored.version == 20


def _packed(message: Any) -> tuple[str, bytes]:
    packed = pack(message)
    return packed.type_url, packed.value
