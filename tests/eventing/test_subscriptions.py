"""Reading the eventing options into consumers: grouping, routing by type, discovery errors; and
when a consumer commits its offset (in process, a real SQLite store and a router that holds)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import any_pb2, descriptor_pb2, empty_pb2

from cloudstate import eventing_pb2
from cloudstate.protocol import entity_pb2
from cloudstate.proxy.errors import DiscoveryError
from cloudstate.proxy.eventing.event_log import EventLogConsumer
from cloudstate.proxy.eventing.subscriptions import event_subscriptions
from cloudstate.proxy.model import (
    ACTION,
    ALL_ENTITY_TYPES,
    MethodModel,
    UserFunctionModel,
    build_model,
)
from cloudstate.proxy.stores.base import Payload
from cloudstate.proxy.stores.sqlite import SqliteStore

Methods = list[tuple[str, str, str, str]]  # name, input type, event_log, consumer group


def model_with(methods: Methods, *, out_topic: str = "", in_topic: str = "") -> UserFunctionModel:
    """An action ``t.Consumer`` whose methods consume what ``methods`` says."""
    file = descriptor_pb2.FileDescriptorProto(
        name="t/consumer.proto",
        package="t",
        syntax="proto3",
        dependency=[
            "google/protobuf/any.proto",
            "google/protobuf/empty.proto",
            "cloudstate/eventing.proto",
        ],
    )
    for message in ("A", "B"):
        file.message_type.add(name=message)
    service = file.service.add(name="Consumer")
    for name, input_type, event_log, group in methods:
        method = service.method.add(
            name=name, input_type=input_type, output_type=".google.protobuf.Empty"
        )
        eventing = eventing_pb2.Eventing()
        source = getattr(eventing, "in")
        if in_topic:
            source.topic = in_topic
        else:
            source.event_log = event_log
        source.consumer_group = group
        if out_topic:
            eventing.out.topic = out_topic
        method.options.Extensions[eventing_pb2.eventing].CopyFrom(eventing)
    files = descriptor_pb2.FileDescriptorSet()
    for dependency in (any_pb2, empty_pb2, descriptor_pb2, eventing_pb2):
        dependency.DESCRIPTOR.CopyToProto(files.file.add())
    files.file.append(file)
    spec = entity_pb2.EntitySpec(
        proto=files.SerializeToString(),
        entities=[entity_pb2.Entity(entity_type=ACTION, service_name="t.Consumer")],
    )
    return build_model(spec, ALL_ENTITY_TYPES)


def test_methods_of_one_source_form_one_consumer_routed_by_type() -> None:
    model = model_with(
        [
            ("OnA", ".t.A", "carts", ""),
            ("OnB", ".t.B", "carts", ""),
            ("OnAny", ".google.protobuf.Any", "carts", ""),
            ("Orders", ".t.A", "orders", ""),
        ]
    )
    carts, orders = event_subscriptions(model)
    assert (carts.source, carts.consumer_group) == ("carts", "t.Consumer")
    assert carts.consumer_id == "event_log:carts:t.Consumer"
    assert carts.route("type.googleapis.com/t.A") is carts.by_type["t.A"]
    assert carts.route("type.googleapis.com/t.B").name == "OnB"  # type: ignore[union-attr]
    assert carts.route("type.googleapis.com/t.Other") is carts.any_method
    # JSON and primitive payloads only ever go to the Any method, whatever their type name.
    assert carts.route("json.cloudstate.io/t.A") is carts.any_method
    assert carts.route("p.cloudstate.io/string") is carts.any_method
    assert orders.route("type.googleapis.com/t.B") is None


def test_two_methods_taking_one_type_from_one_source_is_a_discovery_error() -> None:
    model = model_with([("First", ".t.A", "carts", ""), ("Second", ".t.A", "carts", "")])
    with pytest.raises(DiscoveryError) as error:
        event_subscriptions(model)
    message = str(error.value)
    assert "t.Consumer.Second and t.Consumer.First both take t.A" in message
    assert "consumer_group" in message


def test_distinct_consumer_groups_make_distinct_consumers() -> None:
    model = model_with([("First", ".t.A", "carts", "g1"), ("Second", ".t.A", "carts", "g2")])
    assert [s.consumer_group for s in event_subscriptions(model)] == ["g1", "g2"]


def test_publishing_to_the_consumed_topic_is_a_discovery_error() -> None:
    model = model_with([("Echo", ".t.A", "", "")], in_topic="news", out_topic="news")
    with pytest.raises(DiscoveryError, match=r"t\.Consumer\.Echo consumes and publishes"):
        event_subscriptions(model)


class HoldingRouter:
    """Stands in for the router: fails the first delivery, then holds every delivery until
    ``release`` is set, recording (entity, sequence) of each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def call_any(
        self, method: MethodModel, payload: any_pb2.Any, metadata: entity_pb2.Metadata
    ) -> Any:
        meta = {e.key: e.string_value for e in metadata.entries}
        self.calls.append((meta["ce-subject"], meta["ce-sequence"]))
        if len(self.calls) == 1:
            raise RuntimeError("the first delivery fails")
        self.holding.set()
        await self.release.wait()


async def test_the_offset_moves_past_events_only_once_they_were_handled(tmp_path: Path) -> None:
    """At-least-once: while the batch's deliveries are failing or unfinished, the stored offset
    stays where it was (a crash now re-delivers them); once every one returned, it is the last
    event's offset."""
    (subscription,) = event_subscriptions(model_with([("OnA", ".t.A", "carts", "")]))
    store = SqliteStore(tmp_path / "offsets.db")
    await store.start()
    a = Payload("type.googleapis.com/t.A", b"")
    await store.append_events("carts", "alice", 0, [a, a])
    await store.append_events("carts", "bob", 0, [a])
    router = HoldingRouter()
    consumer = EventLogConsumer(
        subscription,
        store,
        router,  # type: ignore[arg-type]
        min_backoff=0.01,
        poll_interval=0.05,
    )
    consumer.start()
    try:
        await asyncio.wait_for(router.holding.wait(), 10)  # a delivery failed, then one is held
        assert await store.load_offset(consumer.consumer_id) == 0
        router.release.set()
        head = await store.highest_offset("carts")
        for _ in range(1000):
            if await store.load_offset(consumer.consumer_id) == head:
                break
            await asyncio.sleep(0.01)
        assert await store.load_offset(consumer.consumer_id) == head
    finally:
        await consumer.stop()
        await store.close()
    alice = [seq for entity, seq in router.calls if entity == "alice"]
    assert alice in (["1", "1", "2"], ["1", "2"])  # in order; the failed one again
    assert ("bob", "1") in router.calls
