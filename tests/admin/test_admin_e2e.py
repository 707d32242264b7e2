"""Every admin operation end to end: ``cloudstate run`` of the shopping cart with its admin port
open, asked through ``cloudstate admin`` (a subprocess), over HTTP/JSON and over gRPC, while it
serves; timers and dead letters are written to its SQLite store beside it (as a durable call
that ran out of attempts leaves them)."""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from shoppingcart import shoppingcart_pb2  # type: ignore[import-not-found]

from cloudstate.protocol import admin_pb2, admin_pb2_grpc
from cloudstate.proxy.stores.base import DurableTask, Payload
from cloudstate.proxy.stores.registry import open_store
from tests.admin.harness import Cart, admin_cli, admin_json, http, start_cart

SERVICE = "com.example.shoppingcart.ShoppingCart"
ITEM_ADDED = "com.example.shoppingcart.persistence.ItemAdded"
PAGED = [f"p{n:02}" for n in range(12)]


@pytest.fixture(scope="module")
def cart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cart]:
    running = start_cart(tmp_path_factory.mktemp("admin"))
    try:
        running.add_item("alice", "apple", 3)
        running.add_item("alice", "pear", 1)
        for user in PAGED:
            running.add_item(user, "plum")
        for n in range(6):  # the cart snapshots every 5 events
            running.add_item("bob", f"fig{n}", n + 1)
        yield running
    finally:
        assert running.process.terminate() == 0, running.process.log()


def test_services(cart: Cart) -> None:
    done = admin_cli(cart, "services")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "SERVICE                                KIND           PERSISTENCE ID",
        f"{SERVICE}  event-sourced  shopping-cart",
    ]
    expected = {
        "services": [{"name": SERVICE, "kind": "event-sourced", "persistenceId": "shopping-cart"}]
    }
    assert admin_json(cart, "services") == expected
    assert http("GET", f"{cart.admin}/v1/services") == (200, expected)


