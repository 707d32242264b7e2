from google.protobuf import empty_pb2 as _empty_pb2
from cloudstate import entity_key_pb2 as _entity_key_pb2
from cloudstate import schedule_pb2 as _schedule_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class SweepRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...
