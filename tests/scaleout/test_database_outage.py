"""A node that loses its database: UNAVAILABLE quickly, recovery when the database is back, and no
acknowledged write lost. Uses a private PostgreSQL server (it is stopped and killed here)."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import grpc
import pytest
from shoppingcart import shoppingcart_pb2, shoppingcart_pb2_grpc

from tests import postgres_server
from tests.scaleout.cluster import Node, carts, journals, run_load

APP = "outage-node"


@pytest.fixture
def private_postgres() -> Iterator[tuple[Path, str]]:
    """A PostgreSQL server of this test alone: (its directory, its database URL)."""
    if postgres_server.find_bin_dir() is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI must have the PostgreSQL server binaries (.ci/run installs them)")
        pytest.skip("no PostgreSQL server binaries (apt-get install postgresql)")
    directory = Path(tempfile.mkdtemp(prefix="cloudstate-pg-outage-"))
    try:
        yield directory, postgres_server.start(directory)
    finally:
        postgres_server.stop(directory, mode="immediate")
        shutil.rmtree(directory, ignore_errors=True)


async def _add(stub: shoppingcart_pb2_grpc.ShoppingCartStub, user: str, product: str) -> None:
    await stub.AddItem(
        shoppingcart_pb2.AddLineItem(user_id=user, product_id=product, name="x", quantity=1),
        timeout=30,
    )


async def test_database_loss_unavailable_fast_then_recovers_without_losing_writes(
    tmp_path: Path, private_postgres: tuple[Path, str]
) -> None:
    directory, url = private_postgres
    store = f"{url}?schema=outage&application_name={APP}&connect_timeout=2"
    node = Node(tmp_path, store)
    await asyncio.to_thread(node.start)
    try:
        # 1. Every connection of the node is killed mid-load (a failover, an admin's kill).
        halfway = asyncio.Event()
        load = asyncio.ensure_future(
            run_load(
                [node.port],
                entities=5,
                clients=8,
                commands_per_client=30,
                prefix="t",
                progress=halfway,
                progress_at=60,
            )
        )
        async with asyncio.timeout(60):
            await halfway.wait()
        admin = await asyncpg.connect(url)
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = $1",
                APP,
            )
        finally:
            await admin.close()
        assert killed >= 1
        async with asyncio.timeout(120):
            result = await load
        # Only calls in flight at the kill may fail (their write's outcome is unknown).
        assert set(result.failures) <= {"UNAVAILABLE", "read UNAVAILABLE"}, (
            dict(result.failures),
            result.examples,
            node.log(),
        )
        assert result.total_acked >= 200, (dict(result.failures), result.examples, node.log())
        journaled = await journals(store, "t", 5)
        for user, products in journaled.items():
            assert result.acked[user] <= set(products), user

        # 2. The server goes away: commands fail with UNAVAILABLE, and quickly.
        async with grpc.aio.insecure_channel(f"127.0.0.1:{node.port}") as channel:
            stub = shoppingcart_pb2_grpc.ShoppingCartStub(channel)
            await _add(stub, "t-0", "before-outage")
            await asyncio.to_thread(postgres_server.stop, directory, None, "fast")
            for attempt in range(3):
                started = time.monotonic()
                with pytest.raises(grpc.aio.AioRpcError) as error:
                    await _add(stub, "t-0", f"during-outage-{attempt}")
                assert error.value.code() == grpc.StatusCode.UNAVAILABLE
                assert "t-0" in (error.value.details() or "")
                assert time.monotonic() - started < 5, "the outage was not reported quickly"
                with pytest.raises(grpc.aio.AioRpcError) as error:
                    await stub.GetCart(shoppingcart_pb2.GetShoppingCart(user_id="t-1"), timeout=30)
                assert error.value.code() == grpc.StatusCode.UNAVAILABLE

            # 3. The server is back: the node recovers by itself.
            await asyncio.to_thread(postgres_server.restart_same_port, directory)
            deadline = time.monotonic() + 30
            while True:
                try:
                    await _add(stub, "t-0", "after-outage")
                    break
                except grpc.aio.AioRpcError:
                    assert time.monotonic() < deadline, node.log()
                    await asyncio.sleep(0.2)

        journaled = await journals(store, "t", 5)
        served = await carts(node.port, "t", 5)
        result.acked["t-0"] |= {"before-outage", "after-outage"}
        for user, products in journaled.items():
            assert result.acked[user] <= set(products), user
            assert not any(p.startswith("during-outage") for p in products)
            assert sorted(served[user]) == sorted(products)
    finally:
        await asyncio.to_thread(node.stop)