def test_entity_ids_page_by_prefix(cart: Cart) -> None:
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        args = ["entities", "ShoppingCart", "--prefix", "p", "--page-size", "5"]
        reply = admin_json(cart, *args, *(["--page-token", token] if token else []))
        assert reply["service"] == SERVICE
        seen += reply["entityIds"]
        pages += 1
        token = reply.get("nextPageToken", "")
        if not token:
            break
    assert (seen, pages) == (PAGED, 3)
    # The table form: one id a line, then how to get the next page.
    done = admin_cli(cart, "entities", "shopping-cart", "--page-size", "2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:2] == ["alice", "bob"] and lines[2].startswith("more: --page-token ")
    # HTTP: the persistence id or the full name; every id without a prefix.
    status, reply = http("GET", f"{cart.admin}/v1/services/{SERVICE}/entities?page_size=1000")
    assert status == 200 and reply["entityIds"] == ["alice", "bob", *PAGED], reply
    assert reply["nextPageToken"] == ""
    status, reply = http("GET", f"{cart.admin}/v1/services/ShoppingCart/entities?page_size=-1")
    assert status == 400 and "page_size" in reply["message"]
    status, reply = http("GET", f"{cart.admin}/v1/services/ShoppingCart/entities?page_token=%21")
    assert status == 400 and "next_page_token" in reply["message"], reply
    status, reply = http("GET", f"{cart.admin}/v1/services/Nope/entities")
    assert status == 404 and SERVICE in reply["message"], reply


def test_entity_ids_are_live(cart: Cart) -> None:
    """A cart created while the proxy runs is listed at once (no restart, no stopped store)."""
    before = admin_json(cart, "entities", "ShoppingCart", "--prefix", "live")["entityIds"]
    cart.add_item("live-1", "kiwi")
    after = admin_json(cart, "entities", "ShoppingCart", "--prefix", "live")["entityIds"]
    assert (before, after) == ([], ["live-1"])


def test_entity_journal_and_snapshot(cart: Cart) -> None:
    reply = admin_json(cart, "entity", "ShoppingCart", "alice")
    assert (reply["found"], reply["kind"], reply["eventsTotal"]) == (True, "event-sourced", "2")
    assert [(e["sequence"], e["type"], e["data"]) for e in reply["events"]] == [
        ("1", ITEM_ADDED, {"item": {"productId": "apple", "name": "Apple", "quantity": 3}}),
        ("2", ITEM_ADDED, {"item": {"productId": "pear", "name": "Pear", "quantity": 1}}),
    ]
    assert all(e["time"].endswith("Z") for e in reply["events"])
    assert "snapshot" not in reply
    bob = admin_json(cart, "entity", "ShoppingCart", "bob", "--limit", "2")
    assert bob["eventsTotal"] == "6" and [e["sequence"] for e in bob["events"]] == ["5", "6"]
    snapshot = bob["snapshot"]
    assert (snapshot["sequence"], snapshot["type"]) == (
        "5",
        "com.example.shoppingcart.persistence.Cart",
    )
    assert [item["productId"] for item in snapshot["data"]["items"]] == [
        f"fig{n}" for n in range(5)
    ]
    # The table form.
    done = admin_cli(cart, "entity", "ShoppingCart", "alice")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"{SERVICE} / alice (event-sourced)"
    assert lines[1] == "journal: 2 events"
    assert lines[2].split() == ["SEQ", "TIME", "TYPE", "DATA"]
    assert lines[3].startswith("1  ") and ITEM_ADDED in lines[3]
    assert lines[3].endswith('{"item": {"name": "Apple", "productId": "apple", "quantity": 3}}')
    # HTTP, both routes; an id that holds nothing.
    path = f"{cart.admin}/v1/services/ShoppingCart/entities/alice"
    assert http("GET", path) == (200, reply)
    assert http("GET", f"{cart.admin}/v1/entity?service=ShoppingCart&entity_id=alice") == (
        200,
        reply,
    )
    status, nobody = http("GET", f"{cart.admin}/v1/entity?service=ShoppingCart&entity_id=nobody")
    assert status == 200 and (nobody["found"], nobody["events"]) == (False, [])
    # A command gives its entity an actor in the proxy (until 30 s idle); nobody was never
    # activated.
    cart.add_item("active-1", "plum")
    _, active = http("GET", f"{cart.admin}/v1/entity?service=ShoppingCart&entity_id=active-1")
    assert active["active"] is True
    assert nobody.get("active", False) is False
    done = admin_cli(cart, "entity", "ShoppingCart", "nobody")
    assert done.stdout == f"{SERVICE} / nobody (event-sourced): nothing stored\n"


def test_consumers_of_a_user_function_without_eventing(cart: Cart) -> None:
    assert admin_json(cart, "consumers") == {"consumers": []}
    done = admin_cli(cart, "consumers")
    assert (done.returncode, done.stdout) == (0, "no eventing consumers or views\n")
    assert http("GET", f"{cart.admin}/v1/consumers") == (200, {"consumers": []})


def _add_line(user: str, product: str) -> Payload:
    message = shoppingcart_pb2.AddLineItem(
        user_id=user, product_id=product, name=product, quantity=2
    )
    return Payload(
        "type.googleapis.com/com.example.shoppingcart.AddLineItem", message.SerializeToString()
    )


async def _seed_durable(store_url: str) -> None:
    """A timer due in an hour, and two dead letters (deliveries that ran out of attempts)."""
    store = await open_store(store_url)
    try:
        later = time.time() + 3600
        tasks = [
            DurableTask("timer:later", "k-later", SERVICE, "AddItem", _add_line("t", "x"), later),
            DurableTask(
                "timer:dead-1", "k-dead-1", SERVICE, "AddItem", _add_line("dl", "date"), later
            ),
            DurableTask(
                "effect:dead-2", "k-dead-2", SERVICE, "AddItem", _add_line("dl", "nut"), later
            ),
        ]
        await store.write_tasks(tasks)
        assert await store.dead_letter_task("timer:dead-1", "k-dead-1", "boom 1")
        assert await store.dead_letter_task("effect:dead-2", "k-dead-2", "boom 2")
    finally:
        await store.close()


async def _dead_letter_names(store_url: str) -> list[str]:
    store = await open_store(store_url)
    try:
        return sorted(letter.task.name for letter in await store.list_dead_letters())
    finally:
        await store.close()


def _wait_for_events(cart: Cart, user: str, count: int) -> Any:
    deadline = time.monotonic() + 30
    while True:
        reply = admin_json(cart, "entity", "ShoppingCart", user)
        if int(reply.get("eventsTotal", "0")) >= count or time.monotonic() > deadline:
            return reply
        time.sleep(0.2)


def test_timers_and_dead_letters(cart: Cart) -> None:
    asyncio.run(_seed_durable(cart.store))
    timers = admin_json(cart, "timers")["timers"]
    assert [(t["name"], t["target"], t["attempts"]) for t in timers] == [
        ("timer:later", f"{SERVICE}.AddItem", 0)
    ]
    done = admin_cli(cart, "timers", "--prefix", "timer:")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].split() == [
        "NAME",
        "TARGET",
        "DUE",
        "ATTEMPTS",
        "LAST",
        "ERROR",
    ]
    assert done.stdout.splitlines()[1].startswith(f"timer:later  {SERVICE}.AddItem  ")
    assert admin_json(cart, "timers", "--prefix", "effect:") == {"timers": []}

    letters = admin_json(cart, "dead-letters")["deadLetters"]
    assert sorted((d["name"], d["attempts"], d["lastError"]) for d in letters) == [
        ("effect:dead-2", 1, "boom 2"),
        ("timer:dead-1", 1, "boom 1"),
    ]
    assert all(d["failedAt"].endswith("Z") for d in letters)
    # What the call would send, decoded with the user function's descriptors.
    first = next(d for d in letters if d["name"] == "timer:dead-1")
    assert first["requestType"] == "com.example.shoppingcart.AddLineItem"
    assert first["request"] == {"userId": "dl", "productId": "date", "name": "date", "quantity": 2}
    done = admin_cli(cart, "dead-letters")
    assert done.returncode == 0 and "timer:dead-1" in done.stdout and "boom 2" in done.stdout
    assert http("GET", f"{cart.admin}/v1/dead-letters") == (200, {"deadLetters": letters})

    # Redrive one: pending again, delivered by the running proxy, applied to the cart.
    done = admin_cli(cart, "redrive", "timer:dead-1")
    assert (done.returncode, done.stdout) == (
        0,
        "redriven timer:dead-1: pending again, delivered at once\n",
    ), done.stderr
    delivered = _wait_for_events(cart, "dl", 1)
    assert [e["data"]["item"]["productId"] for e in delivered["events"]] == ["date"]
    # Drop the other: gone from the store.
    done = admin_cli(cart, "drop", "effect:dead-2")
    assert (done.returncode, done.stdout) == (0, "dropped effect:dead-2\n"), done.stderr
    assert asyncio.run(_dead_letter_names(cart.store)) == []
    # Missing names are errors naming them; --all with none left redrives nothing.
    done = admin_cli(cart, "drop", "effect:dead-2")
    assert done.returncode == 1 and "no dead letter named 'effect:dead-2'" in done.stderr
    done = admin_cli(cart, "redrive", "nope")
    assert done.returncode == 1 and "'nope'" in done.stderr and "HTTP 404" in done.stderr
    done = admin_cli(cart, "redrive", "--all")
    assert (done.returncode, done.stdout) == (0, "no dead letters\n")
    done = admin_cli(cart, "redrive")
    assert done.returncode == 2 and "--all" in done.stderr


