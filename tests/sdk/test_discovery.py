"""EntityDiscovery: the spec the proxy receives, and error reports."""

from __future__ import annotations

import logging
import platform

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, empty_pb2

import cloudstate
from cloudstate import entity_key_pb2
from cloudstate.protocol import entity_pb2, entity_pb2_grpc

PROXY_INFO = entity_pb2.ProxyInfo(
    protocol_major_version=0,
    protocol_minor_version=2,
    proxy_name="test-proxy",
    proxy_version="9.9",
    supported_entity_types=[
        "cloudstate.eventsourced.EventSourced",
        "cloudstate.valueentity.ValueEntity",
    ],
)


async def discover(channel: grpc.aio.Channel) -> entity_pb2.EntitySpec:
    return await entity_pb2_grpc.EntityDiscoveryStub(channel).discover(PROXY_INFO, timeout=10)


async def test_cart_spec(cart_channel: grpc.aio.Channel) -> None:
    spec = await discover(cart_channel)
    assert list(spec.entities) == [
        entity_pb2.Entity(
            entity_type="cloudstate.eventsourced.EventSourced",
            service_name="com.example.shoppingcart.ShoppingCart",
            persistence_id="shopping-cart",
        )
    ]
    assert spec.service_info == entity_pb2.ServiceInfo(
        service_name="com.example.shoppingcart.ShoppingCart",
        service_runtime=f"Python {platform.python_version()}",
        support_library_name="cloudstate-python",
        support_library_version=cloudstate.__version__,
        protocol_major_version=0,
        protocol_minor_version=2,
    )


async def test_descriptor_set_has_every_import_once_dependencies_first(
    cart_channel: grpc.aio.Channel,
) -> None:
    files = descriptor_pb2.FileDescriptorSet.FromString((await discover(cart_channel)).proto).file
    names = [f.name for f in files]
    assert len(names) == len(set(names))
    assert set(names) >= {
        "shoppingcart/shoppingcart.proto",
        "shoppingcart/domain.proto",
        "cloudstate/entity_key.proto",
        "google/api/annotations.proto",
        "google/api/http.proto",
        "google/protobuf/descriptor.proto",
        "google/protobuf/empty.proto",
    }
    for position, f in enumerate(files):
        for dependency in f.dependency:
            assert names.index(dependency) < position, (f.name, dependency)
    # A proxy can build every descriptor from the set alone, options included.
    pool = descriptor_pool.DescriptorPool()
    for f in files:
        pool.Add(f)
    service = pool.FindServiceByName("com.example.shoppingcart.ShoppingCart")
    assert [m.name for m in service.methods] == ["AddItem", "RemoveItem", "GetCart"]
    pool.FindMessageTypeByName("com.example.shoppingcart.persistence.ItemAdded")
    cart_file = next(f for f in files if f.name == "shoppingcart/shoppingcart.proto")
    add_line_item = next(m for m in cart_file.message_type if m.name == "AddLineItem")
    assert add_line_item.field[0].options.Extensions[entity_key_pb2.entity_key] is True


async def test_discover_is_idempotent(cart_channel: grpc.aio.Channel) -> None:
    assert await discover(cart_channel) == await discover(cart_channel)


async def test_configured_names_versions_and_passivation(model_channel: grpc.aio.Channel) -> None:
    spec = await discover(model_channel)
    entities = {e.service_name: e for e in spec.entities}
    assert list(entities) == ["sdktest.Model", "sdktest.Two", "sdktest.Probe"]
    assert entities["sdktest.Model"].persistence_id == "sdk-model"
    assert not entities["sdktest.Model"].HasField("passivation_strategy")
    assert entities["sdktest.Two"].persistence_id == "Two"  # default: the short name
    assert entities["sdktest.Two"].passivation_strategy.timeout.timeout == 100
    assert spec.service_info.service_name == "sdk-tests"
    assert spec.service_info.service_version == "1.2.3"


async def test_discovery_logs_the_proxy_and_unsupported_types(
    model_channel: grpc.aio.Channel, caplog: pytest.LogCaptureFixture
) -> None:
    info = entity_pb2.ProxyInfo()
    info.CopyFrom(PROXY_INFO)
    del info.supported_entity_types[:]
    info.supported_entity_types.append("cloudstate.crdt.Crdt")
    with caplog.at_level(logging.INFO, logger="cloudstate.discovery"):
        await entity_pb2_grpc.EntityDiscoveryStub(model_channel).discover(info, timeout=10)
    assert "test-proxy 9.9 (protocol 0.2)" in caplog.text
    assert "does not support entity type cloudstate.eventsourced.EventSourced" in caplog.text


async def test_report_error_is_logged(
    cart_channel: grpc.aio.Channel, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="cloudstate.discovery"):
        result = await entity_pb2_grpc.EntityDiscoveryStub(cart_channel).reportError(
            entity_pb2.UserFunctionError(message="Unknown method Frobnicate"), timeout=10
        )
    assert result == empty_pb2.Empty()
    [record] = [r for r in caplog.records if r.name == "cloudstate.discovery"]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "Proxy reported an error: Unknown method Frobnicate"
