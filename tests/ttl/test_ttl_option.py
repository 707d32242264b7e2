"""``option (cloudstate.entity_ttl)`` as discovery reads it: seconds on the service model, and a
refusal naming the service for a bad duration or an entity type without a TTL."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool

from cloudstate import entity_key_pb2, entity_ttl_pb2
from cloudstate.protocol import entity_pb2
from cloudstate.proxy.errors import DiscoveryError
from cloudstate.proxy.model import ALL_ENTITY_TYPES, CRDT, EVENT_SOURCED, VALUE_ENTITY, build_model

sys.path.insert(0, str(Path(__file__).resolve().parent))  # protoc's "ttltest" imports

from ttltest import counters_pb2


def _spec(ttl: str | None, entity_type: str) -> entity_pb2.EntitySpec:
    files = descriptor_pb2.FileDescriptorSet()
    for module in (descriptor_pb2, entity_key_pb2, entity_ttl_pb2):
        module.DESCRIPTOR.CopyToProto(files.file.add())
    counters = files.file.add()
    counters_pb2.DESCRIPTOR.CopyToProto(counters)
    counters.service[0].options.ClearExtension(entity_ttl_pb2.entity_ttl)
    if ttl is not None:
        counters.service[0].options.Extensions[entity_ttl_pb2.entity_ttl] = ttl
    del counters.service[1]
    return entity_pb2.EntitySpec(
        proto=files.SerializeToString(),
        entities=[entity_pb2.Entity(entity_type=entity_type, service_name="ttltest.Counters")],
    )


def test_the_ttl_is_read_in_seconds() -> None:
    assert build_model(_spec("2s", VALUE_ENTITY), ALL_ENTITY_TYPES).services[
        "ttltest.Counters"
    ].entity_ttl == pytest.approx(2.0)
    assert build_model(_spec("500ms", CRDT), ALL_ENTITY_TYPES).services[
        "ttltest.Counters"
    ].entity_ttl == pytest.approx(0.5)
    model = build_model(_spec(None, VALUE_ENTITY), ALL_ENTITY_TYPES)
    assert model.services["ttltest.Counters"].entity_ttl is None


def test_a_bad_ttl_is_refused_naming_the_service() -> None:
    with pytest.raises(DiscoveryError, match=r"ttltest\.Counters.*'soon'.*not a duration"):
        build_model(_spec("soon", VALUE_ENTITY), ALL_ENTITY_TYPES)
    with pytest.raises(DiscoveryError, match=r"ttltest\.Counters.*value entities and CRDTs only"):
        build_model(_spec("2s", EVENT_SOURCED), ALL_ENTITY_TYPES)
    assert descriptor_pool.Default().FindExtensionByName("cloudstate.entity_ttl").number == 1085
