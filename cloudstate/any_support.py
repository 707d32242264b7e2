"""Packing values into ``google.protobuf.Any`` and back, with Cloudstate's encodings.

Three encodings exist (protocol serialization conventions):

* protobuf messages: ``type.googleapis.com/<full name>``, value = the canonical (deterministic)
  serialization;
* primitives: ``p.cloudstate.io/{string,bytes,int32,int64,float,double,bool}``, value = a message
  ``{ T value = 1; }``, so the default value encodes to empty bytes;
* JSON: ``json.cloudstate.io/<type>``, value = a message ``{ bytes json = 1; }`` holding compact
  UTF-8 JSON with sorted keys (stable bytes for equal values).

Python values map as: message -> protobuf, ``str`` -> string, ``bytes`` -> bytes, ``bool`` -> bool,
``int`` -> int64, ``float`` -> double, ``dict``/``list`` -> JSON (type = ``dict``/``list``;
use :class:`Json` to choose the type name)::

    >>> pack("hello").type_url
    'p.cloudstate.io/string'
    >>> AnySupport().unpack(pack({"b": 1, "a": [True]}))
    {'a': [True], 'b': 1}
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any as AnyValue

from google.protobuf import any_pb2, descriptor_pool, message_factory, wrappers_pb2
from google.protobuf.descriptor import FileDescriptor, ServiceDescriptor
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.message import Message

from cloudstate.errors import UnknownTypeError

PROTOBUF_PREFIX = "type.googleapis.com/"
PRIMITIVE_PREFIX = "p.cloudstate.io/"
JSON_PREFIX = "json.cloudstate.io/"

# The wrapper messages have exactly the `T value = 1` layout the primitive encoding prescribes.
# The wrapper classes by kind, typed as the union of the classes (each has a ``value`` field).
_Wrapper = (
    type[wrappers_pb2.StringValue]
    | type[wrappers_pb2.BytesValue]
    | type[wrappers_pb2.Int32Value]
    | type[wrappers_pb2.Int64Value]
    | type[wrappers_pb2.FloatValue]
    | type[wrappers_pb2.DoubleValue]
    | type[wrappers_pb2.BoolValue]
)
_PRIMITIVES: dict[str, _Wrapper] = {
    "string": wrappers_pb2.StringValue,
    "bytes": wrappers_pb2.BytesValue,
    "int32": wrappers_pb2.Int32Value,
    "int64": wrappers_pb2.Int64Value,
    "float": wrappers_pb2.FloatValue,
    "double": wrappers_pb2.DoubleValue,
    "bool": wrappers_pb2.BoolValue,
}
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True)
class Json:
    """A value to encode as JSON under ``json.cloudstate.io/<type_name>``.

    >>> pack(Json({"id": 1}, "com.example.Order")).type_url
    'json.cloudstate.io/com.example.Order'
    """

    value: AnyValue
    type_name: str


def pack_message(message: Message) -> any_pb2.Any:
    """``Any{type.googleapis.com/<full name>, canonical bytes}``."""
    return any_pb2.Any(
        type_url=PROTOBUF_PREFIX + message.DESCRIPTOR.full_name,
        value=message.SerializeToString(deterministic=True),
    )


def pack_primitive(kind: str, value: AnyValue) -> any_pb2.Any:
    """Encode ``value`` as ``p.cloudstate.io/<kind>`` (kind: string, bytes, int32, ... bool).

    >>> pack_primitive("int32", 0).value
    b''
    """
    try:
        wrapper = _PRIMITIVES[kind]
    except KeyError:
        raise ValueError(f"unknown primitive kind {kind!r}; one of {sorted(_PRIMITIVES)}") from None
    return any_pb2.Any(
        type_url=PRIMITIVE_PREFIX + kind,
        value=wrapper(value=value).SerializeToString(deterministic=True),
    )


def pack_json(value: AnyValue, type_name: str | None = None) -> any_pb2.Any:
    """Encode a JSON-serializable value as ``json.cloudstate.io/<type_name>``.

    ``type_name`` defaults to the Python type's name (``dict``, ``list``).
    """
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return any_pb2.Any(
        type_url=JSON_PREFIX + (type_name or type(value).__name__),
        value=wrappers_pb2.BytesValue(value=text.encode("utf-8")).SerializeToString(
            deterministic=True
        ),
    )


def pack(value: AnyValue) -> any_pb2.Any:
    """Pack a message, primitive or JSON-able value with the encoding matching its Python type."""
    if isinstance(value, any_pb2.Any):
        return value
    if isinstance(value, Message):
        return pack_message(value)
    if isinstance(value, Json):
        return pack_json(value.value, value.type_name)
    if isinstance(value, bool):  # before int: bool is an int
        return pack_primitive("bool", value)
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError(f"integer {value} does not fit the int64 primitive encoding")
        return pack_primitive("int64", value)
    if isinstance(value, float):
        return pack_primitive("double", value)
    if isinstance(value, str):
        return pack_primitive("string", value)
    if isinstance(value, bytes | bytearray):
        return pack_primitive("bytes", bytes(value))
    if isinstance(value, dict | list | tuple):
        return pack_json(value, "list" if isinstance(value, tuple) else None)
    raise TypeError(
        f"cannot pack a {type(value).__name__}: use a protobuf message, str, bytes, int, float, "
        "bool, dict or list"
    )


def stable_key(value: AnyValue) -> tuple[str, bytes]:
    """The identity of ``value`` under its stable encoding: ``(type_url, bytes)`` of :func:`pack`.

    Equal values give equal keys (CRDT set elements and map keys are compared this way), so
    values need not be hashable:

    >>> stable_key({"b": 1, "a": 2}) == stable_key({"a": 2, "b": 1})
    True
    """
    packed = pack(value)
    return packed.type_url, packed.value


def from_stable_key(key: tuple[str, bytes]) -> any_pb2.Any:
    """The ``Any`` a :func:`stable_key` was taken from."""
    return any_pb2.Any(type_url=key[0], value=key[1])


class AnySupport:
    """Unpacks ``Any`` payloads using the descriptor pools of the registered file descriptors.

    Protobuf types are looked up in the pools of ``file_descriptors`` (usually the default pool,
    where generated ``*_pb2`` modules register) and then in the default pool.
    """

    def __init__(self, file_descriptors: Iterable[FileDescriptor] = ()) -> None:
        pools: list[DescriptorPool] = []
        for fd in file_descriptors:
            if all(fd.pool is not p for p in pools):
                pools.append(fd.pool)
        default = descriptor_pool.Default()
        if all(default is not p for p in pools):
            pools.append(default)
        self._pools = pools
        self._classes: dict[str, type[Message]] = {}

    def message_class(self, full_name: str) -> type[Message]:
        """The message class for a fully-qualified protobuf type name."""
        cls = self._classes.get(full_name)
        if cls is not None:
            return cls
        for pool in self._pools:
            try:
                descriptor = pool.FindMessageTypeByName(full_name)
            except KeyError:
                continue
            cls = message_factory.GetMessageClass(descriptor)
            self._classes[full_name] = cls
            return cls
        raise UnknownTypeError(
            f"unknown protobuf type {full_name!r}: is the file declaring it registered with the "
            "entity (its file descriptors) or imported?"
        )

    def find_service(self, full_name: str) -> ServiceDescriptor | None:
        """The descriptor of a service by full name, or ``None`` if no pool knows it."""
        for pool in self._pools:
            try:
                return pool.FindServiceByName(full_name)
            except KeyError:
                continue
        return None

    def unpack(self, payload: any_pb2.Any) -> AnyValue:
        """Decode ``payload``: a message instance, a primitive Python value, or parsed JSON."""
        type_url = payload.type_url
        if type_url.startswith(PRIMITIVE_PREFIX):
            kind = type_url[len(PRIMITIVE_PREFIX) :]
            wrapper = _PRIMITIVES.get(kind)
            if wrapper is None:
                raise UnknownTypeError(f"unknown primitive type {type_url!r}")
            return wrapper.FromString(payload.value).value
        if type_url.startswith(JSON_PREFIX):
            raw = wrappers_pb2.BytesValue.FromString(payload.value).value
            return json.loads(raw.decode("utf-8"))
        full_name = type_url.rsplit("/", 1)[-1]
        if not full_name:
            raise UnknownTypeError(f"malformed type url {type_url!r}")
        return self.message_class(full_name).FromString(payload.value)

    def unpack_lenient(self, payload: any_pb2.Any) -> AnyValue:
        """Like :meth:`unpack`, but a protobuf type no pool knows comes back as the ``Any``
        itself (which :func:`pack` passes through unchanged, so it re-encodes identically)."""
        try:
            return self.unpack(payload)
        except UnknownTypeError:
            return payload
