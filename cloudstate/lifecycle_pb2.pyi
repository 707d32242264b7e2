from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class EntityDeleted(_message.Message):
    __slots__ = ("entity_id", "deleted_at", "deleted_by", "purge_at")
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    DELETED_AT_FIELD_NUMBER: _ClassVar[int]
    DELETED_BY_FIELD_NUMBER: _ClassVar[int]
    PURGE_AT_FIELD_NUMBER: _ClassVar[int]
    entity_id: str
    deleted_at: float
    deleted_by: str
    purge_at: float
    def __init__(self, entity_id: _Optional[str] = ..., deleted_at: _Optional[float] = ..., deleted_by: _Optional[str] = ..., purge_at: _Optional[float] = ...) -> None: ...
