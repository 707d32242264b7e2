from cloudstate import entity_key_pb2 as _entity_key_pb2
from cloudstate import eventing_pb2 as _eventing_pb2
from cloudstate import view_pb2 as _view_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LineItem(_message.Message):
    __slots__ = ("product_id", "name", "quantity")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    name: str
    quantity: int
    def __init__(self, product_id: _Optional[str] = ..., name: _Optional[str] = ..., quantity: _Optional[int] = ...) -> None: ...

class AddLineItem(_message.Message):
    __slots__ = ("cart_id", "product_id", "name", "quantity")
    CART_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    cart_id: str
    product_id: str
    name: str
    quantity: int
    def __init__(self, cart_id: _Optional[str] = ..., product_id: _Optional[str] = ..., name: _Optional[str] = ..., quantity: _Optional[int] = ...) -> None: ...

class CheckoutRequest(_message.Message):
    __slots__ = ("cart_id",)
    CART_ID_FIELD_NUMBER: _ClassVar[int]
    cart_id: str
    def __init__(self, cart_id: _Optional[str] = ...) -> None: ...

class GetCartRequest(_message.Message):
    __slots__ = ("cart_id",)
    CART_ID_FIELD_NUMBER: _ClassVar[int]
    cart_id: str
    def __init__(self, cart_id: _Optional[str] = ...) -> None: ...

class Cart(_message.Message):
    __slots__ = ("items", "checked_out")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    CHECKED_OUT_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[LineItem]
    checked_out: bool
    def __init__(self, items: _Optional[_Iterable[_Union[LineItem, _Mapping]]] = ..., checked_out: _Optional[bool] = ...) -> None: ...

class ItemAdded(_message.Message):
    __slots__ = ("item",)
    ITEM_FIELD_NUMBER: _ClassVar[int]
    item: LineItem
    def __init__(self, item: _Optional[_Union[LineItem, _Mapping]] = ...) -> None: ...

class CheckedOut(_message.Message):
    __slots__ = ("total_quantity",)
    TOTAL_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    total_quantity: int
    def __init__(self, total_quantity: _Optional[int] = ...) -> None: ...

class OrderConfirmation(_message.Message):
    __slots__ = ("cart_id", "lines", "total_quantity")
    CART_ID_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    cart_id: str
    lines: int
    total_quantity: int
    def __init__(self, cart_id: _Optional[str] = ..., lines: _Optional[int] = ..., total_quantity: _Optional[int] = ...) -> None: ...

class ProductPopularity(_message.Message):
    __slots__ = ("product_id", "name", "quantity", "carts")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    CARTS_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    name: str
    quantity: int
    carts: int
    def __init__(self, product_id: _Optional[str] = ..., name: _Optional[str] = ..., quantity: _Optional[int] = ..., carts: _Optional[int] = ...) -> None: ...

class TopProductsRequest(_message.Message):
    __slots__ = ("limit",)
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    limit: int
    def __init__(self, limit: _Optional[int] = ...) -> None: ...

class TopProducts(_message.Message):
    __slots__ = ("products",)
    PRODUCTS_FIELD_NUMBER: _ClassVar[int]
    products: _containers.RepeatedCompositeFieldContainer[ProductPopularity]
    def __init__(self, products: _Optional[_Iterable[_Union[ProductPopularity, _Mapping]]] = ...) -> None: ...

class ProductRequest(_message.Message):
    __slots__ = ("product_id",)
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    def __init__(self, product_id: _Optional[str] = ...) -> None: ...

class ConfirmationRequest(_message.Message):
    __slots__ = ("cart_id",)
    CART_ID_FIELD_NUMBER: _ClassVar[int]
    cart_id: str
    def __init__(self, cart_id: _Optional[str] = ...) -> None: ...
