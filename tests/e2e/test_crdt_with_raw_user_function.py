"""CRDT entities through the proxy, driven by a hand-written raw-protocol user function.

Each request carries the exact CrdtDelta the user function sends back as its update, so these
tests pin the wire format independently of our SDK. The user function echoes the value it holds
(after applying its own and the proxy's deltas), and what the proxy sent it in ``init``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

import grpc
import pytest
from google.protobuf import any_pb2

from cloudstate.protocol import crdt_pb2
from cloudstate.proxy.crdt import codec
from cloudstate.proxy.stores.registry import open_store
from tests.backends import sqlite_writes_held
from tests.processes import ROOT, Process, free_port

sys.path.insert(0, str(ROOT / "tests" / "rawcrdt"))
from rawcrdt import model_pb2

SERVICE = "/rawcrdt.Model/"


@pytest.fixture(scope="module")
def crdt_uf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    port = free_port()
    uf = Process(
        "raw CRDT user function",
        [sys.executable, str(ROOT / "tests" / "rawcrdt" / "server.py"), "--port", str(port)],
        port,
        tmp_path_factory.mktemp("rawcrdt") / "uf.log",
    ).start()
    yield uf
    uf.terminate()


def S(text: str) -> any_pb2.Any:
    data = text.encode()
    return any_pb2.Any(type_url="p.cloudstate.io/string", value=b"\n" + bytes([len(data)]) + data)


def delta(**fields: Any) -> crdt_pb2.CrdtDelta:
    return crdt_pb2.CrdtDelta(**fields)


class Model:
    def __init__(self, port: int) -> None:
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")

    def _call(self, method: str, request: model_pb2.Request) -> model_pb2.View:
        rpc = self.channel.unary_unary(
            SERVICE + method,
            request_serializer=model_pb2.Request.SerializeToString,
            response_deserializer=model_pb2.View.FromString,
        )
        return rpc(request, timeout=10)  # type: ignore[no-any-return]

    def update(self, entity: str, d: crdt_pb2.CrdtDelta | None = None, **kw: Any) -> str:
        request = model_pb2.Request(id=entity, **kw)
        if d is not None:
            request.update.CopyFrom(d)
        return self._call("Update", request).value

    def get(self, entity: str) -> model_pb2.View:
        return self._call("Get", model_pb2.Request(id=entity))

    def watch(self, entity: str) -> Iterator[model_pb2.View]:
        rpc = self.channel.unary_stream(
            SERVICE + "Watch",
            request_serializer=model_pb2.Request.SerializeToString,
            response_deserializer=model_pb2.View.FromString,
        )
        return rpc(model_pb2.Request(id=entity), timeout=10)  # type: ignore[no-any-return]

    def close(self) -> None:
        self.channel.close()


ORMAP_ADD = crdt_pb2.ORMapDelta(
    added=[
        crdt_pb2.ORMapEntryDelta(
            key=S("k1"), delta=delta(pncounter=crdt_pb2.PNCounterDelta(change=2))
        ),
        crdt_pb2.ORMapEntryDelta(key=S("k2"), delta=delta(gset=crdt_pb2.GSetDelta(added=[S("a")]))),
    ]
)
ORMAP_UPDATE = crdt_pb2.ORMapDelta(
    updated=[
        crdt_pb2.ORMapEntryDelta(
            key=S("k1"), delta=delta(pncounter=crdt_pb2.PNCounterDelta(change=-5))
        )
    ],
    removed=[S("k2")],
)

CASES: dict[str, tuple[list[crdt_pb2.CrdtDelta], list[str]]] = {
    "gcounter": (
        [
            delta(gcounter=crdt_pb2.GCounterDelta(increment=3)),
            delta(gcounter=crdt_pb2.GCounterDelta(increment=4)),
        ],
        ["gcounter:3", "gcounter:7"],
    ),
    "pncounter": (
        [
            delta(pncounter=crdt_pb2.PNCounterDelta(change=5)),
            delta(pncounter=crdt_pb2.PNCounterDelta(change=-8)),
        ],
        ["pncounter:5", "pncounter:-3"],
    ),
    "gset": (
        [
            delta(gset=crdt_pb2.GSetDelta(added=[S("a"), S("b")])),
            delta(gset=crdt_pb2.GSetDelta(added=[S("b"), S("c")])),
        ],
        ["gset:[a,b]", "gset:[a,b,c]"],
    ),
    "orset": (
        [
            delta(orset=crdt_pb2.ORSetDelta(added=[S("a"), S("b"), S("c")])),
            delta(orset=crdt_pb2.ORSetDelta(removed=[S("b")])),
            delta(orset=crdt_pb2.ORSetDelta(cleared=True, added=[S("x")])),
        ],
        ["orset:[a,b,c]", "orset:[a,c]", "orset:[x]"],
    ),
    "lwwregister": (
        [
            delta(lwwregister=crdt_pb2.LWWRegisterDelta(value=S("one"))),
            delta(
                lwwregister=crdt_pb2.LWWRegisterDelta(
                    value=S("two"), clock=crdt_pb2.CUSTOM, custom_clock_value=10**15
                )
            ),
        ],
        ["lwwregister:one", "lwwregister:two"],
    ),
    "flag": (
        [delta(flag=crdt_pb2.FlagDelta(value=False)), delta(flag=crdt_pb2.FlagDelta(value=True))],
        ["flag:false", "flag:true"],
    ),
    "vote": (
        [
            delta(vote=crdt_pb2.VoteDelta(self_vote=True)),
            delta(vote=crdt_pb2.VoteDelta(self_vote=False)),
        ],
        ["vote:1/1/1", "vote:0/0/1"],
    ),
    "ormap": (
        [delta(ormap=ORMAP_ADD), delta(ormap=ORMAP_UPDATE)],
        ["ormap:{k1=pncounter:2,k2=gset:[a]}", "ormap:{k1=pncounter:-3}"],
    ),
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_every_type_round_trips_through_proxy_store_and_init(
    kind: str, store_url: str, crdt_uf: Process, start_proxy: Callable[..., Process]
) -> None:
    deltas, expected = CASES[kind]
    proxy = start_proxy(crdt_uf.port)
    model = Model(proxy.port)
    entity = f"{kind}-1"
    assert model.get(entity).value == "none"
    for d, want in zip(deltas, expected, strict=True):
        assert model.update(entity, d) == want
    model.close()
    proxy.kill()  # SIGKILL: the state must already be durable

    # A new proxy restores the state and hands it to the user function as the init delta.
    model = Model(start_proxy(crdt_uf.port).port)
    restored = model.get(entity)
    assert restored.value == expected[-1]
    assert restored.init == expected[-1]
    model.close()

    async def stored() -> Any:
        store = await open_store(store_url)
        try:
            return await store.load_value("crdt:raw-crdt", entity)
        finally:
            await store.close()

    value = asyncio.run(stored())
    assert value is not None and codec.decode(value.payload.value).kind == kind


def test_a_reply_is_released_only_after_its_state_is_committed(
    store_url: str, crdt_uf: Process, start_proxy: Callable[..., Process]
) -> None:
    """A client never sees a reply whose update could still be lost: while the test holds the
    SQLite store's write lock, the reply waits; it arrives once the state was written."""
    if not store_url.startswith("sqlite:"):
        pytest.skip("holding the store's writes from outside uses SQLite's write lock")
    model = Model(start_proxy(crdt_uf.port).port)
    increment = delta(gcounter=crdt_pb2.GCounterDelta(increment=1))
    assert model.update("held", increment) == "gcounter:1"

    def first_update_stored() -> bool:
        async def load() -> Any:
            store = await open_store(store_url)
            try:
                return await store.load_value("crdt:raw-crdt", "held")
            finally:
                await store.close()

        return asyncio.run(load()) is not None

    with ThreadPoolExecutor(1) as pool:
        with sqlite_writes_held(store_url, first_update_stored):
            reply = pool.submit(model.update, "held", increment)
            done, _ = wait([reply], timeout=2.0)
            assert not done, "the reply arrived before its state was committed"
        assert reply.result(timeout=10) == "gcounter:2"
    model.close()


