"""Proxy workers on one node (``--workers 2``) on one SQLite file: each keyed entity is served by
its owning worker, commands landing on the other one are forwarded (docs/scale-out.md).

64 clients on 8 connections (the kernel spreads them over the two workers) send AddItem for 20
hot carts and read every third one back on another connection. What must hold: every
acknowledged command is in the journal (or value) exactly once, the journals have no gap, both
workers forwarded commands, and a worker SIGKILLed mid-run is restarted by the supervisor and
serves its entities again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from shoppingcart import shoppingcart_pb2, shoppingcart_pb2_grpc

from cloudstate.proxy.workers.ownership import Ownership
from tests.processes import free_port, metric
from tests.scaleout.cluster import (
    VALUE_CART,
    Node,
    carts,
    journals,
    run_load,
    stored_values,
    value_cart_user_function,
)

ENTITIES = 20
CLIENTS = 64
CONNECTIONS = 8


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "--ppid", str(pid), "-o", "pid="], capture_output=True, text=True)
    return [int(line) for line in out.stdout.split()]


def _wait_workers_serving(node: Node, count: int, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while node.proxy is not None and node.proxy.log().count("proxy serving") < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"workers not serving:\n{node.proxy.log()[-3000:]}")
        time.sleep(0.1)


class Workers(Node):
    """A user function and a proxy with two workers on one SQLite file."""

    def __init__(self, tmp: Path, *flags: str, **kwargs: object) -> None:
        self.admin_port = free_port()
        free_port()  # the second worker's admin port (+1) is ours too
        super().__init__(
            tmp,
            f"sqlite:///{tmp}/workers.db",
            "--workers", "2", "--admin-port", str(self.admin_port), *flags,
            **kwargs,  # type: ignore[arg-type]
        )  # fmt: skip

    def start(self) -> Workers:
        super().start()
        _wait_workers_serving(self, 2)
        return self

    @property
    def supervisor_pid(self) -> int:
        assert self.proxy is not None and self.proxy.process is not None
        return self.proxy.process.pid

    def forwarded(self) -> list[float]:
        return [metric(self.admin_port + i, "cloudstate_forwarded_commands_total") for i in (0, 1)]


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    node = Workers(tmp_path)
    try:
        node.start()
        yield node
    finally:
        node.stop()


async def test_two_workers_apply_exactly_the_acknowledged_commands(workers: Workers) -> None:
    ports = [workers.port] * CONNECTIONS
    result = await run_load(ports, entities=ENTITIES, clients=CLIENTS, commands_per_client=9)
    logs = workers.log()
    assert not result.failures, (dict(result.failures), result.examples, logs)
    assert not result.stale_reads, result.stale_reads[:5]
    forwarded = workers.forwarded()
    assert all(count > 0 for count in forwarded), f"both workers forward: {forwarded}"
    served = await carts(workers.port, "cart", ENTITIES)
    await asyncio.to_thread(workers.stop)
    journaled = await journals(workers.store, "cart", ENTITIES)  # asserts sequences 1..n
    for user, products in journaled.items():
        assert len(products) == len(set(products)), f"{user}: a command was journaled twice"
        assert set(products) == result.acked[user], user
        assert sorted(served[user]) == sorted(products), user


async def test_a_worker_sigkilled_mid_run_is_restarted_and_loses_nothing(
    workers: Workers,
) -> None:
    before = _children(workers.supervisor_pid)
    assert len(before) == 2
    halfway = asyncio.Event()
    load = asyncio.ensure_future(
        run_load(
            [workers.port] * CONNECTIONS,
            entities=ENTITIES,
            clients=CLIENTS,
            commands_per_client=12,
            prefix="kill",
            progress=halfway,
            progress_at=CLIENTS * 4,
        )
    )
    async with asyncio.timeout(120):
        await halfway.wait()
    os.kill(before[1], signal.SIGKILL)  # mid-run, no cleanup
    async with asyncio.timeout(240):
        result = await load
    logs = workers.log()
    assert set(result.failures) <= {"UNAVAILABLE", "read UNAVAILABLE"}, (
        dict(result.failures),
        result.examples,
        logs,
    )
    assert result.total_acked > CLIENTS * 6, (dict(result.failures), result.examples, logs)
    assert not result.stale_reads, result.stale_reads[:5]
    after = _children(workers.supervisor_pid)
    assert len(after) == 2 and before[0] in after and before[1] not in after, (before, after)
    # The restarted worker serves its entities again: every cart answers, on every connection.
    await asyncio.to_thread(_wait_workers_serving, workers, 3)
    served = await carts(workers.port, "kill", ENTITIES)
    await asyncio.to_thread(workers.stop)
    journaled = await journals(workers.store, "kill", ENTITIES)
    for user, products in journaled.items():
        assert len(products) == len(set(products)), f"{user}: a command was journaled twice"
        lost = result.acked[user] - set(products)
        assert not lost, f"{user}: acknowledged commands lost: {sorted(lost)[:5]}"
        invented = set(products) - result.acked[user] - result.unknown[user]
        assert not invented, f"{user}: journaled commands nobody sent: {sorted(invented)[:5]}"
        assert sorted(served[user]) == sorted(products), user


async def test_value_entities_on_two_workers_lose_no_update(tmp_path: Path) -> None:
    node = Workers(tmp_path, user_function=value_cart_user_function)
    try:
        await asyncio.to_thread(node.start)
        result = await run_load(
            [node.port] * CONNECTIONS,
            entities=ENTITIES,
            clients=CLIENTS,
            commands_per_client=9,
            prefix="ve",
            api=VALUE_CART,
        )
        assert not result.failures, (dict(result.failures), result.examples, node.log())
        assert not result.stale_reads, result.stale_reads[:5]
        assert all(count > 0 for count in node.forwarded())
        served = await carts(node.port, "ve", ENTITIES, api=VALUE_CART)
    finally:
        await asyncio.to_thread(node.stop)
    stored = await stored_values(node.store, "ve", ENTITIES)
    for user, products in stored.items():
        assert len(products) == len(set(products)), user
        assert set(products) == result.acked[user], f"{user}: lost or invented updates"
        assert sorted(served[user]) == sorted(products), user


async def test_commands_for_a_dead_workers_entities_wait_then_fail_naming_it(
    tmp_path: Path,
) -> None:
    """The supervisor is paused (SIGSTOP) so that the killed worker stays down: commands for its
    entities wait the command timeout, then fail UNAVAILABLE naming it; once the supervisor goes
    on, the worker is restarted and the same command succeeds."""
    node = Workers(tmp_path, "--command-timeout", "2")
    try:
        await asyncio.to_thread(node.start)
        ownership = Ownership(["w0", "w1"])
        user = next(
            f"cart-{n}"
            for n in range(100)
            if ownership.owner("com.example.shoppingcart.ShoppingCart", f"cart-{n}") == "w1"
        )
        w0, w1 = _children(node.supervisor_pid)
        os.kill(node.supervisor_pid, signal.SIGSTOP)
        try:
            os.kill(w1, signal.SIGKILL)
            await asyncio.sleep(0.5)
            add = shoppingcart_pb2.AddLineItem(user_id=user, product_id="p", name="x", quantity=1)
            async with grpc.aio.insecure_channel(f"127.0.0.1:{node.port}") as channel:
                stub = shoppingcart_pb2_grpc.ShoppingCartStub(channel)
                started = time.monotonic()
                with pytest.raises(grpc.aio.AioRpcError) as failed:
                    await stub.AddItem(add, timeout=30)
                waited = time.monotonic() - started
        finally:
            os.kill(node.supervisor_pid, signal.SIGCONT)
        assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "proxy worker w1" in (failed.value.details() or ""), failed.value.details()
        assert waited >= 1.5, f"failed after {waited:.2f}s without waiting for the worker"
        await asyncio.to_thread(_wait_workers_serving, node, 3)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{node.port}") as channel:
            stub = shoppingcart_pb2_grpc.ShoppingCartStub(channel)
            await stub.AddItem(add, timeout=30)
            cart = await stub.GetCart(shoppingcart_pb2.GetShoppingCart(user_id=user), timeout=30)
        assert [item.product_id for item in cart.items] == ["p"]
        assert w0 in _children(node.supervisor_pid)
    finally:
        await asyncio.to_thread(node.stop)
