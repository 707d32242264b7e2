from cloudstate import entity_key_pb2 as _entity_key_pb2
from cloudstate import legacy_entity_key_pb2 as _legacy_entity_key_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class IncreaseRequest(_message.Message):
    __slots__ = ("counter_id", "by")
    COUNTER_ID_FIELD_NUMBER: _ClassVar[int]
    BY_FIELD_NUMBER: _ClassVar[int]
    counter_id: str
    by: int
    def __init__(self, counter_id: _Optional[str] = ..., by: _Optional[int] = ...) -> None: ...

class GetRequest(_message.Message):
    __slots__ = ("counter_id",)
    COUNTER_ID_FIELD_NUMBER: _ClassVar[int]
    counter_id: str
    def __init__(self, counter_id: _Optional[str] = ...) -> None: ...

class Value(_message.Message):
    __slots__ = ("value", "events_seen", "from_snapshot")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    EVENTS_SEEN_FIELD_NUMBER: _ClassVar[int]
    FROM_SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    value: int
    events_seen: int
    from_snapshot: bool
    def __init__(self, value: _Optional[int] = ..., events_seen: _Optional[int] = ..., from_snapshot: _Optional[bool] = ...) -> None: ...

class MultiKeyRequest(_message.Message):
    __slots__ = ("tenant", "name")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    name: str
    def __init__(self, tenant: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class Increased(_message.Message):
    __slots__ = ("by",)
    BY_FIELD_NUMBER: _ClassVar[int]
    by: int
    def __init__(self, by: _Optional[int] = ...) -> None: ...

class CounterSnapshot(_message.Message):
    __slots__ = ("value",)
    VALUE_FIELD_NUMBER: _ClassVar[int]
    value: int
    def __init__(self, value: _Optional[int] = ...) -> None: ...
