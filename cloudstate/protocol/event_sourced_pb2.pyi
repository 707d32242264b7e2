from google.protobuf import any_pb2 as _any_pb2
from cloudstate.protocol import entity_pb2 as _entity_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EventSourcedInit(_message.Message):
    __slots__ = ("service_name", "entity_id", "snapshot")
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    service_name: str
    entity_id: str
    snapshot: EventSourcedSnapshot
    def __init__(self, service_name: _Optional[str] = ..., entity_id: _Optional[str] = ..., snapshot: _Optional[_Union[EventSourcedSnapshot, _Mapping]] = ...) -> None: ...

class EventSourcedSnapshot(_message.Message):
    __slots__ = ("snapshot_sequence", "snapshot")
    SNAPSHOT_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    snapshot_sequence: int
    snapshot: _any_pb2.Any
    def __init__(self, snapshot_sequence: _Optional[int] = ..., snapshot: _Optional[_Union[_any_pb2.Any, _Mapping]] = ...) -> None: ...

class EventSourcedEvent(_message.Message):
    __slots__ = ("sequence", "payload")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    payload: _any_pb2.Any
    def __init__(self, sequence: _Optional[int] = ..., payload: _Optional[_Union[_any_pb2.Any, _Mapping]] = ...) -> None: ...

class EventSourcedReply(_message.Message):
    __slots__ = ("command_id", "client_action", "side_effects", "events", "snapshot", "delete_entity")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ACTION_FIELD_NUMBER: _ClassVar[int]
    SIDE_EFFECTS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    DELETE_ENTITY_FIELD_NUMBER: _ClassVar[int]
    command_id: int
    client_action: _entity_pb2.ClientAction
    side_effects: _containers.RepeatedCompositeFieldContainer[_entity_pb2.SideEffect]
    events: _containers.RepeatedCompositeFieldContainer[_any_pb2.Any]
    snapshot: _any_pb2.Any
    delete_entity: bool
    def __init__(self, command_id: _Optional[int] = ..., client_action: _Optional[_Union[_entity_pb2.ClientAction, _Mapping]] = ..., side_effects: _Optional[_Iterable[_Union[_entity_pb2.SideEffect, _Mapping]]] = ..., events: _Optional[_Iterable[_Union[_any_pb2.Any, _Mapping]]] = ..., snapshot: _Optional[_Union[_any_pb2.Any, _Mapping]] = ..., delete_entity: _Optional[bool] = ...) -> None: ...

class EventSourcedStreamIn(_message.Message):
    __slots__ = ("init", "event", "command")
    INIT_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    init: EventSourcedInit
    event: EventSourcedEvent
    command: _entity_pb2.Command
    def __init__(self, init: _Optional[_Union[EventSourcedInit, _Mapping]] = ..., event: _Optional[_Union[EventSourcedEvent, _Mapping]] = ..., command: _Optional[_Union[_entity_pb2.Command, _Mapping]] = ...) -> None: ...

class EventSourcedStreamOut(_message.Message):
    __slots__ = ("reply", "failure")
    REPLY_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    reply: EventSourcedReply
    failure: _entity_pb2.Failure
    def __init__(self, reply: _Optional[_Union[EventSourcedReply, _Mapping]] = ..., failure: _Optional[_Union[_entity_pb2.Failure, _Mapping]] = ...) -> None: ...
