from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Request(_message.Message):
    __slots__ = ("groups",)
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[ProcessGroup]
    def __init__(self, groups: _Optional[_Iterable[_Union[ProcessGroup, _Mapping]]] = ...) -> None: ...

class ProcessGroup(_message.Message):
    __slots__ = ("steps",)
    STEPS_FIELD_NUMBER: _ClassVar[int]
    steps: _containers.RepeatedCompositeFieldContainer[ProcessStep]
    def __init__(self, steps: _Optional[_Iterable[_Union[ProcessStep, _Mapping]]] = ...) -> None: ...

class ProcessStep(_message.Message):
    __slots__ = ("reply", "forward", "fail", "effect")
    REPLY_FIELD_NUMBER: _ClassVar[int]
    FORWARD_FIELD_NUMBER: _ClassVar[int]
    FAIL_FIELD_NUMBER: _ClassVar[int]
    EFFECT_FIELD_NUMBER: _ClassVar[int]
    reply: Reply
    forward: Forward
    fail: Fail
    effect: SideEffect
    def __init__(self, reply: _Optional[_Union[Reply, _Mapping]] = ..., forward: _Optional[_Union[Forward, _Mapping]] = ..., fail: _Optional[_Union[Fail, _Mapping]] = ..., effect: _Optional[_Union[SideEffect, _Mapping]] = ...) -> None: ...

class Reply(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: str
    def __init__(self, message: _Optional[str] = ...) -> None: ...

class Forward(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class Fail(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: str
    def __init__(self, message: _Optional[str] = ...) -> None: ...

class SideEffect(_message.Message):
    __slots__ = ("id", "synchronous")
    ID_FIELD_NUMBER: _ClassVar[int]
    SYNCHRONOUS_FIELD_NUMBER: _ClassVar[int]
    id: str
    synchronous: bool
    def __init__(self, id: _Optional[str] = ..., synchronous: _Optional[bool] = ...) -> None: ...

class Response(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: str
    def __init__(self, message: _Optional[str] = ...) -> None: ...

class OtherRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...