def test_redrive_all_over_http(cart: Cart) -> None:
    async def seed() -> None:
        store = await open_store(cart.store)
        try:
            later = time.time() + 3600
            for n in range(3):
                name = f"timer:all-{n}"
                task = DurableTask(
                    name, f"k{n}", SERVICE, "AddItem", _add_line("all", f"i{n}"), later
                )
                await store.write_tasks([task])
                assert await store.dead_letter_task(name, f"k{n}", "boom")
        finally:
            await store.close()

    asyncio.run(seed())
    status, reply = http("POST", f"{cart.admin}/v1/dead-letters:redrive", {"all": True})
    assert status == 200 and sorted(reply["redriven"]) == [
        "timer:all-0",
        "timer:all-1",
        "timer:all-2",
    ]
    delivered = _wait_for_events(cart, "all", 3)
    assert sorted(e["data"]["item"]["productId"] for e in delivered["events"]) == ["i0", "i1", "i2"]
    status, reply = http("POST", f"{cart.admin}/v1/dead-letters:redrive", {})
    assert status == 400 and "all" in reply["message"]
    status, reply = http("POST", f"{cart.admin}/v1/dead-letters:drop", {"name": "timer:all-0"})
    assert status == 404 and "timer:all-0" in reply["message"]


def test_grpc(cart: Cart) -> None:
    """The same operations over native gRPC on the same port."""
    with grpc.insecure_channel(f"127.0.0.1:{cart.admin_port}") as channel:
        stub = admin_pb2_grpc.AdminStub(channel)
        page = stub.ListEntities(
            admin_pb2.ListEntitiesRequest(service="ShoppingCart", prefix="p", page_size=10),
            timeout=10,
        )
        assert list(page.entity_ids) == PAGED[:10] and page.next_page_token
        rest = stub.ListEntities(
            admin_pb2.ListEntitiesRequest(
                service="ShoppingCart", prefix="p", page_size=10, page_token=page.next_page_token
            ),
            timeout=10,
        )
        assert list(rest.entity_ids) == PAGED[10:] and not rest.next_page_token
        alice = stub.GetEntity(
            admin_pb2.GetEntityRequest(service="ShoppingCart", entity_id="alice"), timeout=10
        )
        assert [event.sequence for event in alice.events] == [1, 2]
        assert alice.events[0].data.struct_value["item"]["productId"] == "apple"
        with pytest.raises(grpc.RpcError) as refused:
            stub.GetEntity(admin_pb2.GetEntityRequest(service="Nope", entity_id="x"), timeout=10)
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND


