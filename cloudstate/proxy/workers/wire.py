"""The frames workers exchange on their local channel: a command for the owner, its outcome back.

Every frame is ``length (u32, big-endian) | body``. Bodies start with the request id (u32) and a
kind byte, then length-prefixed fields (u32 lengths):

* ``REQUEST``: service, method, entity id (UTF-8), the metadata (a serialized protocol
  ``Metadata``, empty for none) and the request payload, as the client sent it.
* ``OUTCOME``: a flags byte (published, replayed), the serialized ``ClientAction`` and the
  count then the serialized ``SideEffect`` messages of the entity's
  :class:`~cloudstate.proxy.entities.base.Outcome`.
* ``ERROR``: the gRPC status code (its number) and the message (UTF-8).
* ``CHANGE`` (request id 0, no answer): a store id and an entity id whose state the sender just
  committed — a CRDT change notice, so that the replica another worker holds for a streamed
  subscriber merges it (``Store.publish_change`` between workers).

The protocol messages travel as the bytes protobuf makes of them: no re-encoding of payloads.

Example::

    frame = encode_request(7, "shop.Cart", "Add", "alice", None, b"...")
    request_id, kind, body = split(frame[4:])    # the reader strips the length
    decode_request(body)  # ("shop.Cart", "Add", "alice", None, b"...")
"""

from __future__ import annotations

import struct

import grpc

from cloudstate.protocol import entity_pb2
from cloudstate.proxy.entities.base import Outcome
from cloudstate.proxy.errors import ProxyError

REQUEST = 1
OUTCOME = 2
ERROR = 3
CHANGE = 4

_PUBLISHED = 1
_REPLAYED = 2

_HEAD = struct.Struct("!IIB")  # frame length, request id, kind
_LEN = struct.Struct("!I")
_STATUS = {code.value[0]: code for code in grpc.StatusCode}


def _field(data: bytes) -> bytes:
    return _LEN.pack(len(data)) + data


def _frame(request_id: int, kind: int, body: bytes) -> bytes:
    return _HEAD.pack(len(body) + 5, request_id, kind) + body


def encode_request(
    request_id: int,
    service: str,
    method: str,
    entity_id: str,
    metadata: entity_pb2.Metadata | None,
    payload: bytes,
) -> bytes:
    meta = metadata.SerializeToString() if metadata is not None else b""
    body = b"".join(
        (
            _field(service.encode()),
            _field(method.encode()),
            _field(entity_id.encode()),
            _field(meta),
            _field(payload),
        )
    )
    return _frame(request_id, REQUEST, body)


def encode_outcome(request_id: int, outcome: Outcome) -> bytes:
    flags = (_PUBLISHED if outcome.published else 0) | (_REPLAYED if outcome.replayed else 0)
    parts = [bytes((flags,)), _field(outcome.client_action.SerializeToString())]
    parts.append(_LEN.pack(len(outcome.side_effects)))
    parts.extend(_field(effect.SerializeToString()) for effect in outcome.side_effects)
    return _frame(request_id, OUTCOME, b"".join(parts))


def encode_error(request_id: int, error: ProxyError) -> bytes:
    body = bytes((error.status.value[0],)) + error.message.encode()
    return _frame(request_id, ERROR, body)


def encode_change(store_id: str, entity_id: str) -> bytes:
    return _frame(0, CHANGE, _field(store_id.encode()) + _field(entity_id.encode()))


def decode_change(body: memoryview) -> tuple[str, str]:
    reader = _Reader(body)
    return reader.field().decode(), reader.field().decode()


def split(body: bytes) -> tuple[int, int, memoryview]:
    """A frame body (without its length) as request id, kind and the rest."""
    request_id, kind = struct.unpack_from("!IB", body)
    return request_id, kind, memoryview(body)[5:]


class _Reader:
    __slots__ = ("at", "data")

    def __init__(self, data: memoryview) -> None:
        self.data = data
        self.at = 0

    def field(self) -> bytes:
        (size,) = _LEN.unpack_from(self.data, self.at)
        start = self.at + 4
        self.at = start + size
        if self.at > len(self.data):
            raise ValueError("truncated frame from a worker")
        return bytes(self.data[start : self.at])

    def count(self) -> int:
        (value,) = _LEN.unpack_from(self.data, self.at)
        self.at += 4
        return int(value)


def decode_request(
    body: memoryview,
) -> tuple[str, str, str, entity_pb2.Metadata | None, bytes]:
    reader = _Reader(body)
    service = reader.field().decode()
    method = reader.field().decode()
    entity_id = reader.field().decode()
    meta = reader.field()
    payload = reader.field()
    metadata = entity_pb2.Metadata.FromString(meta) if meta else None
    return service, method, entity_id, metadata, payload


def decode_outcome(body: memoryview) -> Outcome:
    flags = body[0]
    reader = _Reader(body[1:])
    action = entity_pb2.ClientAction.FromString(reader.field())
    effects = [entity_pb2.SideEffect.FromString(reader.field()) for _ in range(reader.count())]
    return Outcome(
        action, effects, published=bool(flags & _PUBLISHED), replayed=bool(flags & _REPLAYED)
    )


def decode_error(body: memoryview) -> ProxyError:
    status = _STATUS.get(body[0], grpc.StatusCode.UNKNOWN)
    return ProxyError(bytes(body[1:]).decode(errors="replace"), status)
