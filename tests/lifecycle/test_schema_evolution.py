"""Event schema evolution end to end: a journal written by today's shopping cart
(fixtures/cart_v1_journal.json, see make_cart_fixture.py) replayed behind a real proxy by
version 2 of the cart (cart_v2.py), whose event types changed, through its migrations."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from cloudstate.proxy.stores.base import Payload
from cloudstate.proxy.stores.registry import open_store
from tests.processes import Process, free_port

HERE = Path(__file__).resolve().parent
FIXTURE = HERE / "fixtures" / "cart_v1_journal.json"
sys.path.insert(0, str(HERE.parent.parent / "examples" / "shoppingcart"))

from shoppingcart import shoppingcart_pb2, shoppingcart_pb2_grpc  # noqa: E402


def load_fixture(store_url: str) -> None:
    """Write the version-1 journal into the store, event by event, with its snapshot."""
    journal = json.loads(FIXTURE.read_text())
    pid = journal["persistence_id"]

    async def write() -> None:
        store = await open_store(store_url)
        try:
            for entity_id, entity in journal["entities"].items():
                snapshot = entity["snapshot"]
                for index, event in enumerate(entity["events"]):
                    payload = Payload(event["type_url"], bytes.fromhex(event["value"]))
                    at_snapshot = snapshot is not None and snapshot["sequence"] == index + 1
                    await store.append_events(
                        pid,
                        entity_id,
                        index,
                        [payload],
                        Payload(snapshot["type_url"], bytes.fromhex(snapshot["value"]))
                        if at_snapshot
                        else None,
                    )
        finally:
            await store.close()

    asyncio.run(write())


def cart_v2(tmp: Path, migrations: str = "all") -> Process:
    port = free_port()
    return Process(
        "cart v2 user function",
        [sys.executable, str(HERE / "cart_v2.py")],
        port,
        tmp / f"cart-v2-{port}.log",
        env={"HOST": "127.0.0.1", "PORT": str(port), "MIGRATIONS": migrations},
    ).start()


def items(port: int, user: str) -> list[tuple[str, str, int]]:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = shoppingcart_pb2_grpc.ShoppingCartStub(channel)
        cart = stub.GetCart(shoppingcart_pb2.GetShoppingCart(user_id=user), timeout=10)
        return [(i.product_id, i.name, i.quantity) for i in cart.items]


def test_a_version_1_journal_replays_through_the_migrations(
    tmp_path: Path, store_url: str, start_proxy: Callable[..., Process]
) -> None:
    load_fixture(store_url)
    uf = cart_v2(tmp_path)
    try:
        port = start_proxy(uf.port).port
        # alice: a snapshot (migrated Cart) at 5, then event 6; bob: events only.
        assert items(port, "alice") == [
            ("apple", "Apple", 5),
            ("fig", "Fig", 4),
            ("kiwi", "Kiwi", 1),
        ]
        assert items(port, "bob") == [("milk", "Milk", 2)]
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = shoppingcart_pb2_grpc.ShoppingCartStub(channel)
            stub.AddItem(
                shoppingcart_pb2.AddLineItem(
                    user_id="bob", product_id="tea", name="Tea", quantity=1
                ),
                timeout=10,
            )
        assert items(port, "bob") == [("milk", "Milk", 2), ("tea", "Tea", 1)]
    finally:
        uf.terminate()


def test_a_missing_migration_names_the_type_url_and_the_entity(
    tmp_path: Path, store_url: str, start_proxy: Callable[..., Process]
) -> None:
    load_fixture(store_url)
    uf = cart_v2(tmp_path, migrations="partial")
    try:
        port = start_proxy(uf.port).port
        with pytest.raises(grpc.RpcError) as error:
            items(port, "bob")
        details = error.value.details() or ""
        assert "com.example.shoppingcart.persistence.ItemRemoved" in details, details
        assert "'bob'" in details and "migrate(" in details, details
        # alice's ItemRemoved is before her snapshot: she still loads.
        assert items(port, "alice")[0] == ("apple", "Apple", 5)
    finally:
        uf.terminate()
