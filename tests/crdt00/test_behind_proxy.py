"""A user function on the earlier CRDT format (protocol 0.0) behind the proxy, unchanged.

The user function is our 0.0-format CRDT TCK model (``tests/crdt00/model.py``): it creates its
CRDT with ``state_action.create``, reads the proxy's commands at field 5 and cancellations at
field 6, and takes its state from ``init.state``. Every value the clients read back is the one
the user function holds, so a message the proxy encoded in the 0.2 format would show here (as
the issue's symptom did: every command read as a ``deleted``, a cancellation as a nameless
command).
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import grpc
import pytest

from cloudstate.tck.model import crdt_pb2 as m
from cloudstate.tck.model import crdt_pb2_grpc as m_grpc
from tests.processes import ROOT, Process, free_port, proxy, wait_serving
from tests.scaleout.cluster import Node

MODEL = ROOT / "tests" / "crdt00" / "model.py"


def model_user_function(tmp: Path, port: int | None = None) -> Process:
    """Our 0.0-format CRDT model as a user function process."""
    port = port or free_port()
    return Process(
        "0.0-format CRDT model",
        [sys.executable, str(MODEL), "--port", str(port)],
        port,
        tmp / f"crdt00-model-{port}.log",
    )


@pytest.fixture
def model(tmp_path: Path) -> Iterator[Process]:
    uf = model_user_function(tmp_path).start()
    yield uf
    uf.terminate()
    assert "PROTOCOL VIOLATION" not in uf.log()
    assert "REPORTED ERROR" not in uf.log()


def increment(amount: int) -> m.RequestAction:
    return m.RequestAction(update=m.Update(gcounter=m.GCounterUpdate(increment=amount)))


def read(stub: m_grpc.CrdtTckModelStub, entity: str) -> int:
    return int(stub.Process(m.Request(id=entity), timeout=10).state.gcounter.value)


def http_increment(port: int, entity: str, amount: int) -> int:
    async def post() -> int:
        body = {"actions": [{"update": {"gcounter": {"increment": str(amount)}}}]}
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"http://127.0.0.1:{port}/tck/model/crdt/{entity}", json=body) as response,
        ):
            text = await response.text()
            assert response.status == 200, text
            return int(json.loads(text)["state"]["gcounter"].get("value", "0"))

    return asyncio.run(post())


def test_a_counter_incremented_by_two_clients_reads_back_their_sum_over_grpc_and_http(
    model: Process, start_proxy: Callable[..., Process]
) -> None:
    px = start_proxy(model.port)
    assert "CrdtTckModel [Crdt, served with protocol 0.0]" in px.log()
    entity = "GCounter-shared"
    rounds = 20
    errors: list[BaseException] = []

    def grpc_client() -> None:
        try:
            with grpc.insecure_channel(f"127.0.0.1:{px.port}") as channel:
                stub = m_grpc.CrdtTckModelStub(channel)
                for _ in range(rounds):
                    stub.Process(m.Request(id=entity, actions=[increment(1)]), timeout=10)
        except BaseException as error:  # reported by the test thread
            errors.append(error)

    def http_client() -> None:
        try:
            for _ in range(rounds):
                http_increment(px.port, entity, 10)
        except BaseException as error:
            errors.append(error)

    clients = [threading.Thread(target=grpc_client), threading.Thread(target=http_client)]
    for client in clients:
        client.start()
    for client in clients:
        client.join(60)
    assert not errors, errors
    with grpc.insecure_channel(f"127.0.0.1:{px.port}") as channel:
        assert read(m_grpc.CrdtTckModelStub(channel), entity) == rounds * 11
    assert http_increment(px.port, entity, 0) == rounds * 11  # an increment by 0 reads it


def test_a_watch_gets_every_update_and_its_cancellation_reaches_the_user_function(
    model: Process, start_proxy: Callable[..., Process]
) -> None:
    """The cancellation (field 6 in 0.0) reaches the user function, which answers it with an
    update (state action fields 5-8): the watch's ``cancel_update`` lands in the counter."""
    px = start_proxy(model.port)
    entity = "GCounter-watched"
    with grpc.insecure_channel(f"127.0.0.1:{px.port}") as channel:
        stub = m_grpc.CrdtTckModelStub(channel)
        watch = stub.ProcessStreamed(
            m.StreamedRequest(
                id=entity, cancel_update=m.Update(gcounter=m.GCounterUpdate(increment=100))
            ),
            timeout=30,
        )
        assert next(watch).state.gcounter.value == 0
        for amount, expected in ((1, 1), (2, 3), (3, 6)):
            stub.Process(m.Request(id=entity, actions=[increment(amount)]), timeout=10)
            assert next(watch).state.gcounter.value == expected
        watch.cancel()
        with pytest.raises(grpc.RpcError) as ended:
            next(watch)
        assert ended.value.code() == grpc.StatusCode.CANCELLED
        deadline = time.monotonic() + 10
        while read(stub, entity) != 106:
            assert time.monotonic() < deadline, f"the cancel update never landed: {px.log()}"
            time.sleep(0.05)
    assert f"{entity}: received stream_cancelled" in model.log()
    assert "cancelling stream" not in px.log()  # no failed cancellation
    assert " ERROR " not in px.log()


