"""The proxy's view of the user function: entity types, their methods and entity keys.

Built once from the discovered ``EntitySpec``: descriptors are loaded into a private descriptor
pool (the proxy has no generated code for user messages) and every method of every entity service
gets a :class:`MethodModel` with what routing needs: its full gRPC path, input message class,
streaming flags and entity-key fields, and the service options the proxy reads from the
descriptors (``(cloudstate.entity_ttl)``, ``(cloudstate.auth)``).

One concern: the discovered user function as the proxy sees it (services, methods, keys, options).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, ServiceDescriptor
from google.protobuf.message import DecodeError, Message

from cloudstate import auth_pb2, entity_ttl_pb2
from cloudstate.protocol import entity_pb2
from cloudstate.proxy.durations import parse_duration
from cloudstate.proxy.errors import BadRequest, DiscoveryError, ProtocolError

EVENT_SOURCED = "cloudstate.eventsourced.EventSourced"
VALUE_ENTITY = "cloudstate.valueentity.ValueEntity"
CRDT = "cloudstate.crdt.Crdt"
ACTION = "cloudstate.action.ActionProtocol"
#: Workflows: the protocol extension ``cloudstate.workflows/1`` (docs/protocol-workflows.md).
WORKFLOW = "cloudstate.workflow.Workflows"
ALL_ENTITY_TYPES = (ACTION, VALUE_ENTITY, EVENT_SOURCED, CRDT, WORKFLOW)
KEYED_ENTITY_TYPES = (EVENT_SOURCED, VALUE_ENTITY, CRDT, WORKFLOW)

ENTITY_KEY_FIELD_NUMBERS = (1080, 50002)  # cloudstate.entity_key, cloudstate.legacy_entity_key
TYPE_URL_PREFIX = "type.googleapis.com/"

# Separator between several entity-key values, and the escape that keeps the join unambiguous.
KEY_SEPARATOR = "-"
KEY_ESCAPE = "\\"


def join_entity_key(values: Iterable[str]) -> str:
    """Join several key values: one value stays as is; with several, ``\\`` and ``-`` inside a
    value are escaped with ``\\`` so that ("a-b", "c") and ("a", "b-c") never collide."""
    parts = list(values)
    if len(parts) == 1:
        return parts[0]
    return KEY_SEPARATOR.join(
        p.replace(KEY_ESCAPE, KEY_ESCAPE * 2).replace(KEY_SEPARATOR, KEY_ESCAPE + KEY_SEPARATOR)
        for p in parts
    )


def _key_value_to_string(fd: FieldDescriptor, value: object) -> str:
    if fd.type == FieldDescriptor.TYPE_BOOL:
        return "true" if value else "false"
    if fd.type == FieldDescriptor.TYPE_BYTES:
        assert isinstance(value, bytes)
        return base64.urlsafe_b64encode(value).decode("ascii")
    return str(value)


def _has_entity_key_option(options: descriptor_pb2.FieldOptions) -> bool:
    """True if the serialized options set extension 1080 or 50002 to true.

    Read from the wire form, so it works whether or not the extension is registered in the pool
    the options were parsed with.
    """
    data = options.SerializeToString()
    pos = 0
    while pos < len(data):
        tag, pos = _read_varint(data, pos)
        number, wire_type = tag >> 3, tag & 7
        if wire_type == 0:
            value, pos = _read_varint(data, pos)
            if number in ENTITY_KEY_FIELD_NUMBERS and value:
                return True
        elif wire_type == 1:
            pos += 8
        elif wire_type == 2:
            length, pos = _read_varint(data, pos)
            pos += length
        elif wire_type == 5:
            pos += 4
        else:  # groups: not used in options we care about
            return False
    return False


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


@dataclass(slots=True)
class MethodModel:
    """One method of one user service, with what the router needs to call it."""

    service: ServiceModel
    name: str
    input_type: Descriptor
    output_type: Descriptor
    input_class: type[Message]
    client_streaming: bool
    server_streaming: bool
    key_fields: list[FieldDescriptor]
    #: ``(cloudstate.auth) = { internal: true }``: callable by forwards, side effects, timers and
    #: eventing only, never by a client.
    internal: bool = False

    @property
    def path(self) -> str:
        """The gRPC path, ``/package.Service/Method``."""
        return f"/{self.service.name}/{self.name}"

    @property
    def input_type_url(self) -> str:
        return TYPE_URL_PREFIX + self.input_type.full_name

    @property
    def output_type_url(self) -> str:
        return TYPE_URL_PREFIX + self.output_type.full_name

    def parse(self, data: bytes) -> Message:
        """Parse request bytes, or raise BadRequest naming the message type."""
        message = self.input_class()
        try:
            message.ParseFromString(data)
        except DecodeError as e:
            raise BadRequest(
                f"request for {self.service.name}.{self.name} is not a valid "
                f"{self.input_type.full_name}: {e}"
            ) from e
        return message

    def entity_id(self, data: bytes) -> str:
        """The entity id addressed by request bytes; BadRequest if a key field is empty."""
        message = self.parse(data)
        values = []
        for fd in self.key_fields:
            value = getattr(message, fd.name)
            text = _key_value_to_string(fd, value)
            if text == "" or (fd.type == FieldDescriptor.TYPE_STRING and not value):
                raise BadRequest(
                    f"entity key field '{fd.name}' of {self.input_type.full_name} is empty: "
                    f"{self.service.name}.{self.name} needs it to address an entity"
                )
            if "\x00" in text:
                # PostgreSQL cannot store NUL in text: refused on every backend alike, as the
                # client's error it is (not UNAVAILABLE from the store, which invites retries).
                raise BadRequest(
                    f"entity key field '{fd.name}' of {self.input_type.full_name} contains a NUL "
                    "character (\\0), which entity keys cannot hold"
                )
            values.append(text)
        return join_entity_key(values)


@dataclass(slots=True)
class ServiceModel:
    """One entity (or action) service reported by the user function."""

    name: str
    entity_type: str
    persistence_id: str
    descriptor: ServiceDescriptor
    passivation_timeout: float | None  # seconds, None = proxy default
    methods: dict[str, MethodModel] = field(default_factory=dict)
    #: The protocol version the proxy speaks with this service's streams (set at discovery:
    #: "0.0" for the CRDT entities of a user function reporting 0.0, else "0.2").
    protocol: str = "0.2"
    #: ``option (cloudstate.entity_ttl)``: seconds a value entity's or CRDT's state lives after
    #: its last write; None: forever.
    entity_ttl: float | None = None


@dataclass(slots=True)
class UserFunctionModel:
    """Everything discovered: the descriptor pool, services and a path index."""

    pool: descriptor_pool.DescriptorPool
    file_set: descriptor_pb2.FileDescriptorSet
    services: dict[str, ServiceModel]
    service_info: entity_pb2.ServiceInfo
    methods_by_path: dict[str, MethodModel] = field(default_factory=dict)

    def method(self, service_name: str, method_name: str) -> MethodModel | None:
        service = self.services.get(service_name)
        return service.methods.get(method_name) if service else None

    def target(self, what: str, service_name: str, command_name: str, type_url: str) -> MethodModel:
        """The method a forward, side effect or durable call names; ProtocolError (a fault of
        the user function, ``what`` says which call) if it does not exist, streams or takes
        another message type than ``type_url`` (empty: not checked)."""
        target = self.method(service_name, command_name)
        if target is None:
            known = ", ".join(sorted(self.services)) or "none"
            raise ProtocolError(
                f"{what} targets unknown method {service_name}/{command_name} "
                f"(services of this user function: {known})"
            )
        if target.client_streaming or target.server_streaming:
            raise ProtocolError(
                f"{what} targets {target.service.name}.{target.name}, a streamed method; "
                "forwards and side effects can only call unary methods"
            )
        if type_url and type_url.rsplit("/", 1)[-1] != target.input_type.full_name:
            raise ProtocolError(
                f"{what}: payload is {type_url} but {target.service.name}.{target.name} "
                f"takes {target.input_type.full_name}"
            )
        return target


def load_pool(file_set: descriptor_pb2.FileDescriptorSet) -> descriptor_pool.DescriptorPool:
    """Add every file of the set to a fresh pool, dependencies first; DiscoveryError if one is
    missing or a file is invalid."""
    pool = descriptor_pool.DescriptorPool()
    files = {f.name: f for f in file_set.file}
    added: set[str] = set()

    def add(name: str, chain: tuple[str, ...]) -> None:
        if name in added:
            return
        proto = files.get(name)
        if proto is None:
            importer = chain[-1] if chain else "the descriptor set"
            raise DiscoveryError(
                f"{importer} imports {name}, which is missing from the descriptor set the user "
                f"function reported (compile it with protoc --include_imports)"
            )
        if name in chain:
            raise DiscoveryError(f"import cycle through {name}")
        for dependency in proto.dependency:
            add(dependency, (*chain, name))
        try:
            pool.Add(proto)
        except Exception as e:  # the pool raises TypeError/ValueError variants by backend
            raise DiscoveryError(f"invalid descriptor {name}: {e}") from e
        added.add(name)

    for name in files:
        add(name, ())
    return pool


def _key_fields(
    pool: descriptor_pool.DescriptorPool,
    file_set: descriptor_pb2.FileDescriptorSet,
    message: Descriptor,
) -> list[FieldDescriptor]:
    proto = _find_message_proto(file_set, message.full_name)
    if proto is None:
        return []
    keyed = {f.name for f in proto.field if _has_entity_key_option(f.options)}
    # Declaration order (field index), not field number.
    return [fd for fd in message.fields if fd.name in keyed]


def _find_message_proto(
    file_set: descriptor_pb2.FileDescriptorSet, full_name: str
) -> descriptor_pb2.DescriptorProto | None:
    for f in file_set.file:
        prefix = f"{f.package}." if f.package else ""

        def walk(
            messages: Iterable[descriptor_pb2.DescriptorProto], scope: str
        ) -> descriptor_pb2.DescriptorProto | None:
            for m in messages:
                name = scope + m.name
                if name == full_name:
                    return m
                found = walk(m.nested_type, name + ".")
                if found is not None:
                    return found
            return None

        if full_name.startswith(prefix):
            found = walk(f.message_type, prefix)
            if found is not None:
                return found
    return None


def build_model(spec: entity_pb2.EntitySpec, supported_types: Iterable[str]) -> UserFunctionModel:
    """Validate an EntitySpec and build the model; DiscoveryError with a readable message."""
    supported = set(supported_types)
    file_set = descriptor_pb2.FileDescriptorSet()
    try:
        file_set.ParseFromString(spec.proto)
    except DecodeError as e:
        raise DiscoveryError(f"EntitySpec.proto is not a serialized FileDescriptorSet: {e}") from e
    pool = load_pool(file_set)
    if not spec.entities:
        raise DiscoveryError("no entities were reported by the discover call")
    model = UserFunctionModel(
        pool=pool, file_set=file_set, services={}, service_info=spec.service_info
    )
    problems: list[str] = []
    for entity in spec.entities:
        try:
            service = _build_service(pool, file_set, entity, supported)
        except DiscoveryError as e:
            problems.append(str(e))
            continue
        if service.name in model.services:
            problems.append(f"service {service.name} is reported twice")
            continue
        model.services[service.name] = service
        for method in service.methods.values():
            model.methods_by_path[method.path] = method
    if problems:
        raise DiscoveryError("; ".join(problems))
    for (service_name, method_name), auth in auth_options(model).items():
        model.services[service_name].methods[method_name].internal = auth.internal
    return model


def served_model(
    pool: descriptor_pool.DescriptorPool,
    file_set: descriptor_pb2.FileDescriptorSet,
    entities: Iterable[entity_pb2.Entity],
) -> UserFunctionModel:
    """A model of services the proxy serves itself (the admin API), from descriptors it was
    built with: ``pool`` holds them already (the default pool of the generated modules), so
    requests parse into the generated classes. DiscoveryError if one cannot be served."""
    model = UserFunctionModel(
        pool=pool, file_set=file_set, services={}, service_info=entity_pb2.ServiceInfo()
    )
    for entity in entities:
        service = _build_service(pool, file_set, entity, {entity.entity_type})
        model.services[service.name] = service
        for method in service.methods.values():
            model.methods_by_path[method.path] = method
    return model


def method_option(model: UserFunctionModel, method: MethodModel, extension: Any) -> Any | None:
    """The value of a method option ``extension`` (a generated extension such as
    ``cloudstate.eventing_pb2.eventing`` or ``cloudstate.schedule_pb2.schedule``) that ``method``
    sets, or None if it sets none.

    The options are re-parsed by the default pool, where the generated modules registered their
    extensions (the model's own pool knows the user's messages, not our options)."""
    proto = _method_proto(model, method)
    if proto is None or not proto.HasField("options"):
        return None
    options = descriptor_pb2.MethodOptions.FromString(proto.options.SerializeToString())
    if not options.HasExtension(extension):
        return None
    return options.Extensions[extension]


def _method_proto(
    model: UserFunctionModel, method: MethodModel
) -> descriptor_pb2.MethodDescriptorProto | None:
    service = method.service.descriptor
    for file in model.file_set.file:
        if file.name != service.file.name:
            continue
        for service_proto in file.service:
            if service_proto.name == service.name:
                for method_proto in service_proto.method:
                    if method_proto.name == method.name:
                        return method_proto
    return None


def auth_options(model: UserFunctionModel) -> dict[tuple[str, str], Any]:
    """The ``(cloudstate.auth)`` option of every discovered method that has one, its own or else
    its service's (``service_auth``), by (service, method): ``cloudstate.auth_pb2.Auth``."""
    method_ext: Any = auth_pb2.auth
    service_ext: Any = auth_pb2.service_auth
    found: dict[tuple[str, str], Any] = {}
    for file in model.file_set.file:
        for service_proto in file.service:
            name = f"{file.package}.{service_proto.name}" if file.package else service_proto.name
            service = model.services.get(name)
            if service is None:
                continue
            # Re-parsed by the default pool, where the generated auth_pb2 registered 1083.
            service_options = descriptor_pb2.ServiceOptions.FromString(
                service_proto.options.SerializeToString()
            )
            default = None
            if service_options.HasExtension(service_ext):
                default = service_options.Extensions[service_ext]
            for method_proto in service_proto.method:
                options = descriptor_pb2.MethodOptions.FromString(
                    method_proto.options.SerializeToString()
                )
                auth = default
                if options.HasExtension(method_ext):
                    auth = options.Extensions[method_ext]
                if auth is not None and method_proto.name in service.methods:
                    found[(name, method_proto.name)] = auth
    return found


