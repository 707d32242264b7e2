"""What the admin API shows of stored payloads it cannot decode: the bytes, never an error; and
whole numbers of decoded payloads printed as integers."""

from __future__ import annotations

import base64

from google.protobuf import descriptor_pool, wrappers_pb2

from cloudstate.proxy.admin.decode import PayloadDecoder
from cloudstate.proxy.admin.server import whole_numbers
from cloudstate.proxy.crdt import codec
from cloudstate.proxy.crdt.types import GCounter
from cloudstate.proxy.stores.base import Payload

DECODER = PayloadDecoder(descriptor_pool.DescriptorPool())  # knows no user type


def test_unknown_type_is_shown_raw() -> None:
    payload = Payload("type.googleapis.com/shop.Gone", b"\x08\x01")
    assert DECODER.decode(payload) == (
        "shop.Gone",
        {"@type": "type.googleapis.com/shop.Gone", "@raw": base64.b64encode(b"\x08\x01").decode()},
    )


def test_well_known_type_decodes_and_bad_bytes_are_raw() -> None:
    url = "type.googleapis.com/google.protobuf.Int32Value"
    good = Payload(url, wrappers_pb2.Int32Value(value=7).SerializeToString())
    assert DECODER.decode(good) == ("google.protobuf.Int32Value", 7)
    name, data = DECODER.decode(Payload(url, b"\xff\xff"))
    assert name == "google.protobuf.Int32Value" and data["@raw"] == "//8="


def test_crdt_state_and_a_damaged_one() -> None:
    state = codec.encode(GCounter(counts={"node-a": 2, "node-b": 1}))
    assert DECODER.decode(Payload(codec.TYPE_URL, state)) == (
        "gcounter",
        {"type": "gcounter", "counts": {"node-a": 2, "node-b": 1}},
    )
    name, data = DECODER.decode(Payload(codec.TYPE_URL, b"{not json"))
    assert name == "crdt" and "@raw" in data


def test_whole_numbers() -> None:
    assert whole_numbers(b'{"a":2.0,"b":[1.5,3.0],"c":"4.0","d":1e300}') == (
        b'{"a":2,"b":[1.5,3],"c":"4.0","d":1e+300}'
    )
