"""Damaged stores are refused, not served as wrong data (issue 22), end to end: the shopping-cart
user function and real proxies on a real SQLite file or PostgreSQL schema, damaged between runs
the way an operator's hand edit, a bad restore or a failing disk would.

* a journal with an event deleted from the middle, and a snapshot moved past the journal: that
  cart's commands fail with DATA_LOSS (HTTP 500) naming the entity and the gap, logged once at
  ERROR; every other cart keeps serving; repairing the store heals it without a restart;
* a store emptied (a 0-byte SQLite file; PostgreSQL: the schema-version rows wiped), a store
  that fails its check (damaged SQLite pages; PostgreSQL: a table with other columns) and
  another application's store: the proxy exits at start naming the store and the option that
  overrides the check, instead of reaching ready.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from shoppingcart import shoppingcart_pb2, shoppingcart_pb2_grpc

from cloudstate.proxy.stores.registry import open_store
from tests.backends import run_sql
from tests.processes import Process, proxy, shoppingcart_user_function

PID = "shopping-cart"


@pytest.fixture(scope="module")
def cart_uf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    uf = shoppingcart_user_function(tmp_path_factory.mktemp("damaged-uf")).start()
    try:
        yield uf
    finally:
        uf.terminate()


def fill(port: int, carts: dict[str, int]) -> None:
    """Add ``count`` different products to each cart (the example snapshots every 5 events)."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = shoppingcart_pb2_grpc.ShoppingCartStub(channel)
        for user, count in carts.items():
            for n in range(count):
                stub.AddItem(
                    shoppingcart_pb2.AddLineItem(
                        user_id=user, product_id=f"p{n}", name=f"P{n}", quantity=1
                    ),
                    timeout=10,
                )


def cart_of(stub: shoppingcart_pb2_grpc.ShoppingCartStub, user: str) -> list[str]:
    cart = stub.GetCart(shoppingcart_pb2.GetShoppingCart(user_id=user), timeout=10)
    return [item.product_id for item in cart.items]


def highest_sequence(store_url: str, entity_id: str) -> int:
    async def read() -> int:
        store = await open_store(store_url)
        try:
            return await store.highest_sequence(PID, entity_id)
        finally:
            await store.close()

    return asyncio.run(read())


def data_loss(call: Callable[[], object]) -> str:
    """The details of the DATA_LOSS error ``call`` must fail with."""
    with pytest.raises(grpc.RpcError) as error:
        call()
    assert error.value.code() == grpc.StatusCode.DATA_LOSS, error.value.details()
    return error.value.details() or ""


def test_a_damaged_journal_fails_only_its_entity_with_data_loss(
    store_url: str, cart_uf: Process, start_proxy: Callable[..., Process]
) -> None:
    first = start_proxy(cart_uf.port)
    fill(first.port, {"gap": 4, "ahead": 12, "sound": 3})
    assert first.terminate() == 0, first.log()
    where = "persistence_id = ? AND entity_id = ?"
    # An event deleted from the middle of a journal (the cart would show 3 of its 4 items) and a
    # snapshot moved past the journal's end (10 of 12 items: the snapshot is of event 10).
    assert run_sql(store_url, f"DELETE FROM events WHERE {where} AND sequence = 2", PID, "gap")
    assert run_sql(store_url, f"UPDATE snapshots SET sequence = 13 WHERE {where}", PID, "ahead")

    px = start_proxy(cart_uf.port)
    with grpc.insecure_channel(f"127.0.0.1:{px.port}") as channel:
        stub = shoppingcart_pb2_grpc.ShoppingCartStub(channel)
        details = data_loss(lambda: cart_of(stub, "gap"))
        assert details == (
            "cannot replay entity 'gap' of com.example.shoppingcart.ShoppingCart: the journal "
            "of shopping-cart|gap is damaged: expected sequence 2, found 3 (event 2 is missing)"
        )
        add = shoppingcart_pb2.AddLineItem(user_id="gap", product_id="x", name="X", quantity=1)
        assert "expected sequence 2, found 3" in data_loss(lambda: stub.AddItem(add, timeout=10))
        details = data_loss(lambda: cart_of(stub, "ahead"))
        assert details.endswith(
            "the journal of shopping-cart|ahead is damaged: the snapshot is at sequence 13 but "
            "the journal ends at 12: the snapshot is ahead of the events"
        ), details
        # The other carts serve as before, reads and writes.
        assert cart_of(stub, "sound") == ["p0", "p1", "p2"]
        fill(px.port, {"sound": 4})
        assert cart_of(stub, "sound") == ["p0", "p1", "p2", "p3"]
        with httpx.Client(timeout=10) as client:
            reply = client.get(f"http://127.0.0.1:{px.port}/carts/gap")
        assert reply.status_code == 500, reply.text
        assert reply.json()["code"] == grpc.StatusCode.DATA_LOSS.value[0]
        assert "expected sequence 2, found 3" in reply.json()["message"]
        assert highest_sequence(store_url, "gap") == 4  # the failed AddItem wrote nothing
        # Repaired (here: the snapshot put back), the cart serves again without a restart.
        assert run_sql(store_url, f"UPDATE snapshots SET sequence = 10 WHERE {where}", PID, "ahead")
        assert cart_of(stub, "ahead") == [f"p{n}" for n in range(12)]
    log = px.log()
    errors = [line for line in log.splitlines() if "ERROR" in line]
    # Once per damaged entity, however many of its commands failed.
    assert [line for line in errors if "shopping-cart|gap" in line] != [], log
    assert len([line for line in errors if "shopping-cart|gap" in line]) == 1, errors
    assert len([line for line in errors if "shopping-cart|ahead" in line]) == 1, errors
    assert "Traceback" not in log