def _build_service(
    pool: descriptor_pool.DescriptorPool,
    file_set: descriptor_pb2.FileDescriptorSet,
    entity: entity_pb2.Entity,
    supported: set[str],
) -> ServiceModel:
    if entity.entity_type not in supported:
        raise DiscoveryError(
            f"service {entity.service_name}: entity type {entity.entity_type!r} is not supported "
            f"by this proxy (supported: {', '.join(sorted(supported))})"
        )
    try:
        descriptor = pool.FindServiceByName(entity.service_name)
    except KeyError:
        raise DiscoveryError(
            f"service {entity.service_name} is not in the reported descriptors"
        ) from None
    timeout: float | None = None
    if entity.passivation_strategy.HasField("timeout"):
        timeout = entity.passivation_strategy.timeout.timeout / 1000.0
    service = ServiceModel(
        name=descriptor.full_name,
        entity_type=entity.entity_type,
        persistence_id=entity.persistence_id or descriptor.name,
        descriptor=descriptor,
        passivation_timeout=timeout,
        entity_ttl=_entity_ttl(file_set, descriptor, entity.entity_type),
    )
    problems = []
    for md in descriptor.methods:
        where = f"{descriptor.full_name}.{md.name}"
        client_streaming = bool(getattr(md, "client_streaming", False))
        server_streaming = bool(getattr(md, "server_streaming", False))
        keys = _key_fields(pool, file_set, md.input_type)
        if entity.entity_type in (EVENT_SOURCED, VALUE_ENTITY, WORKFLOW) and (
            client_streaming or server_streaming
        ):
            problems.append(f"{where}: streaming methods are not allowed on {entity.entity_type}")
        if entity.entity_type == CRDT and client_streaming:
            problems.append(f"{where}: client-streaming methods are not allowed on CRDT entities")
        if entity.entity_type in KEYED_ENTITY_TYPES and not keys:
            problems.append(
                f"{where}: input {md.input_type.full_name} has no field marked "
                f"[(cloudstate.entity_key) = true]"
            )
        service.methods[md.name] = MethodModel(
            service=service,
            name=md.name,
            input_type=md.input_type,
            output_type=md.output_type,
            input_class=_message_class(md.input_type),
            client_streaming=client_streaming,
            server_streaming=server_streaming,
            key_fields=keys,
        )
    if problems:
        raise DiscoveryError("; ".join(problems))
    return service


