from google.api import annotations_pb2 as _annotations_pb2
from cloudstate import entity_key_pb2 as _entity_key_pb2
from cloudstate import auth_pb2 as _auth_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class PlaceOrderRequest(_message.Message):
    __slots__ = ("order_id", "item_id", "quantity", "customer_id", "amount", "confirm_within_ms")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CONFIRM_WITHIN_MS_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    item_id: str
    quantity: int
    customer_id: str
    amount: int
    confirm_within_ms: int
    def __init__(self, order_id: _Optional[str] = ..., item_id: _Optional[str] = ..., quantity: _Optional[int] = ..., customer_id: _Optional[str] = ..., amount: _Optional[int] = ..., confirm_within_ms: _Optional[int] = ...) -> None: ...

class ConfirmPaymentRequest(_message.Message):
    __slots__ = ("order_id",)
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    def __init__(self, order_id: _Optional[str] = ...) -> None: ...

class GetOrderRequest(_message.Message):
    __slots__ = ("order_id",)
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    def __init__(self, order_id: _Optional[str] = ...) -> None: ...

class Order(_message.Message):
    __slots__ = ("order_id", "item_id", "quantity", "customer_id", "amount", "confirm_within_ms", "stage", "reason", "workflow_status", "current_step")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CONFIRM_WITHIN_MS_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_STATUS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_STEP_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    item_id: str
    quantity: int
    customer_id: str
    amount: int
    confirm_within_ms: int
    stage: str
    reason: str
    workflow_status: str
    current_step: str
    def __init__(self, order_id: _Optional[str] = ..., item_id: _Optional[str] = ..., quantity: _Optional[int] = ..., customer_id: _Optional[str] = ..., amount: _Optional[int] = ..., confirm_within_ms: _Optional[int] = ..., stage: _Optional[str] = ..., reason: _Optional[str] = ..., workflow_status: _Optional[str] = ..., current_step: _Optional[str] = ...) -> None: ...

class StockRequest(_message.Message):
    __slots__ = ("item_id", "order_id", "quantity")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    order_id: str
    quantity: int
    def __init__(self, item_id: _Optional[str] = ..., order_id: _Optional[str] = ..., quantity: _Optional[int] = ...) -> None: ...

class GetStockRequest(_message.Message):
    __slots__ = ("item_id",)
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    def __init__(self, item_id: _Optional[str] = ...) -> None: ...

class Stock(_message.Message):
    __slots__ = ("item_id", "available", "reserved_by_order", "released_by_order")
    class ReservedByOrderEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class ReleasedByOrderEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    RESERVED_BY_ORDER_FIELD_NUMBER: _ClassVar[int]
    RELEASED_BY_ORDER_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    available: int
    reserved_by_order: _containers.ScalarMap[str, int]
    released_by_order: _containers.ScalarMap[str, int]
    def __init__(self, item_id: _Optional[str] = ..., available: _Optional[int] = ..., reserved_by_order: _Optional[_Mapping[str, int]] = ..., released_by_order: _Optional[_Mapping[str, int]] = ...) -> None: ...

class PaymentRequest(_message.Message):
    __slots__ = ("customer_id", "order_id", "amount")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    order_id: str
    amount: int
    def __init__(self, customer_id: _Optional[str] = ..., order_id: _Optional[str] = ..., amount: _Optional[int] = ...) -> None: ...

class GetAccountRequest(_message.Message):
    __slots__ = ("customer_id",)
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    def __init__(self, customer_id: _Optional[str] = ...) -> None: ...

class CustomerAccount(_message.Message):
    __slots__ = ("customer_id", "charged", "charges_by_order", "refunds_by_order", "blocked")
    class ChargesByOrderEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class RefundsByOrderEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CHARGED_FIELD_NUMBER: _ClassVar[int]
    CHARGES_BY_ORDER_FIELD_NUMBER: _ClassVar[int]
    REFUNDS_BY_ORDER_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    charged: int
    charges_by_order: _containers.ScalarMap[str, int]
    refunds_by_order: _containers.ScalarMap[str, int]
    blocked: bool
    def __init__(self, customer_id: _Optional[str] = ..., charged: _Optional[int] = ..., charges_by_order: _Optional[_Mapping[str, int]] = ..., refunds_by_order: _Optional[_Mapping[str, int]] = ..., blocked: _Optional[bool] = ...) -> None: ...

class BlockRequest(_message.Message):
    __slots__ = ("customer_id", "blocked")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    blocked: bool
    def __init__(self, customer_id: _Optional[str] = ..., blocked: _Optional[bool] = ...) -> None: ...

class ShipRequest(_message.Message):
    __slots__ = ("order_id", "item_id", "quantity")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    item_id: str
    quantity: int
    def __init__(self, order_id: _Optional[str] = ..., item_id: _Optional[str] = ..., quantity: _Optional[int] = ...) -> None: ...

class GetShipmentRequest(_message.Message):
    __slots__ = ("order_id",)
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    def __init__(self, order_id: _Optional[str] = ...) -> None: ...

class Shipment(_message.Message):
    __slots__ = ("order_id", "item_id", "quantity", "shipped")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    SHIPPED_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    item_id: str
    quantity: int
    shipped: int
    def __init__(self, order_id: _Optional[str] = ..., item_id: _Optional[str] = ..., quantity: _Optional[int] = ..., shipped: _Optional[int] = ...) -> None: ...