def start_refused(tmp_path: Path, uf_port: int, store: str) -> str:
    """Start a proxy on ``store``; it must exit with status 1 before serving. Its stderr."""
    args = proxy(tmp_path, uf_port, store).args
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=60, env=dict(os.environ, PYTHONUNBUFFERED="1")
    )
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr


def serves_carts(
    start_proxy: Callable[..., Process], uf_port: int, store: str, carts: dict[str, int]
) -> None:
    """A proxy on ``store`` serves each cart with ``count`` items."""
    px = start_proxy(uf_port, store=store)
    with grpc.insecure_channel(f"127.0.0.1:{px.port}") as channel:
        stub = shoppingcart_pb2_grpc.ShoppingCartStub(channel)
        for user, count in carts.items():
            assert cart_of(stub, user) == [f"p{n}" for n in range(count)]
    px.terminate()


def sqlite_path(store_url: str) -> Path:
    return Path(store_url[len("sqlite:///") :])


def test_an_emptied_store_stops_the_proxy_at_start(
    store_backend: str,
    store_url: str,
    tmp_path: Path,
    cart_uf: Process,
    start_proxy: Callable[..., Process],
) -> None:
    first = start_proxy(cart_uf.port)
    fill(first.port, {"alice": 2})
    assert first.terminate() == 0, first.log()
    if store_backend == "sqlite":
        path = sqlite_path(store_url)
        path.write_bytes(b"")  # the file truncated to 0 bytes
        expected = f"{path} is empty (0 bytes), not a cloudstate store"
        adopt = f"{store_url}?adopt=true"
    else:  # what says the schema is ours is wiped; the tables are still there
        run_sql(store_url, "TRUNCATE cloudstate_schema_version")
        schema = store_url.rpartition("schema=")[2]
        expected = f"the database schema {schema!r} holds tables ("
        adopt = f"{store_url}&adopt=true"
    error = start_refused(tmp_path, cart_uf.port, store_url)
    assert error.startswith(f"cloudstate proxy: error: {expected}"), error
    assert "add ?adopt=true to the store URL" in error or "add adopt=true" in error, error
    if store_backend == "sqlite":  # told to, it starts a new, empty store in the file
        serves_carts(start_proxy, cart_uf.port, adopt, {"alice": 0})


def damage_sqlite_pages(path: Path) -> None:
    """Random bytes over two pages of the events table (not its root): a failing disk."""
    with sqlite3.connect(path) as connection:
        pages = [
            row[0]
            for row in connection.execute(
                "SELECT pageno FROM dbstat WHERE name = 'events' ORDER BY pageno"
            )
        ][1:3]
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
    connection.close()
    assert len(pages) == 2
    noise = random.Random(7)
    with path.open("r+b") as file:
        for page in pages:
            file.seek((page - 1) * page_size)
            file.write(bytes(noise.randrange(256) for _ in range(page_size)))


def test_a_store_failing_its_check_stops_the_proxy_at_start(
    store_backend: str,
    store_url: str,
    tmp_path: Path,
    cart_uf: Process,
    start_proxy: Callable[..., Process],
) -> None:
    first = start_proxy(cart_uf.port)
    fill(first.port, {f"user-{n}": 6 for n in range(12)})
    assert first.terminate() == 0, first.log()
    if store_backend == "sqlite":
        path = sqlite_path(store_url)
        damage_sqlite_pages(path)
        expected = f"{path} is damaged: PRAGMA quick_check reports "
    else:  # PostgreSQL checks its own pages; the proxy checks that the tables are its own
        run_sql(store_url, "ALTER TABLE snapshots RENAME COLUMN payload TO data")
        expected = "the database schema "
    error = start_refused(tmp_path, cart_uf.port, store_url)
    assert error.startswith(f"cloudstate proxy: error: {expected}"), error
    if store_backend == "sqlite":
        assert "?integrity=off" in error and "restore it from a backup" in error, error
        # Told to skip the check, it starts (to salvage what can be read).
        start_proxy(cart_uf.port, store=f"{store_url}?integrity=off").terminate()
    else:
        assert "table snapshots has the wrong columns (missing payload) (unknown data)" in error


def test_another_applications_store_stops_the_proxy_unless_adopted(
    store_backend: str,
    store_url: str,
    tmp_path: Path,
    cart_uf: Process,
    start_proxy: Callable[..., Process],
) -> None:
    if store_backend == "sqlite":
        path = sqlite_path(store_url)
        with sqlite3.connect(path) as connection:
            connection.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        connection.close()
        adopt = f"{store_url}?adopt=true"
    else:
        run_sql(store_url, f'CREATE SCHEMA "{store_url.rpartition("schema=")[2]}"')
        run_sql(store_url, "CREATE TABLE customers (id INT, name TEXT)")
        adopt = f"{store_url}&adopt=true"
    error = start_refused(tmp_path, cart_uf.port, store_url)
    assert "customers" in error and "adopt=true" in error, error
    px = start_proxy(cart_uf.port, store=adopt)
    fill(px.port, {"alice": 2})
    px.terminate()
    serves_carts(start_proxy, cart_uf.port, store_url, {"alice": 2})  # ours from now on