def test_metrics_still_served(cart: Cart) -> None:
    status, text = http("GET", f"{cart.admin}/metrics")
    assert status == 200 and "cloudstate_requests_total" in text


def test_unreachable_admin_port(tmp_path: Path) -> None:
    fake = Cart(process=None, port=0, admin_port=1, store="")  # type: ignore[arg-type]
    done = admin_cli(fake, "services")
    assert done.returncode == 1 and "cannot reach the admin port" in done.stderr


def test_paging_and_journal_on_each_backend(tmp_path: Path, store_url: str) -> None:
    """The live listing and decoding through the proxy's own store, SQLite and PostgreSQL."""
    running = start_cart(tmp_path, store=store_url)
    try:
        users = ["b", "a%", "a_", "a1", "a10", "é"]
        for user in users:
            running.add_item(user, "plum", 2)
        seen: list[str] = []
        token = ""
        for _ in range(len(users)):  # bounded: a token that does not advance must not hang
            query = "?page_size=2" + (f"&page_token={urllib.parse.quote(token)}" if token else "")
            status, reply = http("GET", f"{running.admin}/v1/services/ShoppingCart/entities{query}")
            assert status == 200, reply
            seen += reply["entityIds"]
            token = reply["nextPageToken"]
            if not token:
                break
        assert seen == sorted(users, key=str.encode)
        prefixed = admin_json(running, "entities", "ShoppingCart", "--prefix", "a_")
        assert prefixed["entityIds"] == ["a_"]  # a literal prefix, no LIKE wildcard
        entity = admin_json(running, "entity", "ShoppingCart", "é")
        assert entity["events"][0]["data"] == {
            "item": {"productId": "plum", "name": "Plum", "quantity": 2}
        }
    finally:
        assert running.process.terminate() == 0, running.process.log()
