"""Stored payloads to JSON, with the descriptors the user function reported at discovery.

Example::

    decoder = PayloadDecoder(model.pool)
    type_name, data = decoder.decode(Payload("type.googleapis.com/shop.ItemAdded", raw))
    value = decoder.value(data)      # as a google.protobuf.Value for the reply message
"""

from __future__ import annotations

import base64
from typing import Any

from google.protobuf import descriptor_pool, json_format, message_factory, struct_pb2, timestamp_pb2

from cloudstate.proxy.crdt import codec
from cloudstate.proxy.stores.base import Payload


class PayloadDecoder:
    """See the module docstring. Unknown types and undecodable bytes are shown raw:
    ``{"@type": ..., "@raw": "<base64>"}`` (never an error: the admin shows what is stored)."""

    def __init__(self, pool: descriptor_pool.DescriptorPool) -> None:
        self.pool = pool

    def decode(self, payload: Payload) -> tuple[str, Any]:
        """The payload's type name and its JSON form."""
        type_url = payload.type_url
        if type_url == codec.TYPE_URL:  # a CRDT's state, in the proxy's own JSON encoding
            try:
                state = codec.to_json(codec.decode(payload.value))
            except (ValueError, KeyError, TypeError):
                return "crdt", self._raw(payload)
            return str(state["type"]), state
        name = type_url.rsplit("/", 1)[-1]
        try:
            descriptor = self.pool.FindMessageTypeByName(name)
        except KeyError:
            try:  # well-known types the user's descriptors may not carry
                descriptor = descriptor_pool.Default().FindMessageTypeByName(name)
            except KeyError:
                return name, self._raw(payload)
        message = message_factory.GetMessageClass(descriptor)()
        try:
            message.ParseFromString(payload.value)
            data = json_format.MessageToDict(message, preserving_proto_field_name=False)
        except Exception:  # a payload that does not parse as its type is still shown
            return name, self._raw(payload)
        return name, data

    @staticmethod
    def value(data: Any) -> struct_pb2.Value:
        """``data`` (JSON-like) as a ``google.protobuf.Value``."""
        value = struct_pb2.Value()
        json_format.ParseDict(data, value)
        return value

    @staticmethod
    def _raw(payload: Payload) -> dict[str, str]:
        return {
            "@type": payload.type_url,
            "@raw": base64.b64encode(payload.value).decode("ascii"),
        }


def timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    """Seconds since the epoch as a ``google.protobuf.Timestamp``."""
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(round(seconds * 1e9))
    return stamp
