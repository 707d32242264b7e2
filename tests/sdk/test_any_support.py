"""Payload encodings inside google.protobuf.Any, and the metadata view."""

from __future__ import annotations

import pytest
from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, wrappers_pb2
from shoppingcart.shoppingcart_pb2 import DESCRIPTOR as CART_FILE
from shoppingcart.shoppingcart_pb2 import AddLineItem

from cloudstate.any_support import AnySupport, Json, pack, pack_json, pack_primitive
from cloudstate.errors import UnknownTypeError
from cloudstate.metadata import Metadata
from cloudstate.protocol import entity_pb2


def test_messages_use_type_googleapis_and_canonical_bytes() -> None:
    item = AddLineItem(user_id="u", quantity=2)
    packed = pack(item)
    assert packed.type_url == "type.googleapis.com/com.example.shoppingcart.AddLineItem"
    assert packed.value == item.SerializeToString(deterministic=True)
    assert AnySupport([CART_FILE]).unpack(packed) == item
    assert pack(AddLineItem()).value == b""


@pytest.mark.parametrize(
    ("value", "kind", "encoded"),
    [
        ("", "string", b""),
        ("abc", "string", b"\n\x03abc"),
        (b"", "bytes", b""),
        (b"\x00", "bytes", b"\n\x01\x00"),
        (0, "int64", b""),
        (-1, "int64", b"\x08" + b"\xff" * 9 + b"\x01"),
        (1.5, "double", b"\t\x00\x00\x00\x00\x00\x00\xf8?"),
        (0.0, "double", b""),
        (False, "bool", b""),
        (True, "bool", b"\x08\x01"),
    ],
)
def test_python_primitives(value: object, kind: str, encoded: bytes) -> None:
    packed = pack(value)
    assert packed == any_pb2.Any(type_url=f"p.cloudstate.io/{kind}", value=encoded)
    result = AnySupport().unpack(packed)
    assert result == value and type(result) is type(value)


def test_explicit_primitive_kinds() -> None:
    assert pack_primitive("int32", 0).value == b""
    assert pack_primitive("int32", 5) == any_pb2.Any(
        type_url="p.cloudstate.io/int32", value=b"\x08\x05"
    )
    assert (
        pack_primitive("float", 0.5).value == wrappers_pb2.FloatValue(value=0.5).SerializeToString()
    )
    assert AnySupport().unpack(pack_primitive("float", 0.5)) == 0.5
    with pytest.raises(ValueError, match="unknown primitive kind"):
        pack_primitive("int16", 1)


def test_json_is_stable_and_round_trips() -> None:
    packed = pack({"b": 1, "a": [True, None, "é"]})
    text = '{"a":[true,null,"é"],"b":1}'.encode()
    assert packed.type_url == "json.cloudstate.io/dict"
    assert packed.value == b"\n" + bytes([len(text)]) + text
    assert AnySupport().unpack(packed) == {"a": [True, None, "é"], "b": 1}
    assert (
        pack(Json({"id": 1}, "com.example.Order")).type_url
        == "json.cloudstate.io/com.example.Order"
    )
    assert pack([1, 2]).type_url == "json.cloudstate.io/list"
    assert pack_json({}).value == b"\n\x02{}"


def test_unpack_uses_the_pools_of_the_registered_files() -> None:
    pool = descriptor_pool.DescriptorPool()
    file = descriptor_pb2.FileDescriptorProto(
        name="private/thing.proto", package="private", syntax="proto3"
    )
    file.message_type.add(name="Thing").field.add(
        name="n", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_INT32, label=1
    )
    descriptor = pool.Add(file)
    support = AnySupport([descriptor])
    thing = support.unpack(
        any_pb2.Any(type_url="type.googleapis.com/private.Thing", value=b"\x08\x07")
    )
    assert thing.DESCRIPTOR.full_name == "private.Thing" and thing.n == 7
    with pytest.raises(UnknownTypeError, match=r"private\.Thing"):
        AnySupport().unpack(any_pb2.Any(type_url="type.googleapis.com/private.Thing"))


def test_unpack_and_pack_errors() -> None:
    with pytest.raises(UnknownTypeError, match=r"p\.cloudstate\.io/int16"):
        AnySupport().unpack(any_pb2.Any(type_url="p.cloudstate.io/int16"))
    with pytest.raises(ValueError, match="int64"):
        pack(2**63)
    with pytest.raises(TypeError, match="cannot pack a set"):
        pack({1, 2})


def test_metadata_view() -> None:
    proto = entity_pb2.Metadata()
    proto.entries.add(key="X-Id", string_value="1")
    proto.entries.add(key="bin", bytes_value=b"\x00")
    proto.entries.add(key="x-id", string_value="2")
    metadata = Metadata(proto)
    assert metadata["x-id"] == "1" and metadata["X-ID"] == "1"
    assert metadata.get_all("X-Id") == ["1", "2"]
    assert metadata["bin"] == b"\x00"
    assert list(metadata) == ["X-Id", "bin"] and len(metadata) == 2
    assert metadata.entries() == [("X-Id", "1"), ("bin", b"\x00"), ("x-id", "2")]
    assert "missing" not in metadata and metadata.get("missing") is None
    assert len(Metadata()) == 0
