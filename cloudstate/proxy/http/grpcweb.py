"""gRPC-web framing (the PROTOCOL-WEB spec): what browsers' gRPC libraries send and expect.

A body is a sequence of frames: one flag byte (``0x00`` data, ``0x80`` trailers), a 4-byte
big-endian length, then the bytes. Trailers are ``name: value\\r\\n`` lines in the last frame.
The ``-text`` variants base64-encode the whole body (requests may be several base64 chunks, each
padded). Example::

    frames = decode_frames(body)                     # [b"<request message>"]
    reply = data_frame(payload) + trailer_frame(0, "")
"""

from __future__ import annotations

import base64
import binascii
import struct
from urllib.parse import quote

DATA = 0x00
TRAILERS = 0x80
_HEADER = struct.Struct(">BI")

GRPC_WEB = "application/grpc-web"
GRPC_WEB_TEXT = "application/grpc-web-text"


class FramingError(ValueError):
    """A request body that is not a sequence of gRPC-web frames."""


def is_grpc_web(content_type: str) -> bool:
    return content_type.startswith(GRPC_WEB)


def is_text(content_type: str) -> bool:
    return content_type.startswith(GRPC_WEB_TEXT)


def decode_text(body: bytes) -> bytes:
    """Decode a ``-text`` body: base64, possibly several separately padded chunks."""
    compact = b"".join(body.split())
    out = bytearray()
    pos = 0
    try:
        while pos < len(compact):
            end = compact.find(b"=", pos)
            if end < 0:
                out += base64.b64decode(compact[pos:], validate=True)
                break
            # A chunk ends after its padding ('=' or '==') and a multiple of 4 characters.
            end += 1
            while end < len(compact) and compact[end : end + 1] == b"=":
                end += 1
            out += base64.b64decode(compact[pos:end], validate=True)
            pos = end
    except (binascii.Error, ValueError) as e:
        raise FramingError(f"gRPC-web-text body is not base64: {e}") from None
    return bytes(out)


def decode_frames(body: bytes) -> list[bytes]:
    """The data frames of a request body; FramingError if truncated or compressed."""
    frames: list[bytes] = []
    pos = 0
    while pos < len(body):
        if len(body) - pos < 5:
            raise FramingError("gRPC-web body ends inside a frame header")
        flag, length = _HEADER.unpack_from(body, pos)
        pos += 5
        if pos + length > len(body):
            raise FramingError(
                f"gRPC-web frame says {length} bytes but only {len(body) - pos} follow"
            )
        if flag & 0x01:
            raise FramingError("compressed gRPC-web frames are not supported (send identity)")
        if flag & TRAILERS:
            raise FramingError("a gRPC-web request must not contain a trailer frame")
        frames.append(body[pos : pos + length])
        pos += length
    return frames


def data_frame(payload: bytes) -> bytes:
    return _HEADER.pack(DATA, len(payload)) + payload


def trailer_frame(code: int, message: str, extra: list[tuple[str, str]] | None = None) -> bytes:
    """The trailers frame: ``grpc-status``, ``grpc-message`` (percent-encoded), extras."""
    lines = [f"grpc-status: {code}\r\n"]
    if message:
        lines.append(f"grpc-message: {quote(message, safe=' !#$&()*+,./:;=?@[]^_`{|}~')}\r\n")
    for name, value in extra or ():
        lines.append(f"{name}: {value}\r\n")
    block = "".join(lines).encode("ascii", "replace")
    return _HEADER.pack(TRAILERS, len(block)) + block


def encode_text(data: bytes) -> bytes:
    """Base64 for ``-text`` responses (each chunk self-contained, padded)."""
    return base64.b64encode(data)
