import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import httpbody_pb2 as _httpbody_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import wrappers_pb2 as _wrappers_pb2
from cloudstate import entity_key_pb2 as _entity_key_pb2
from cloudstate import auth_pb2 as _auth_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Color(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COLOR_UNSPECIFIED: _ClassVar[Color]
    RED: _ClassVar[Color]
    GREEN: _ClassVar[Color]
COLOR_UNSPECIFIED: Color
RED: Color
GREEN: Color

class Deep(_message.Message):
    __slots__ = ("leaf",)
    LEAF_FIELD_NUMBER: _ClassVar[int]
    leaf: str
    def __init__(self, leaf: _Optional[str] = ...) -> None: ...

class Inner(_message.Message):
    __slots__ = ("text", "number", "deep")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    DEEP_FIELD_NUMBER: _ClassVar[int]
    text: str
    number: int
    deep: Deep
    def __init__(self, text: _Optional[str] = ..., number: _Optional[int] = ..., deep: _Optional[_Union[Deep, _Mapping]] = ...) -> None: ...

class EchoRequest(_message.Message):
    __slots__ = ("id", "name", "count", "big", "flag", "ratio", "color", "tags", "numbers", "inner", "when", "maybe", "blob", "file_path", "labels", "items")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    BIG_FIELD_NUMBER: _ClassVar[int]
    FLAG_FIELD_NUMBER: _ClassVar[int]
    RATIO_FIELD_NUMBER: _ClassVar[int]
    COLOR_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    NUMBERS_FIELD_NUMBER: _ClassVar[int]
    INNER_FIELD_NUMBER: _ClassVar[int]
    WHEN_FIELD_NUMBER: _ClassVar[int]
    MAYBE_FIELD_NUMBER: _ClassVar[int]
    BLOB_FIELD_NUMBER: _ClassVar[int]
    FILE_PATH_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    count: int
    big: int
    flag: bool
    ratio: float
    color: Color
    tags: _containers.RepeatedScalarFieldContainer[str]
    numbers: _containers.RepeatedScalarFieldContainer[int]
    inner: Inner
    when: _timestamp_pb2.Timestamp
    maybe: _wrappers_pb2.StringValue
    blob: bytes
    file_path: str
    labels: _containers.ScalarMap[str, str]
    items: _containers.RepeatedCompositeFieldContainer[Inner]
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., count: _Optional[int] = ..., big: _Optional[int] = ..., flag: _Optional[bool] = ..., ratio: _Optional[float] = ..., color: _Optional[_Union[Color, str]] = ..., tags: _Optional[_Iterable[str]] = ..., numbers: _Optional[_Iterable[int]] = ..., inner: _Optional[_Union[Inner, _Mapping]] = ..., when: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., maybe: _Optional[_Union[_wrappers_pb2.StringValue, _Mapping]] = ..., blob: _Optional[bytes] = ..., file_path: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., items: _Optional[_Iterable[_Union[Inner, _Mapping]]] = ...) -> None: ...

class EchoReply(_message.Message):
    __slots__ = ("request", "metadata", "inner", "items", "method")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    INNER_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    request: EchoRequest
    metadata: _containers.ScalarMap[str, str]
    inner: Inner
    items: _containers.RepeatedCompositeFieldContainer[Inner]
    method: str
    def __init__(self, request: _Optional[_Union[EchoRequest, _Mapping]] = ..., metadata: _Optional[_Mapping[str, str]] = ..., inner: _Optional[_Union[Inner, _Mapping]] = ..., items: _Optional[_Iterable[_Union[Inner, _Mapping]]] = ..., method: _Optional[str] = ...) -> None: ...

class FailRequest(_message.Message):
    __slots__ = ("id", "code", "message")
    ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    id: str
    code: int
    message: str
    def __init__(self, id: _Optional[str] = ..., code: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class UploadRequest(_message.Message):
    __slots__ = ("id", "body")
    ID_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    id: str
    body: _httpbody_pb2.HttpBody
    def __init__(self, id: _Optional[str] = ..., body: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ...) -> None: ...

class DownloadRequest(_message.Message):
    __slots__ = ("id", "content_type", "text")
    ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    id: str
    content_type: str
    text: str
    def __init__(self, id: _Optional[str] = ..., content_type: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class Tick(_message.Message):
    __slots__ = ("n",)
    N_FIELD_NUMBER: _ClassVar[int]
    n: int
    def __init__(self, n: _Optional[int] = ...) -> None: ...

class TickRequest(_message.Message):
    __slots__ = ("count", "fail_at")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    FAIL_AT_FIELD_NUMBER: _ClassVar[int]
    count: int
    fail_at: str
    def __init__(self, count: _Optional[int] = ..., fail_at: _Optional[str] = ...) -> None: ...