def test_state_survives_a_proxy_restart_and_returns_in_init(
    tmp_path: Path, model: Process, store_url: str
) -> None:
    """SIGKILL the proxy; the restarted one sends the stored value as ``init.state`` (the user
    function, itself restarted too, reads its value from there)."""
    port = free_port()
    first = proxy(tmp_path, model.port, store_url, port=port).start()
    wait_serving(port)
    entity = "GCounter-durable"
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = m_grpc.CrdtTckModelStub(channel)
        stub.Process(m.Request(id=entity, actions=[increment(5)]), timeout=10)
        stub.Process(m.Request(id=entity, actions=[increment(2)]), timeout=10)
    first.kill()
    model.kill()
    model.start()
    second = proxy(tmp_path, model.port, store_url, port=port).start()
    try:
        wait_serving(port)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = m_grpc.CrdtTckModelStub(channel)
            assert read(stub, entity) == 7
            stub.Process(m.Request(id=entity, actions=[increment(1)]), timeout=10)
            assert read(stub, entity) == 8
    finally:
        second.terminate()


@pytest.fixture
def two_nodes(tmp_path: Path, fresh_postgres_url: str) -> Iterator[list[Node]]:
    cluster = [
        Node(tmp_path / f"node{n}", fresh_postgres_url, user_function=model_user_function)
        for n in range(2)
    ]
    try:
        for node in cluster:
            node.tmp.mkdir()
            node.start()
        yield cluster
    finally:
        for node in cluster:
            node.stop()


def test_changes_made_on_another_node_reach_a_watch_as_state_then_changed(
    two_nodes: list[Node],
) -> None:
    """On a shared store the other node's changes reach the user function: first as a full
    ``state`` (it held no CRDT yet), then as ``changed`` deltas."""
    ports = [node.port for node in two_nodes]
    entity = "ORSet-remote"

    def add(element: str) -> m.RequestAction:
        return m.RequestAction(update=m.Update(orset=m.ORSetUpdate(add=element)))

    with (
        grpc.insecure_channel(f"127.0.0.1:{ports[0]}") as watching,
        grpc.insecure_channel(f"127.0.0.1:{ports[1]}") as writing,
    ):
        watch = m_grpc.CrdtTckModelStub(watching).ProcessStreamed(
            m.StreamedRequest(id=entity), timeout=30
        )
        assert list(next(watch).state.orset.elements) == []
        writer = m_grpc.CrdtTckModelStub(writing)
        writer.Process(m.Request(id=entity, actions=[add("a")]), timeout=10)
        assert list(next(watch).state.orset.elements) == ["a"]
        writer.Process(m.Request(id=entity, actions=[add("b")]), timeout=10)
        assert list(next(watch).state.orset.elements) == ["a", "b"]
        watch.cancel()
    watched = two_nodes[0].uf
    assert watched is not None
    deadline = time.monotonic() + 10  # the cancellation reaches the user function after cancel()
    while True:
        received = [line for line in watched.log().splitlines() if line.startswith(entity)]
        if len(received) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert received[:3] == [f"{entity}: received {kind}" for kind in ("state", "changed")] + [
        f"{entity}: received stream_cancelled"
    ], received
    for node in two_nodes:
        assert node.uf is not None
        assert "PROTOCOL VIOLATION" not in node.uf.log()
