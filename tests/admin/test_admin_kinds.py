"""The admin API on the other kinds of state and on a user function with consumers: a value
entity's value, a CRDT's state, and the views example's view updaters with their offsets and
lag (each example under ``cloudstate run`` with its admin port open)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.admin.harness import Cart, admin_cli, admin_json, start_example
from tests.processes import ROOT

EXAMPLES = ROOT / "examples"


def _stopped(running: Cart) -> None:
    assert running.process.terminate() == 0, running.process.log()


def test_value_entity(tmp_path: Path) -> None:
    running = start_example(tmp_path, "valueentity.shopping_cart", EXAMPLES / "valueentity")
    try:
        body = {"product_id": "apple", "name": "Apple", "quantity": 4}
        running.post("/ve/cart/vera/items/add", body)
        running.post("/ve/cart/vera/items/add", {**body, "product_id": "pear", "name": "Pear"})
        services = admin_json(running, "services")["services"]
        assert [(s["kind"], s["persistenceId"] != "") for s in services] == [("value", True)]
        assert admin_json(running, "entities", "ShoppingCart")["entityIds"] == ["vera"]
        entity = admin_json(running, "entity", "ShoppingCart", "vera")
        assert (entity["kind"], entity["found"], entity["events"]) == ("value", True, [])
        value = entity["value"]
        assert value["version"] == "2" and value["type"].endswith("Cart")
        items = value["data"]["items"]
        assert [(i["productId"], i["quantity"]) for i in items] == [("apple", 4), ("pear", 4)]
        done = admin_cli(running, "entity", "ShoppingCart", "vera")
        lines = done.stdout.splitlines()
        assert lines[1].startswith("value (version 2)  ") and '"productId": "apple"' in lines[2]
    finally:
        _stopped(running)


def test_crdt_state(tmp_path: Path) -> None:
    running = start_example(tmp_path, "crdts.main", EXAMPLES / "crdts")
    try:
        for _ in range(3):
            running.post("/posts/hello/like", {})
        kinds = {
            s["name"].rsplit(".", 1)[-1]: s["kind"]
            for s in admin_json(running, "services")["services"]
        }
        assert kinds["Likes"] == "crdt"
        assert admin_json(running, "entities", "Likes")["entityIds"] == ["hello"]
        entity = admin_json(running, "entity", "Likes", "hello")
        assert (entity["kind"], entity["found"]) == ("crdt", True)
        state = entity["value"]
        assert state["type"] == state["data"]["type"]  # the CRDT's kind, e.g. "gcounter"
        assert sum(state["data"]["counts"].values()) == 3
    finally:
        _stopped(running)


def _consumers(running: Cart) -> list[dict[str, Any]]:
    consumers: list[dict[str, Any]] = admin_json(running, "consumers")["consumers"]
    return consumers


def test_view_consumers_offsets_and_lag(tmp_path: Path) -> None:
    running = start_example(tmp_path, "cartviews.main", EXAMPLES / "shoppingcart_views")
    try:
        body = {"product_id": "apple", "name": "Apple", "quantity": 2}
        for cart in ("c1", "c2", "c3"):
            running.post(f"/carts/{cart}/items", body)
        deadline = time.monotonic() + 30
        consumers = _consumers(running)
        while any(c["pending"] != "0" for c in consumers) and time.monotonic() < deadline:
            time.sleep(0.2)
            consumers = _consumers(running)
        assert consumers, "the views example has view updaters"
        assert {c["kind"] for c in consumers} == {"view", "eventing"}
        for consumer in consumers:
            assert consumer["offset"] == consumer["headOffset"], consumer
            assert (consumer["pending"], consumer["lagSeconds"]) == ("0", 0)
        assert any(int(c["headOffset"]) >= 3 for c in consumers), consumers
        done = admin_cli(running, "consumers")
        assert done.returncode == 0, done.stderr
        header = done.stdout.splitlines()[0].split()
        assert header == [
            "CONSUMER",
            "KIND",
            "SOURCE",
            "OFFSET",
            "HEAD",
            "PENDING",
            "LAG",
            "PARKED",
            "LAST",
            "ERROR",
        ]
        assert len(done.stdout.splitlines()) == 1 + len(consumers)
    finally:
        _stopped(running)
