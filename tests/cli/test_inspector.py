"""The inspector on every store backend (the ``store_url`` fixture: SQLite and PostgreSQL), with
every kind of payload: protobuf events and snapshots, JSON values, primitives, CRDT states, and
types nobody registered."""

from __future__ import annotations

import io

from shoppingcart.domain_pb2 import Cart, ItemAdded, LineItem

from cloudstate.any_support import pack
from cloudstate.proxy.crdt import codec
from cloudstate.proxy.crdt.types import GCounter, ORMap, ORSet, Vote
from cloudstate.proxy.stores.base import Payload
from cloudstate.proxy.stores.registry import open_store
from cloudstate.tools.decode import PayloadDecoder
from cloudstate.tools.inspector import Inspector, render


def payload(value: object) -> Payload:
    packed = pack(value)
    return Payload(packed.type_url, packed.value)


def element(value: object) -> tuple[str, bytes]:
    packed = pack(value)
    return packed.type_url, packed.value


async def test_every_kind_of_entity_decoded(store_url: str) -> None:
    store = await open_store(store_url)
    try:
        added = [ItemAdded(item=LineItem(productId=f"p{n}", quantity=n)) for n in (1, 2, 3)]
        await store.append_events(
            "carts",
            "alice",
            0,
            [payload(e) for e in added[:2]],
            payload(Cart(items=[LineItem(productId="p1", quantity=1)])),
        )
        await store.append_events("carts", "alice", 2, [payload(added[2]), payload("a note")])
        await store.append_events(
            "carts", "bob", 0, [Payload("type.googleapis.com/x.Gone", b"\x08\x01")]
        )
        await store.save_value("profiles", "alice", payload({"name": "Alice", "age": 7}))
        tags = ORSet()
        tags.add("node-1", element("red"))
        tags.add("node-1", element("blue"))
        counters = ORMap()
        counts = GCounter()
        counts.increment("node-1", 5)
        counters.put("node-1", element("clicks"), counts)
        vote = Vote()
        vote.vote("node-1", True)
        vote.vote("node-2", False)
        for entity_id, state in (("tags", tags), ("counters", counters), ("vote", vote)):
            await store.save_value(
                "crdt:things",
                entity_id,
                Payload("type.cloudstate.io/proxy.CrdtState.v1", codec.encode(state)),
            )
    finally:
        await store.close()

    inspector = Inspector(PayloadDecoder())
    types = await inspector.collect(store_url, None, None)
    assert types["entity_types"] == [
        {"persistence_id": "carts", "kind": "event-sourced", "entities": 2},
        {"persistence_id": "profiles", "kind": "value", "entities": 1},
        {"persistence_id": "things", "kind": "crdt", "entities": 3},
    ]

    ids = await inspector.collect(store_url, "carts", None)
    assert ids["entities"] == [
        {"entity_id": "alice", "events": 4, "snapshot_sequence": 2},
        {"entity_id": "bob", "events": 1},
    ]

    alice = await inspector.collect(store_url, "carts", "alice")
    assert alice["snapshot"]["sequence"] == 2
    assert alice["snapshot"]["data"] == {"items": [{"productId": "p1", "quantity": 1}]}
    assert [(e["sequence"], e["type"], e["data"]) for e in alice["events"]] == [
        (
            1,
            "com.example.shoppingcart.persistence.ItemAdded",
            {"item": {"productId": "p1", "quantity": 1}},
        ),
        (
            2,
            "com.example.shoppingcart.persistence.ItemAdded",
            {"item": {"productId": "p2", "quantity": 2}},
        ),
        (
            3,
            "com.example.shoppingcart.persistence.ItemAdded",
            {"item": {"productId": "p3", "quantity": 3}},
        ),
        (4, "string", "a note"),
    ]
    assert all(e["timestamp"] is None or e["timestamp"].endswith("Z") for e in alice["events"])

    bob = await inspector.collect(store_url, "carts", "bob")
    assert bob["events"][0]["data"] == {"@type": "type.googleapis.com/x.Gone", "@raw": "CAE="}
    assert inspector.undecoded == 1

    profile = await inspector.collect(store_url, "profiles", "alice")
    assert profile["value"]["data"] == {"age": 7, "name": "Alice"}
    assert profile["value"]["type"] == "json:dict"

    things = {
        name: (await inspector.collect(store_url, "things", name))["value"]["data"]
        for name in ("tags", "counters", "vote")
    }
    # Elements in the order of their stable encoding (as the proxy keeps them).
    assert things["tags"] == {"crdt": "orset", "value": ["red", "blue"]}
    assert things["counters"] == {"crdt": "ormap", "value": [{"key": "clicks", "value": 5}]}
    assert things["vote"] == {
        "crdt": "vote",
        "value": {"votes": {"node-1": True, "node-2": False}, "votes_for": 1, "voters": 2},
    }

    limited = await Inspector(PayloadDecoder(), limit=1).collect(store_url, "carts", "alice")
    assert [e["sequence"] for e in limited["events"]] == [4]
    text = io.StringIO()
    render(limited, text)
    assert text.getvalue().splitlines()[:4] == [
        "carts / alice",
        "snapshot at sequence 2  com.example.shoppingcart.persistence.Cart",
        '  {"items": [{"productId": "p1", "quantity": 1}]}',
        "journal: 4 events, the last 1 shown",
    ]
