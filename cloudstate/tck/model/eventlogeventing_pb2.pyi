from cloudstate import entity_key_pb2 as _entity_key_pb2
from cloudstate import eventing_pb2 as _eventing_pb2
from google.protobuf import any_pb2 as _any_pb2
from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EmitEventRequest(_message.Message):
    __slots__ = ("id", "event_one", "event_two")
    ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ONE_FIELD_NUMBER: _ClassVar[int]
    EVENT_TWO_FIELD_NUMBER: _ClassVar[int]
    id: str
    event_one: EventOne
    event_two: EventTwo
    def __init__(self, id: _Optional[str] = ..., event_one: _Optional[_Union[EventOne, _Mapping]] = ..., event_two: _Optional[_Union[EventTwo, _Mapping]] = ...) -> None: ...

class EventOne(_message.Message):
    __slots__ = ("step",)
    STEP_FIELD_NUMBER: _ClassVar[int]
    step: ProcessStep
    def __init__(self, step: _Optional[_Union[ProcessStep, _Mapping]] = ...) -> None: ...

class EventTwo(_message.Message):
    __slots__ = ("step",)
    STEP_FIELD_NUMBER: _ClassVar[int]
    step: _containers.RepeatedCompositeFieldContainer[ProcessStep]
    def __init__(self, step: _Optional[_Iterable[_Union[ProcessStep, _Mapping]]] = ...) -> None: ...

class JsonEvent(_message.Message):
    __slots__ = ("id", "message")
    ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    id: str
    message: str
    def __init__(self, id: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ProcessStep(_message.Message):
    __slots__ = ("reply", "forward")
    REPLY_FIELD_NUMBER: _ClassVar[int]
    FORWARD_FIELD_NUMBER: _ClassVar[int]
    reply: Reply
    forward: Forward
    def __init__(self, reply: _Optional[_Union[Reply, _Mapping]] = ..., forward: _Optional[_Union[Forward, _Mapping]] = ...) -> None: ...

class Reply(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: str
    def __init__(self, message: _Optional[str] = ...) -> None: ...

class Forward(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: str
    def __init__(self, message: _Optional[str] = ...) -> None: ...

class Response(_message.Message):
    __slots__ = ("id", "message")
    ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    id: str
    message: str
    def __init__(self, id: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class EffectRequest(_message.Message):
    __slots__ = ("id", "message")
    ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    id: str
    message: str
    def __init__(self, id: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...
