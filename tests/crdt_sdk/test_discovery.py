"""Discovery of CRDT entities: what the conformance kit cannot check.

The kit's CRDT model cases (``language-support/crdt-model/*``, run against this SDK by
``tests/tck/test_conformance.py``) check that CRDT entities are reported with their type and
passivation; its model declares every persistence id, so the SDK's default persistence id (the
service's short name) is checked only here.
"""

from __future__ import annotations

import grpc

from cloudstate.protocol import entity_pb2, entity_pb2_grpc

CRDT = "cloudstate.crdt.Crdt"


async def discover(channel: grpc.aio.Channel) -> dict[str, entity_pb2.Entity]:
    stub = entity_pb2_grpc.EntityDiscoveryStub(channel)
    spec = await stub.discover(entity_pb2.ProxyInfo(protocol_major_version=0))
    return {entity.service_name: entity for entity in spec.entities}


async def test_crdt_entity_discovery(crdt_channel: grpc.aio.Channel) -> None:
    entities = await discover(crdt_channel)
    assert entities["crdtsdk.CrdtModel"] == entity_pb2.Entity(
        entity_type=CRDT, service_name="crdtsdk.CrdtModel", persistence_id="crdt-sdk-model"
    )
    assert entities["crdtsdk.CrdtTwo"].entity_type == CRDT
    assert entities["crdtsdk.CrdtTwo"].persistence_id == "CrdtTwo"  # the short name
