from cloudstate import entity_key_pb2 as _entity_key_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class SetRequest(_message.Message):
    __slots__ = ("register_id", "value")
    REGISTER_ID_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    register_id: str
    value: int
    def __init__(self, register_id: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...

class AddRequest(_message.Message):
    __slots__ = ("register_id", "by")
    REGISTER_ID_FIELD_NUMBER: _ClassVar[int]
    BY_FIELD_NUMBER: _ClassVar[int]
    register_id: str
    by: int
    def __init__(self, register_id: _Optional[str] = ..., by: _Optional[int] = ...) -> None: ...

class GetRegister(_message.Message):
    __slots__ = ("register_id",)
    REGISTER_ID_FIELD_NUMBER: _ClassVar[int]
    register_id: str
    def __init__(self, register_id: _Optional[str] = ...) -> None: ...

class ClearRequest(_message.Message):
    __slots__ = ("register_id",)
    REGISTER_ID_FIELD_NUMBER: _ClassVar[int]
    register_id: str
    def __init__(self, register_id: _Optional[str] = ...) -> None: ...

class FailRequest(_message.Message):
    __slots__ = ("register_id", "value", "restart")
    REGISTER_ID_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    RESTART_FIELD_NUMBER: _ClassVar[int]
    register_id: str
    value: int
    restart: bool
    def __init__(self, register_id: _Optional[str] = ..., value: _Optional[int] = ..., restart: _Optional[bool] = ...) -> None: ...

class BadReplyRequest(_message.Message):
    __slots__ = ("register_id", "kind")
    REGISTER_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    register_id: str
    kind: str
    def __init__(self, register_id: _Optional[str] = ..., kind: _Optional[str] = ...) -> None: ...

class RegisterValue(_message.Message):
    __slots__ = ("value", "exists", "command_id", "inits", "init_had_value")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    EXISTS_FIELD_NUMBER: _ClassVar[int]
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    INITS_FIELD_NUMBER: _ClassVar[int]
    INIT_HAD_VALUE_FIELD_NUMBER: _ClassVar[int]
    value: int
    exists: bool
    command_id: int
    inits: int
    init_had_value: bool
    def __init__(self, value: _Optional[int] = ..., exists: _Optional[bool] = ..., command_id: _Optional[int] = ..., inits: _Optional[int] = ..., init_had_value: _Optional[bool] = ...) -> None: ...

class RegisterState(_message.Message):
    __slots__ = ("value",)
    VALUE_FIELD_NUMBER: _ClassVar[int]
    value: int
    def __init__(self, value: _Optional[int] = ...) -> None: ...
