from cloudstate import entity_key_pb2 as _entity_key_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class Order(_message.Message):
    __slots__ = ("order_id", "item", "quantity")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    item: str
    quantity: int
    def __init__(self, order_id: _Optional[str] = ..., item: _Optional[str] = ..., quantity: _Optional[int] = ...) -> None: ...

class OrderId(_message.Message):
    __slots__ = ("order_id",)
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    def __init__(self, order_id: _Optional[str] = ...) -> None: ...

class OrderSignal(_message.Message):
    __slots__ = ("order_id", "action")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    action: str
    def __init__(self, order_id: _Optional[str] = ..., action: _Optional[str] = ...) -> None: ...

class OrderState(_message.Message):
    __slots__ = ("order_id", "item", "quantity", "log")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    LOG_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    item: str
    quantity: int
    log: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, order_id: _Optional[str] = ..., item: _Optional[str] = ..., quantity: _Optional[int] = ..., log: _Optional[_Iterable[str]] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ("status", "step", "transitions", "log")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    TRANSITIONS_FIELD_NUMBER: _ClassVar[int]
    LOG_FIELD_NUMBER: _ClassVar[int]
    status: str
    step: str
    transitions: int
    log: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, status: _Optional[str] = ..., step: _Optional[str] = ..., transitions: _Optional[int] = ..., log: _Optional[_Iterable[str]] = ...) -> None: ...

class Reservation(_message.Message):
    __slots__ = ("item", "quantity")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    item: str
    quantity: int
    def __init__(self, item: _Optional[str] = ..., quantity: _Optional[int] = ...) -> None: ...

class Reserved(_message.Message):
    __slots__ = ("item", "left")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    LEFT_FIELD_NUMBER: _ClassVar[int]
    item: str
    left: int
    def __init__(self, item: _Optional[str] = ..., left: _Optional[int] = ...) -> None: ...
