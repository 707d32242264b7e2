from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class StatsReply(_message.Message):
    __slots__ = ("entity_streams", "subscriptions", "cancellations")
    ENTITY_STREAMS_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTIONS_FIELD_NUMBER: _ClassVar[int]
    CANCELLATIONS_FIELD_NUMBER: _ClassVar[int]
    entity_streams: _containers.RepeatedScalarFieldContainer[str]
    subscriptions: int
    cancellations: int
    def __init__(self, entity_streams: _Optional[_Iterable[str]] = ..., subscriptions: _Optional[int] = ..., cancellations: _Optional[int] = ...) -> None: ...
