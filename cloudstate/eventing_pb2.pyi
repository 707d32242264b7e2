from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
EVENTING_FIELD_NUMBER: _ClassVar[int]
eventing: _descriptor.FieldDescriptor

class Eventing(_message.Message):
    __slots__ = ("out",)
    IN_FIELD_NUMBER: _ClassVar[int]
    OUT_FIELD_NUMBER: _ClassVar[int]
    out: EventDestination
    def __init__(self, out: _Optional[_Union[EventDestination, _Mapping]] = ..., **kwargs) -> None: ...

class EventSource(_message.Message):
    __slots__ = ("consumer_group", "topic", "event_log", "value_entity")
    CONSUMER_GROUP_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    EVENT_LOG_FIELD_NUMBER: _ClassVar[int]
    VALUE_ENTITY_FIELD_NUMBER: _ClassVar[int]
    consumer_group: str
    topic: str
    event_log: str
    value_entity: str
    def __init__(self, consumer_group: _Optional[str] = ..., topic: _Optional[str] = ..., event_log: _Optional[str] = ..., value_entity: _Optional[str] = ...) -> None: ...

class EventDestination(_message.Message):
    __slots__ = ("topic",)
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    topic: str
    def __init__(self, topic: _Optional[str] = ...) -> None: ...
