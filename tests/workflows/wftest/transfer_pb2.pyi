from google.api import annotations_pb2 as _annotations_pb2
from cloudstate import entity_key_pb2 as _entity_key_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StartTransfer(_message.Message):
    __slots__ = ("id", "to", "amount")
    ID_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    id: str
    to: str
    amount: int
    def __init__(self, id: _Optional[str] = ..., to: _Optional[str] = ..., amount: _Optional[int] = ..., **kwargs) -> None: ...

class SignalTransfer(_message.Message):
    __slots__ = ("id", "action")
    ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    id: str
    action: str
    def __init__(self, id: _Optional[str] = ..., action: _Optional[str] = ...) -> None: ...

class GetTransfer(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class TransferState(_message.Message):
    __slots__ = ("to", "amount", "note")
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    to: str
    amount: int
    note: str
    def __init__(self, to: _Optional[str] = ..., amount: _Optional[int] = ..., note: _Optional[str] = ..., **kwargs) -> None: ...

class TransferView(_message.Message):
    __slots__ = ("id", "status", "step", "transitions", "state")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    TRANSITIONS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    id: str
    status: str
    step: str
    transitions: int
    state: TransferState
    def __init__(self, id: _Optional[str] = ..., status: _Optional[str] = ..., step: _Optional[str] = ..., transitions: _Optional[int] = ..., state: _Optional[_Union[TransferState, _Mapping]] = ...) -> None: ...

class Change(_message.Message):
    __slots__ = ("account", "amount")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    account: str
    amount: int
    def __init__(self, account: _Optional[str] = ..., amount: _Optional[int] = ...) -> None: ...

class Balance(_message.Message):
    __slots__ = ("account", "balance")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    account: str
    balance: int
    def __init__(self, account: _Optional[str] = ..., balance: _Optional[int] = ...) -> None: ...
