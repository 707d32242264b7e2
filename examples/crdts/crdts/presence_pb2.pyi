from google.api import annotations_pb2 as _annotations_pb2
from cloudstate import entity_key_pb2 as _entity_key_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class ConnectRequest(_message.Message):
    __slots__ = ("room", "user")
    ROOM_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    room: str
    user: str
    def __init__(self, room: _Optional[str] = ..., user: _Optional[str] = ...) -> None: ...

class RoomRequest(_message.Message):
    __slots__ = ("room",)
    ROOM_FIELD_NUMBER: _ClassVar[int]
    room: str
    def __init__(self, room: _Optional[str] = ...) -> None: ...

class Connection(_message.Message):
    __slots__ = ("user", "connection_id")
    USER_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_ID_FIELD_NUMBER: _ClassVar[int]
    user: str
    connection_id: str
    def __init__(self, user: _Optional[str] = ..., connection_id: _Optional[str] = ...) -> None: ...

class OnlineUsers(_message.Message):
    __slots__ = ("room", "users")
    ROOM_FIELD_NUMBER: _ClassVar[int]
    USERS_FIELD_NUMBER: _ClassVar[int]
    room: str
    users: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, room: _Optional[str] = ..., users: _Optional[_Iterable[str]] = ...) -> None: ...
