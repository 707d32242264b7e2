from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class Deposited(_message.Message):
    __slots__ = ("transfer_id", "amount")
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    amount: int
    def __init__(self, transfer_id: _Optional[str] = ..., amount: _Optional[int] = ...) -> None: ...

class Withdrawn(_message.Message):
    __slots__ = ("transfer_id", "amount")
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    amount: int
    def __init__(self, transfer_id: _Optional[str] = ..., amount: _Optional[int] = ...) -> None: ...

class Refunded(_message.Message):
    __slots__ = ("transfer_id", "amount")
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    amount: int
    def __init__(self, transfer_id: _Optional[str] = ..., amount: _Optional[int] = ...) -> None: ...

class WithdrawalVoided(_message.Message):
    __slots__ = ("transfer_id",)
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    def __init__(self, transfer_id: _Optional[str] = ...) -> None: ...

class AccountSnapshot(_message.Message):
    __slots__ = ("balance", "deposited", "withdrawn", "refunded", "voided", "closed")
    class WithdrawnEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    DEPOSITED_FIELD_NUMBER: _ClassVar[int]
    WITHDRAWN_FIELD_NUMBER: _ClassVar[int]
    REFUNDED_FIELD_NUMBER: _ClassVar[int]
    VOIDED_FIELD_NUMBER: _ClassVar[int]
    CLOSED_FIELD_NUMBER: _ClassVar[int]
    balance: int
    deposited: _containers.RepeatedScalarFieldContainer[str]
    withdrawn: _containers.ScalarMap[str, int]
    refunded: _containers.RepeatedScalarFieldContainer[str]
    voided: _containers.RepeatedScalarFieldContainer[str]
    closed: bool
    def __init__(self, balance: _Optional[int] = ..., deposited: _Optional[_Iterable[str]] = ..., withdrawn: _Optional[_Mapping[str, int]] = ..., refunded: _Optional[_Iterable[str]] = ..., voided: _Optional[_Iterable[str]] = ..., closed: _Optional[bool] = ...) -> None: ...

class AccountClosed(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TransferStarted(_message.Message):
    __slots__ = ("from_account", "to_account", "amount")
    FROM_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    TO_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    from_account: str
    to_account: str
    amount: int
    def __init__(self, from_account: _Optional[str] = ..., to_account: _Optional[str] = ..., amount: _Optional[int] = ...) -> None: ...

class TransferFunded(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TransferConfirmed(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TransferExpired(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DuplicateIgnored(_message.Message):
    __slots__ = ("transfer_id", "command")
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    command: str
    def __init__(self, transfer_id: _Optional[str] = ..., command: _Optional[str] = ...) -> None: ...
