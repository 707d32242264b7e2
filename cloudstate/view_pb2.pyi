from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
VIEW_FIELD_NUMBER: _ClassVar[int]
view: _descriptor.FieldDescriptor

class View(_message.Message):
    __slots__ = ("update", "query")
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    update: ViewUpdate
    query: ViewQuery
    def __init__(self, update: _Optional[_Union[ViewUpdate, _Mapping]] = ..., query: _Optional[_Union[ViewQuery, _Mapping]] = ...) -> None: ...

class ViewUpdate(_message.Message):
    __slots__ = ("table", "transform_updates", "key")
    TABLE_FIELD_NUMBER: _ClassVar[int]
    TRANSFORM_UPDATES_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    table: str
    transform_updates: bool
    key: str
    def __init__(self, table: _Optional[str] = ..., transform_updates: _Optional[bool] = ..., key: _Optional[str] = ...) -> None: ...

class ViewQuery(_message.Message):
    __slots__ = ("query",)
    QUERY_FIELD_NUMBER: _ClassVar[int]
    query: str
    def __init__(self, query: _Optional[str] = ...) -> None: ...
