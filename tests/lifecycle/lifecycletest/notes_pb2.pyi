from cloudstate import entity_key_pb2 as _entity_key_pb2
from cloudstate import eventing_pb2 as _eventing_pb2
from cloudstate import lifecycle_pb2 as _lifecycle_pb2
from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class AddNote(_message.Message):
    __slots__ = ("notebook_id", "text")
    NOTEBOOK_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    notebook_id: str
    text: str
    def __init__(self, notebook_id: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class NotebookId(_message.Message):
    __slots__ = ("notebook_id",)
    NOTEBOOK_ID_FIELD_NUMBER: _ClassVar[int]
    notebook_id: str
    def __init__(self, notebook_id: _Optional[str] = ...) -> None: ...

class NoteAdded(_message.Message):
    __slots__ = ("text",)
    TEXT_FIELD_NUMBER: _ClassVar[int]
    text: str
    def __init__(self, text: _Optional[str] = ...) -> None: ...

class Notes(_message.Message):
    __slots__ = ("texts",)
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    texts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, texts: _Optional[_Iterable[str]] = ...) -> None: ...
