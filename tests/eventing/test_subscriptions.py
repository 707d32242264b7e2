"""Reading the eventing options into consumers: grouping, routing by type, discovery errors."""

from __future__ import annotations

import pytest
from google.protobuf import any_pb2, descriptor_pb2, empty_pb2

from cloudstate import eventing_pb2
from cloudstate.protocol import entity_pb2
from cloudstate.proxy.errors import DiscoveryError
from cloudstate.proxy.eventing.subscriptions import event_subscriptions
from cloudstate.proxy.model import ACTION, ALL_ENTITY_TYPES, UserFunctionModel, build_model

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
