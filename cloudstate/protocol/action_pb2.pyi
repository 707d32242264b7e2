from google.protobuf import any_pb2 as _any_pb2
from cloudstate.protocol import entity_pb2 as _entity_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ActionCommand(_message.Message):
    __slots__ = ("service_name", "name", "payload", "metadata")
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    service_name: str
    name: str
    payload: _any_pb2.Any
    metadata: _entity_pb2.Metadata
    def __init__(self, service_name: _Optional[str] = ..., name: _Optional[str] = ..., payload: _Optional[_Union[_any_pb2.Any, _Mapping]] = ..., metadata: _Optional[_Union[_entity_pb2.Metadata, _Mapping]] = ...) -> None: ...

class ActionResponse(_message.Message):
    __slots__ = ("failure", "reply", "forward", "side_effects")
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    FORWARD_FIELD_NUMBER: _ClassVar[int]
    SIDE_EFFECTS_FIELD_NUMBER: _ClassVar[int]
    failure: _entity_pb2.Failure
    reply: _entity_pb2.Reply
    forward: _entity_pb2.Forward
    side_effects: _containers.RepeatedCompositeFieldContainer[_entity_pb2.SideEffect]
    def __init__(self, failure: _Optional[_Union[_entity_pb2.Failure, _Mapping]] = ..., reply: _Optional[_Union[_entity_pb2.Reply, _Mapping]] = ..., forward: _Optional[_Union[_entity_pb2.Forward, _Mapping]] = ..., side_effects: _Optional[_Iterable[_Union[_entity_pb2.SideEffect, _Mapping]]] = ...) -> None: ...
