from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor
SCHEDULE_FIELD_NUMBER: _ClassVar[int]
schedule: _descriptor.FieldDescriptor

class Schedule(_message.Message):
    __slots__ = ("every", "cron", "time_zone")
    EVERY_FIELD_NUMBER: _ClassVar[int]
    CRON_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    every: str
    cron: str
    time_zone: str
    def __init__(self, every: _Optional[str] = ..., cron: _Optional[str] = ..., time_zone: _Optional[str] = ...) -> None: ...
