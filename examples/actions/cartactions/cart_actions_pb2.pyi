from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class AddRequest(_message.Message):
    __slots__ = ("user_id", "product_id", "quantity")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    product_id: str
    quantity: int
    def __init__(self, user_id: _Optional[str] = ..., product_id: _Optional[str] = ..., quantity: _Optional[int] = ...) -> None: ...

class AddSummary(_message.Message):
    __slots__ = ("added", "rejected")
    ADDED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    added: int
    rejected: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, added: _Optional[int] = ..., rejected: _Optional[_Iterable[str]] = ...) -> None: ...

class CatalogRequest(_message.Message):
    __slots__ = ("prefix", "delay_ms")
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    delay_ms: int
    def __init__(self, prefix: _Optional[str] = ..., delay_ms: _Optional[int] = ...) -> None: ...

class Product(_message.Message):
    __slots__ = ("product_id", "name", "price_cents")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PRICE_CENTS_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    name: str
    price_cents: int
    def __init__(self, product_id: _Optional[str] = ..., name: _Optional[str] = ..., price_cents: _Optional[int] = ...) -> None: ...

class PriceQuote(_message.Message):
    __slots__ = ("product_id", "quantity", "line_cents", "total_cents")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    LINE_CENTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CENTS_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    quantity: int
    line_cents: int
    total_cents: int
    def __init__(self, product_id: _Optional[str] = ..., quantity: _Optional[int] = ..., line_cents: _Optional[int] = ..., total_cents: _Optional[int] = ...) -> None: ...