def test_failure_delete_and_incompatible_delta(
    crdt_uf: Process, start_proxy: Callable[..., Process]
) -> None:
    model = Model(start_proxy(crdt_uf.port).port)
    model.update("d", delta(gcounter=crdt_pb2.GCounterDelta(increment=2)))
    with pytest.raises(grpc.RpcError) as error:
        model.update("d", fail="no way")
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.details() == "no way"
    with pytest.raises(grpc.RpcError) as error:
        model.update("d", delta(pncounter=crdt_pb2.PNCounterDelta(change=1)))
    assert error.value.code() == grpc.StatusCode.INTERNAL
    assert "incompatible" in error.value.details()
    # The entity restarted from the store: the bad delta left nothing behind.
    assert model.get("d").value == "gcounter:2"
    assert model.update("d", delete=True) == "none"
    assert model.get("d").value == "none"
    assert model.update("d", delta(flag=crdt_pb2.FlagDelta(value=True))) == "flag:true"
    model.close()


def test_write_consistency_is_accepted_at_every_level(
    crdt_uf: Process, start_proxy: Callable[..., Process]
) -> None:
    model = Model(start_proxy(crdt_uf.port).port)
    for level in (crdt_pb2.LOCAL, crdt_pb2.MAJORITY, crdt_pb2.ALL):
        model.update(
            "w", delta(gcounter=crdt_pb2.GCounterDelta(increment=1)), write_consistency=level
        )
    assert model.get("w").value == "gcounter:3"
    model.close()


