from google.protobuf import any_pb2 as _any_pb2
from cloudstate.protocol import entity_pb2 as _entity_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ValueEntityStreamIn(_message.Message):
    __slots__ = ("init", "command")
    INIT_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    init: ValueEntityInit
    command: _entity_pb2.Command
    def __init__(self, init: _Optional[_Union[ValueEntityInit, _Mapping]] = ..., command: _Optional[_Union[_entity_pb2.Command, _Mapping]] = ...) -> None: ...

class ValueEntityInit(_message.Message):
    __slots__ = ("service_name", "entity_id", "state")
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    service_name: str
    entity_id: str
    state: ValueEntityInitState
    def __init__(self, service_name: _Optional[str] = ..., entity_id: _Optional[str] = ..., state: _Optional[_Union[ValueEntityInitState, _Mapping]] = ...) -> None: ...

class ValueEntityInitState(_message.Message):
    __slots__ = ("value",)
    VALUE_FIELD_NUMBER: _ClassVar[int]
    value: _any_pb2.Any
    def __init__(self, value: _Optional[_Union[_any_pb2.Any, _Mapping]] = ...) -> None: ...

class ValueEntityStreamOut(_message.Message):
    __slots__ = ("reply", "failure")
    REPLY_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    reply: ValueEntityReply
    failure: _entity_pb2.Failure
    def __init__(self, reply: _Optional[_Union[ValueEntityReply, _Mapping]] = ..., failure: _Optional[_Union[_entity_pb2.Failure, _Mapping]] = ...) -> None: ...

class ValueEntityReply(_message.Message):
    __slots__ = ("command_id", "client_action", "side_effects", "state_action")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ACTION_FIELD_NUMBER: _ClassVar[int]
    SIDE_EFFECTS_FIELD_NUMBER: _ClassVar[int]
    STATE_ACTION_FIELD_NUMBER: _ClassVar[int]
    command_id: int
    client_action: _entity_pb2.ClientAction
    side_effects: _containers.RepeatedCompositeFieldContainer[_entity_pb2.SideEffect]
    state_action: ValueEntityAction
    def __init__(self, command_id: _Optional[int] = ..., client_action: _Optional[_Union[_entity_pb2.ClientAction, _Mapping]] = ..., side_effects: _Optional[_Iterable[_Union[_entity_pb2.SideEffect, _Mapping]]] = ..., state_action: _Optional[_Union[ValueEntityAction, _Mapping]] = ...) -> None: ...

class ValueEntityAction(_message.Message):
    __slots__ = ("update", "delete")
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    update: ValueEntityUpdate
    delete: ValueEntityDelete
    def __init__(self, update: _Optional[_Union[ValueEntityUpdate, _Mapping]] = ..., delete: _Optional[_Union[ValueEntityDelete, _Mapping]] = ...) -> None: ...

class ValueEntityUpdate(_message.Message):
    __slots__ = ("value",)
    VALUE_FIELD_NUMBER: _ClassVar[int]
    value: _any_pb2.Any
    def __init__(self, value: _Optional[_Union[_any_pb2.Any, _Mapping]] = ...) -> None: ...

class ValueEntityDelete(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
