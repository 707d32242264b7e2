from cloudstate import entity_key_pb2 as _entity_key_pb2
from cloudstate.protocol import crdt_pb2 as _crdt_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Request(_message.Message):
    __slots__ = ("id", "update", "delete", "write_consistency", "fail", "sleep_ms")
    ID_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    WRITE_CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    FAIL_FIELD_NUMBER: _ClassVar[int]
    SLEEP_MS_FIELD_NUMBER: _ClassVar[int]
    id: str
    update: _crdt_pb2.CrdtDelta
    delete: bool
    write_consistency: _crdt_pb2.CrdtWriteConsistency
    fail: str
    sleep_ms: int
    def __init__(self, id: _Optional[str] = ..., update: _Optional[_Union[_crdt_pb2.CrdtDelta, _Mapping]] = ..., delete: _Optional[bool] = ..., write_consistency: _Optional[_Union[_crdt_pb2.CrdtWriteConsistency, str]] = ..., fail: _Optional[str] = ..., sleep_ms: _Optional[int] = ...) -> None: ...

class View(_message.Message):
    __slots__ = ("value", "init", "deltas_received")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    INIT_FIELD_NUMBER: _ClassVar[int]
    DELTAS_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    value: str
    init: str
    deltas_received: int
    def __init__(self, value: _Optional[str] = ..., init: _Optional[str] = ..., deltas_received: _Optional[int] = ...) -> None: ...