def test_a_command_running_past_the_passivation_timeout_completes(
    crdt_uf: Process, start_proxy: Callable[..., Process]
) -> None:
    """An entity passivates only when nothing is in flight: a command the user function takes
    1.5 s over, with entities passivated after 0.3 s idle, still gets its reply and is kept."""
    model = Model(start_proxy(crdt_uf.port, "--passivation-timeout", "0.3").port)
    increment = delta(gcounter=crdt_pb2.GCounterDelta(increment=2))
    assert model.update("slow", increment, sleep_ms=1500) == "gcounter:2"
    assert model.update("slow", increment) == "gcounter:4"
    model.close()


def test_an_open_stream_keeps_its_entity_active_past_the_passivation_timeout(
    crdt_uf: Process, start_proxy: Callable[..., Process]
) -> None:
    """An entity with a streamed call open is not passivated: the watcher, idle for three
    passivation timeouts, still sees the next change."""
    model = Model(start_proxy(crdt_uf.port, "--passivation-timeout", "0.3").port)
    views = model.watch("watched")
    assert next(views).value == "none"
    time.sleep(1.0)
    assert model.update("watched", delta(gcounter=crdt_pb2.GCounterDelta(increment=5))) == (
        "gcounter:5"
    )
    assert next(views).value == "gcounter:5"
    views.cancel()  # type: ignore[attr-defined]
    model.close()


def test_open_streams_count_toward_the_global_request_limit(
    crdt_uf: Process, start_proxy: Callable[..., Process]
) -> None:
    """A streamed call is in flight for as long as it is open: with --max-concurrent-requests 2
    (and no line to wait in), two open watches fill the proxy; a third watch and a unary call are
    refused at once, naming the flag; once a watch is cancelled there is room again."""
    flags = ("--max-concurrent-requests", "2", "--max-queued-requests", "0")
    model = Model(start_proxy(crdt_uf.port, *flags).port)
    first, second = model.watch("s1"), model.watch("s2")
    assert next(first).value == next(second).value == "none"  # both open at the proxy
    third = model.watch("s3")
    with pytest.raises(grpc.RpcError) as refused:
        next(third)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "--max-concurrent-requests" in (refused.value.details() or "")
    with pytest.raises(grpc.RpcError) as refused:
        model.get("s3")
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    first.cancel()  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while True:  # the proxy notices the cancellation
        try:
            assert model.get("s3").value == "none"
            break
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert time.monotonic() < deadline, "no room after a watch was cancelled"
            time.sleep(0.05)
    second.cancel()  # type: ignore[attr-defined]
    model.close()