def _entity_ttl(
    file_set: descriptor_pb2.FileDescriptorSet, descriptor: ServiceDescriptor, entity_type: str
) -> float | None:
    """The service's ``option (cloudstate.entity_ttl)`` in seconds, None if it sets none.
    DiscoveryError if it is not a duration or the service is not a value entity or CRDT."""
    extension: Any = entity_ttl_pb2.entity_ttl
    for file in file_set.file:
        if file.name != descriptor.file.name:
            continue
        for service_proto in file.service:
            if service_proto.name != descriptor.name:
                continue
            # Re-parsed by the default pool, where the generated entity_ttl_pb2 registered 1085.
            options = descriptor_pb2.ServiceOptions.FromString(
                service_proto.options.SerializeToString()
            )
            if not options.HasExtension(extension):
                return None
            text = options.Extensions[extension]
            where = f"service {descriptor.full_name}: option (cloudstate.entity_ttl) = {text!r}"
            if entity_type not in (VALUE_ENTITY, CRDT):
                raise DiscoveryError(
                    f"{where}: a time-to-live applies to value entities and CRDTs only, not to "
                    f"{entity_type}; remove the option"
                )
            try:
                return parse_duration(text)
            except ValueError as error:
                raise DiscoveryError(f"{where}: {error}") from None
    return None


_message_class: Callable[[Descriptor], Any] = message_factory.GetMessageClass
