from google.api import annotations_pb2 as _annotations_pb2
from cloudstate import entity_key_pb2 as _entity_key_pb2
from cloudstate import auth_pb2 as _auth_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DepositRequest(_message.Message):
    __slots__ = ("account_id", "amount", "transfer_id")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    amount: int
    transfer_id: str
    def __init__(self, account_id: _Optional[str] = ..., amount: _Optional[int] = ..., transfer_id: _Optional[str] = ...) -> None: ...

class WithdrawRequest(_message.Message):
    __slots__ = ("account_id", "amount", "transfer_id", "report_to_transfer")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    REPORT_TO_TRANSFER_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    amount: int
    transfer_id: str
    report_to_transfer: bool
    def __init__(self, account_id: _Optional[str] = ..., amount: _Optional[int] = ..., transfer_id: _Optional[str] = ..., report_to_transfer: _Optional[bool] = ...) -> None: ...

class RefundRequest(_message.Message):
    __slots__ = ("account_id", "transfer_id")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    transfer_id: str
    def __init__(self, account_id: _Optional[str] = ..., transfer_id: _Optional[str] = ...) -> None: ...

class GetBalanceRequest(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class Balance(_message.Message):
    __slots__ = ("account_id", "balance", "closed")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    CLOSED_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    balance: int
    closed: bool
    def __init__(self, account_id: _Optional[str] = ..., balance: _Optional[int] = ..., closed: _Optional[bool] = ...) -> None: ...

class CloseRequest(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class StartTransfer(_message.Message):
    __slots__ = ("transfer_id", "from_account", "to_account", "amount", "expire_after_seconds")
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    TO_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_AFTER_SECONDS_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    from_account: str
    to_account: str
    amount: int
    expire_after_seconds: int
    def __init__(self, transfer_id: _Optional[str] = ..., from_account: _Optional[str] = ..., to_account: _Optional[str] = ..., amount: _Optional[int] = ..., expire_after_seconds: _Optional[int] = ...) -> None: ...

class TransferId(_message.Message):
    __slots__ = ("transfer_id",)
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    def __init__(self, transfer_id: _Optional[str] = ...) -> None: ...

class FundedRequest(_message.Message):
    __slots__ = ("transfer_id", "account_id", "amount")
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    account_id: str
    amount: int
    def __init__(self, transfer_id: _Optional[str] = ..., account_id: _Optional[str] = ..., amount: _Optional[int] = ...) -> None: ...

class TransferStatus(_message.Message):
    __slots__ = ("transfer_id", "from_account", "to_account", "amount", "status")
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UNKNOWN: _ClassVar[TransferStatus.Status]
        PENDING: _ClassVar[TransferStatus.Status]
        FUNDED: _ClassVar[TransferStatus.Status]
        CONFIRMED: _ClassVar[TransferStatus.Status]
        COMPLETED: _ClassVar[TransferStatus.Status]
        EXPIRED: _ClassVar[TransferStatus.Status]
    UNKNOWN: TransferStatus.Status
    PENDING: TransferStatus.Status
    FUNDED: TransferStatus.Status
    CONFIRMED: TransferStatus.Status
    COMPLETED: TransferStatus.Status
    EXPIRED: TransferStatus.Status
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    TO_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    from_account: str
    to_account: str
    amount: int
    status: TransferStatus.Status
    def __init__(self, transfer_id: _Optional[str] = ..., from_account: _Optional[str] = ..., to_account: _Optional[str] = ..., amount: _Optional[int] = ..., status: _Optional[_Union[TransferStatus.Status, str]] = ...) -> None: ...

class TransferRequest(_message.Message):
    __slots__ = ("transfer_id", "from_account", "to_account", "amount")
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    TO_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    from_account: str
    to_account: str
    amount: int
    def __init__(self, transfer_id: _Optional[str] = ..., from_account: _Optional[str] = ..., to_account: _Optional[str] = ..., amount: _Optional[int] = ...) -> None: ...

class TransferWorkflowState(_message.Message):
    __slots__ = ("transfer_id", "from_account", "to_account", "amount", "stage", "reason")
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    TO_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    from_account: str
    to_account: str
    amount: int
    stage: str
    reason: str
    def __init__(self, transfer_id: _Optional[str] = ..., from_account: _Optional[str] = ..., to_account: _Optional[str] = ..., amount: _Optional[int] = ..., stage: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class TransferProgress(_message.Message):
    __slots__ = ("transfer_id", "stage", "status", "step", "reason")
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    stage: str
    status: str
    step: str
    reason: str
    def __init__(self, transfer_id: _Optional[str] = ..., stage: _Optional[str] = ..., status: _Optional[str] = ..., step: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...
