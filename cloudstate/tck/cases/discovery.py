"""Language support: discovery (what the user function tells a proxy about itself)."""

from __future__ import annotations

from google.protobuf import descriptor_pb2
from google.protobuf.message import DecodeError

from cloudstate.protocol import entity_pb2, entity_pb2_grpc
from cloudstate.tck.context import TckContext
from cloudstate.tck.framework import LANGUAGE_SUPPORT, case
from cloudstate.tck.relay import WORKFLOWS_TYPE
from cloudstate.tck.session import ALL_ENTITY_TYPES, tck_proxy_info

GROUP = "discovery"


def descriptor_set(t: TckContext, spec: entity_pb2.EntitySpec) -> descriptor_pb2.FileDescriptorSet:
    try:
        return descriptor_pb2.FileDescriptorSet.FromString(spec.proto)
    except DecodeError as e:
        t.fail(f"EntitySpec.proto is not a serialized FileDescriptorSet: {e}")


@case(LANGUAGE_SUPPORT, GROUP, "protocol version and service info", original=None)
async def protocol_version(t: TckContext) -> None:
    """``discover`` reports protocol version 0.2 in ``service_info`` (a proxy following the
    original refuses any other version) and names its support library."""
    info = t.spec.service_info
    t.check(
        (info.protocol_major_version, info.protocol_minor_version) == (0, 2),
        "EntitySpec.service_info must report protocol version 0.2",
        "0.2",
        f"{info.protocol_major_version}.{info.protocol_minor_version}",
    )
    t.check(
        bool(info.support_library_name),
        "EntitySpec.service_info.support_library_name should name the language support",
        "a name",
        info.support_library_name,
    )


@case(LANGUAGE_SUPPORT, GROUP, "descriptors and entities", original=None)
async def descriptors_and_entities(t: TckContext) -> None:
    """``EntitySpec.proto`` is a ``FileDescriptorSet`` with every import included (as
    ``protoc --include_imports`` writes it); every entity names a service declared in it, a known
    entity type and a persistence id; there is at least one entity."""
    spec = t.spec
    files = descriptor_set(t, spec).file
    names = {f.name for f in files}
    for f in files:
        missing = [d for d in f.dependency if d not in names]
        t.check(
            not missing,
            f"EntitySpec.proto: {f.name} imports files that are not in the set",
            "all imports included",
            missing,
        )
    services = {f"{f.package}.{s.name}" if f.package else s.name for f in files for s in f.service}
    t.check(bool(spec.entities), "EntitySpec.entities is empty", "at least one entity", [])
    for entity in spec.entities:
        t.check(
            entity.service_name in services,
            f"entity {entity.service_name} is not a service declared in EntitySpec.proto",
            "a declared service",
            entity.service_name,
        )
        t.check(
            entity.entity_type in (*ALL_ENTITY_TYPES, WORKFLOWS_TYPE),
            f"entity {entity.service_name} has an unknown entity type",
            [*ALL_ENTITY_TYPES, WORKFLOWS_TYPE],
            entity.entity_type,
        )


@case(LANGUAGE_SUPPORT, GROUP, "discover is repeatable", original=None)
async def discover_is_idempotent(t: TckContext) -> None:
    """``discover`` may be called several times (the TCK and every proxy restart do): each call
    gives the same ``EntitySpec``."""
    stub = entity_pb2_grpc.EntityDiscoveryStub(t.user_function)
    again = await t.within(stub.discover(tck_proxy_info()), "second discover call")
    t.check(again == t.spec, "a second discover call gave another EntitySpec", t.spec, again)


@case(LANGUAGE_SUPPORT, GROUP, "reportError is accepted", original=None)
async def report_error(t: TckContext) -> None:
    """``reportError`` (how a proxy tells the user function it did something wrong) returns
    ``Empty``."""
    stub = entity_pb2_grpc.EntityDiscoveryStub(t.user_function)
    await t.within(
        stub.reportError(entity_pb2.UserFunctionError(message="TCK: a test error report")),
        "reportError",
    )


def entity_of(t: TckContext, service: str) -> entity_pb2.Entity:
    for entity in t.spec.entities:
        if entity.service_name == service:
            return entity
    t.fail(f"the user function does not report {service}")


def check_entity(
    t: TckContext,
    service: str,
    entity_type: str,
    persistence_id: str | None = None,
    passivation_ms: int | None = None,
) -> None:
    """``service`` is reported with ``entity_type``, ``persistence_id`` and a passivation timeout
    of ``passivation_ms`` (when given)."""
    entity = entity_of(t, service)
    expected = entity_pb2.Entity(
        entity_type=entity_type,
        service_name=service,
        persistence_id=persistence_id if persistence_id is not None else entity.persistence_id,
    )
    if passivation_ms is not None:
        expected.passivation_strategy.timeout.timeout = passivation_ms
    elif entity.HasField("passivation_strategy"):
        expected.passivation_strategy.CopyFrom(entity.passivation_strategy)
    t.check(entity == expected, f"discovered entity {service}", expected, entity)
