from google.protobuf import any_pb2 as _any_pb2
from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import descriptor_pb2 as _descriptor_pb2
from cloudstate.protocol import durable_pb2 as _durable_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Metadata(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[MetadataEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[MetadataEntry, _Mapping]]] = ...) -> None: ...

class MetadataEntry(_message.Message):
    __slots__ = ("key", "string_value", "bytes_value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    STRING_VALUE_FIELD_NUMBER: _ClassVar[int]
    BYTES_VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    string_value: str
    bytes_value: bytes
    def __init__(self, key: _Optional[str] = ..., string_value: _Optional[str] = ..., bytes_value: _Optional[bytes] = ...) -> None: ...

class Reply(_message.Message):
    __slots__ = ("payload", "metadata")
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    payload: _any_pb2.Any
    metadata: Metadata
    def __init__(self, payload: _Optional[_Union[_any_pb2.Any, _Mapping]] = ..., metadata: _Optional[_Union[Metadata, _Mapping]] = ...) -> None: ...

class Forward(_message.Message):
    __slots__ = ("service_name", "command_name", "payload", "metadata")
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    COMMAND_NAME_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    service_name: str
    command_name: str
    payload: _any_pb2.Any
    metadata: Metadata
    def __init__(self, service_name: _Optional[str] = ..., command_name: _Optional[str] = ..., payload: _Optional[_Union[_any_pb2.Any, _Mapping]] = ..., metadata: _Optional[_Union[Metadata, _Mapping]] = ...) -> None: ...

class ClientAction(_message.Message):
    __slots__ = ("reply", "forward", "failure")
    REPLY_FIELD_NUMBER: _ClassVar[int]
    FORWARD_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    reply: Reply
    forward: Forward
    failure: Failure
    def __init__(self, reply: _Optional[_Union[Reply, _Mapping]] = ..., forward: _Optional[_Union[Forward, _Mapping]] = ..., failure: _Optional[_Union[Failure, _Mapping]] = ...) -> None: ...

class SideEffect(_message.Message):
    __slots__ = ("service_name", "command_name", "payload", "synchronous", "metadata", "durable")
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    COMMAND_NAME_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    SYNCHRONOUS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    DURABLE_FIELD_NUMBER: _ClassVar[int]
    service_name: str
    command_name: str
    payload: _any_pb2.Any
    synchronous: bool
    metadata: Metadata
    durable: _durable_pb2.DurableCall
    def __init__(self, service_name: _Optional[str] = ..., command_name: _Optional[str] = ..., payload: _Optional[_Union[_any_pb2.Any, _Mapping]] = ..., synchronous: _Optional[bool] = ..., metadata: _Optional[_Union[Metadata, _Mapping]] = ..., durable: _Optional[_Union[_durable_pb2.DurableCall, _Mapping]] = ...) -> None: ...

class Command(_message.Message):
    __slots__ = ("entity_id", "id", "name", "payload", "streamed", "metadata")
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    STREAMED_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    entity_id: str
    id: int
    name: str
    payload: _any_pb2.Any
    streamed: bool
    metadata: Metadata
    def __init__(self, entity_id: _Optional[str] = ..., id: _Optional[int] = ..., name: _Optional[str] = ..., payload: _Optional[_Union[_any_pb2.Any, _Mapping]] = ..., streamed: _Optional[bool] = ..., metadata: _Optional[_Union[Metadata, _Mapping]] = ...) -> None: ...

class StreamCancelled(_message.Message):
    __slots__ = ("entity_id", "id")
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    entity_id: str
    id: int
    def __init__(self, entity_id: _Optional[str] = ..., id: _Optional[int] = ...) -> None: ...

class Failure(_message.Message):
    __slots__ = ("command_id", "description", "restart", "grpc_status_code")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    RESTART_FIELD_NUMBER: _ClassVar[int]
    GRPC_STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    command_id: int
    description: str
    restart: bool
    grpc_status_code: int
    def __init__(self, command_id: _Optional[int] = ..., description: _Optional[str] = ..., restart: _Optional[bool] = ..., grpc_status_code: _Optional[int] = ...) -> None: ...

class EntityPassivationStrategy(_message.Message):
    __slots__ = ("timeout",)
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    timeout: TimeoutPassivationStrategy
    def __init__(self, timeout: _Optional[_Union[TimeoutPassivationStrategy, _Mapping]] = ...) -> None: ...

class TimeoutPassivationStrategy(_message.Message):
    __slots__ = ("timeout",)
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    timeout: int
    def __init__(self, timeout: _Optional[int] = ...) -> None: ...

class EntitySpec(_message.Message):
    __slots__ = ("proto", "entities", "service_info")
    PROTO_FIELD_NUMBER: _ClassVar[int]
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    SERVICE_INFO_FIELD_NUMBER: _ClassVar[int]
    proto: bytes
    entities: _containers.RepeatedCompositeFieldContainer[Entity]
    service_info: ServiceInfo
    def __init__(self, proto: _Optional[bytes] = ..., entities: _Optional[_Iterable[_Union[Entity, _Mapping]]] = ..., service_info: _Optional[_Union[ServiceInfo, _Mapping]] = ...) -> None: ...

class ServiceInfo(_message.Message):
    __slots__ = ("service_name", "service_version", "service_runtime", "support_library_name", "support_library_version", "protocol_major_version", "protocol_minor_version")
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    SERVICE_VERSION_FIELD_NUMBER: _ClassVar[int]
    SERVICE_RUNTIME_FIELD_NUMBER: _ClassVar[int]
    SUPPORT_LIBRARY_NAME_FIELD_NUMBER: _ClassVar[int]
    SUPPORT_LIBRARY_VERSION_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_MAJOR_VERSION_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_MINOR_VERSION_FIELD_NUMBER: _ClassVar[int]
    service_name: str
    service_version: str
    service_runtime: str
    support_library_name: str
    support_library_version: str
    protocol_major_version: int
    protocol_minor_version: int
    def __init__(self, service_name: _Optional[str] = ..., service_version: _Optional[str] = ..., service_runtime: _Optional[str] = ..., support_library_name: _Optional[str] = ..., support_library_version: _Optional[str] = ..., protocol_major_version: _Optional[int] = ..., protocol_minor_version: _Optional[int] = ...) -> None: ...

class Entity(_message.Message):
    __slots__ = ("entity_type", "service_name", "persistence_id", "passivation_strategy")
    ENTITY_TYPE_FIELD_NUMBER: _ClassVar[int]
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    PERSISTENCE_ID_FIELD_NUMBER: _ClassVar[int]
    PASSIVATION_STRATEGY_FIELD_NUMBER: _ClassVar[int]
    entity_type: str
    service_name: str
    persistence_id: str
    passivation_strategy: EntityPassivationStrategy
    def __init__(self, entity_type: _Optional[str] = ..., service_name: _Optional[str] = ..., persistence_id: _Optional[str] = ..., passivation_strategy: _Optional[_Union[EntityPassivationStrategy, _Mapping]] = ...) -> None: ...

class UserFunctionError(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: str
    def __init__(self, message: _Optional[str] = ...) -> None: ...

class ProxyInfo(_message.Message):
    __slots__ = ("protocol_major_version", "protocol_minor_version", "proxy_name", "proxy_version", "supported_entity_types", "extensions")
    PROTOCOL_MAJOR_VERSION_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_MINOR_VERSION_FIELD_NUMBER: _ClassVar[int]
    PROXY_NAME_FIELD_NUMBER: _ClassVar[int]
    PROXY_VERSION_FIELD_NUMBER: _ClassVar[int]
    SUPPORTED_ENTITY_TYPES_FIELD_NUMBER: _ClassVar[int]
    EXTENSIONS_FIELD_NUMBER: _ClassVar[int]
    protocol_major_version: int
    protocol_minor_version: int
    proxy_name: str
    proxy_version: str
    supported_entity_types: _containers.RepeatedScalarFieldContainer[str]
    extensions: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, protocol_major_version: _Optional[int] = ..., protocol_minor_version: _Optional[int] = ..., proxy_name: _Optional[str] = ..., proxy_version: _Optional[str] = ..., supported_entity_types: _Optional[_Iterable[str]] = ..., extensions: _Optional[_Iterable[str]] = ...) -> None: ...
