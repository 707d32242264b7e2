from google.protobuf import empty_pb2 as _empty_pb2
from cloudstate import entity_key_pb2 as _entity_key_pb2
from cloudstate import schedule_pb2 as _schedule_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Call(_message.Message):
    __slots__ = ("kind", "timer_name", "delay_ms", "tag", "max_attempts", "service", "method", "type_url", "note", "credit_account")
    KIND_FIELD_NUMBER: _ClassVar[int]
    TIMER_NAME_FIELD_NUMBER: _ClassVar[int]
    DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    TYPE_URL_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    CREDIT_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    kind: str
    timer_name: str
    delay_ms: int
    tag: str
    max_attempts: int
    service: str
    method: str
    type_url: str
    note: str
    credit_account: str
    def __init__(self, kind: _Optional[str] = ..., timer_name: _Optional[str] = ..., delay_ms: _Optional[int] = ..., tag: _Optional[str] = ..., max_attempts: _Optional[int] = ..., service: _Optional[str] = ..., method: _Optional[str] = ..., type_url: _Optional[str] = ..., note: _Optional[str] = ..., credit_account: _Optional[str] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("tag",)
    TAG_FIELD_NUMBER: _ClassVar[int]
    tag: str
    def __init__(self, tag: _Optional[str] = ...) -> None: ...

class Plan(_message.Message):
    __slots__ = ("calls", "fail")
    CALLS_FIELD_NUMBER: _ClassVar[int]
    FAIL_FIELD_NUMBER: _ClassVar[int]
    calls: _containers.RepeatedCompositeFieldContainer[Call]
    fail: bool
    def __init__(self, calls: _Optional[_Iterable[_Union[Call, _Mapping]]] = ..., fail: _Optional[bool] = ...) -> None: ...

class AccountPlan(_message.Message):
    __slots__ = ("id", "calls", "fail", "write")
    ID_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    FAIL_FIELD_NUMBER: _ClassVar[int]
    WRITE_FIELD_NUMBER: _ClassVar[int]
    id: str
    calls: _containers.RepeatedCompositeFieldContainer[Call]
    fail: bool
    write: bool
    def __init__(self, id: _Optional[str] = ..., calls: _Optional[_Iterable[_Union[Call, _Mapping]]] = ..., fail: _Optional[bool] = ..., write: _Optional[bool] = ...) -> None: ...

class Credit(_message.Message):
    __slots__ = ("id", "tag")
    ID_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    id: str
    tag: str
    def __init__(self, id: _Optional[str] = ..., tag: _Optional[str] = ...) -> None: ...
