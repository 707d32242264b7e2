"""Proxy: discovery, server reflection and error mapping for requests it cannot route."""

from __future__ import annotations

from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from cloudstate.tck.context import TckContext
from cloudstate.tck.framework import PROXY, case
from cloudstate.tck.protocol import ProtocolStream
from cloudstate.tck.relay import WORKFLOWS_EXTENSION, WORKFLOWS_TYPE
from cloudstate.tck.session import ALL_ENTITY_TYPES, EXTENSION_ENTITY_TYPES

#: Entity types a proxy may list: the base protocol's, and those of the extensions it lists.
KNOWN_ENTITY_TYPES = (*ALL_ENTITY_TYPES, *EXTENSION_ENTITY_TYPES)

GROUP = "proxy discovery"
REFLECTION = "grpc.reflection.v1alpha.ServerReflection"


@case(
    PROXY,
    GROUP,
    "proxy info and entity discovery",
    original="verify proxy info and entity discovery",
)
async def proxy_info(t: TckContext) -> None:
    """The proxy called ``discover`` once, at start-up, with protocol version 0.2 and a list of
    known entity types, and every entity it was given names a service of ``EntitySpec.proto``.
    (The original also required all four entity types; see "proxy supports every entity type".)"""
    info = t.session.proxy_info
    assert info is not None
    t.check(
        (info.protocol_major_version, info.protocol_minor_version) == (0, 2),
        "ProxyInfo must carry protocol version 0.2",
        "0.2",
        f"{info.protocol_major_version}.{info.protocol_minor_version}",
    )
    unknown = sorted(set(info.supported_entity_types) - set(KNOWN_ENTITY_TYPES))
    t.check(
        bool(info.supported_entity_types) and not unknown,
        "ProxyInfo.supported_entity_types must list known entity types",
        list(KNOWN_ENTITY_TYPES),
        list(info.supported_entity_types),
    )
    lists_type = WORKFLOWS_TYPE in info.supported_entity_types
    lists_extension = WORKFLOWS_EXTENSION in info.extensions
    t.check(
        lists_type == lists_extension,
        f"a proxy supporting workflows lists both {WORKFLOWS_EXTENSION} in ProxyInfo.extensions "
        f"and {WORKFLOWS_TYPE} in supported_entity_types (docs/protocol-workflows.md)",
        "both or neither",
        info,
    )
    spec = t.session.proxy_spec
    assert spec is not None
    files = descriptor_pb2.FileDescriptorSet.FromString(spec.proto).file
    services = {f"{f.package}.{s.name}" for f in files for s in f.service}
    for entity in spec.entities:
        t.check(
            entity.service_name in services,
            "discovered entity not in EntitySpec.proto",
            "a declared service",
            entity.service_name,
        )


@case(
    PROXY,
    GROUP,
    "proxy supports every entity type",
    original="verify proxy info and entity discovery",
)
async def every_entity_type(t: TckContext) -> None:
    """``ProxyInfo.supported_entity_types`` lists exactly the four entity types of protocol 0.2
    (the second half of the original's discovery case, separate so that a proxy missing one
    type fails here once instead of in every case of that type, which are skipped)."""
    info = t.session.proxy_info
    assert info is not None
    listed = [e for e in info.supported_entity_types if e in ALL_ENTITY_TYPES]
    t.check(
        sorted(listed) == sorted(ALL_ENTITY_TYPES),
        "the proxy does not support every entity type",
        sorted(ALL_ENTITY_TYPES),
        sorted(listed),
    )


@case(
    PROXY, GROUP, "server reflection", original="verify that the proxy supports server reflection"
)
async def server_reflection(t: TckContext) -> None:
    """gRPC server reflection (v1alpha) lists the reflection service and every served entity
    service, whatever ``list_services`` argument is given, echoes each request in
    ``original_request``, answers an unknown symbol with an empty ``file_descriptor_response`` or
    a NOT_FOUND ``error_response``, serves the file of a known service, and completes when the
    client does. Differences allowed from the original (akka-grpc): the list may be in any
    order, ``valid_host`` need not be echoed, and an unknown symbol may be NOT_FOUND (what the
    gRPC reference implementations answer)."""
    spec = t.session.proxy_spec
    assert spec is not None
    expected_services = sorted([REFLECTION, *(e.service_name for e in spec.entities)])
    call = reflection_pb2_grpc.ServerReflectionStub(t.proxy).ServerReflectionInfo()
    stream = t.track(ProtocolStream(call, "server reflection stream", t.timeout))
    for argument in ("", "nonsense.blabla."):
        request = reflection_pb2.ServerReflectionRequest(list_services=argument)
        await stream.send(request, f"list_services {argument!r}")
        response: reflection_pb2.ServerReflectionResponse = await _response(t, stream)
        t.check(
            response.original_request == request,
            "original_request must echo the request",
            request,
            response.original_request,
        )
        listed = sorted(s.name for s in response.list_services_response.service)
        t.check(listed == expected_services, "listed services", expected_services, listed)
    request = reflection_pb2.ServerReflectionRequest(file_containing_symbol="nonsense.blabla.Void")
    await stream.send(request, "file_containing_symbol for an unknown symbol")
    response = await _response(t, stream)
    kind = response.WhichOneof("message_response")
    empty = (
        kind == "file_descriptor_response"
        and not response.file_descriptor_response.file_descriptor_proto
    )
    not_found = kind == "error_response" and response.error_response.error_code == 5
    t.check(
        empty or not_found,
        "an unknown symbol must give an empty file_descriptor_response or NOT_FOUND",
        "file_descriptor_response {} or error_response { error_code: 5 }",
        response,
    )
    if spec.entities:
        service = spec.entities[0].service_name
        request = reflection_pb2.ServerReflectionRequest(file_containing_symbol=service)
        await stream.send(request, f"file_containing_symbol {service}")
        response = await _response(t, stream)
        files = [
            descriptor_pb2.FileDescriptorProto.FromString(raw)
            for raw in response.file_descriptor_response.file_descriptor_proto
        ]
        declared = {f"{f.package}.{s.name}" for f in files for s in f.service}
        t.check(
            service in declared,
            f"reflection must serve the file declaring {service}",
            service,
            sorted(declared),
        )
    await stream.close()


async def _response(
    t: TckContext, stream: ProtocolStream
) -> reflection_pb2.ServerReflectionResponse:
    response = await stream.receive()
    if not isinstance(response, reflection_pb2.ServerReflectionResponse):
        t.fail("server reflection: expected a response", "a response", "<end of stream>")
    return response
