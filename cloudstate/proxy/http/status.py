"""Errors and headers over HTTP: the gRPC→HTTP status table, the JSON error body, and the
request-header / reply-metadata conversions with their hop-by-hop deny list.

Example::

    status, body = error_response(grpc.StatusCode.NOT_FOUND, "no cart for alice")
    status                      # 404
    body                        # b'{"code":5,"message":"no cart for alice","details":[]}'
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable

import grpc

from cloudstate.protocol import entity_pb2
from cloudstate.proxy.entities.base import headers_from_metadata

#: The standard mapping (google.rpc.Code ↔ HTTP, as grpc-gateway and Google APIs use it).
HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}


def code_number(status: grpc.StatusCode) -> int:
    number: int = status.value[0]
    return number


def error_body(status: grpc.StatusCode, message: str) -> bytes:
    """The JSON error document: google.rpc.Status's JSON shape."""
    document = {"code": code_number(status), "message": message, "details": []}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def error_response(status: grpc.StatusCode, message: str) -> tuple[int, bytes]:
    """(HTTP status, JSON body) for a gRPC status and message."""
    return HTTP_STATUS.get(status, 500), error_body(status, message)


#: Request headers never passed to the user function as metadata: hop-by-hop headers (RFC 9110
#: §7.6.1), message framing, HTTP/2 pseudo-headers, and transport details of gRPC and gRPC-web.
#: Every other request header (authorization, cookie, x-*, ...) becomes a metadata entry.
DROPPED_REQUEST_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "http2-settings",
        "host",
        "content-length",
        "content-type",
        "expect",
        "accept",
        "accept-encoding",
        "user-agent",
        "access-control-request-method",
        "access-control-request-headers",
        "grpc-timeout",
        "grpc-encoding",
        "grpc-accept-encoding",
        "x-grpc-web",
        "x-user-agent",
    }
)

#: Reply metadata never sent as response headers (they would break the HTTP framing).
DROPPED_RESPONSE_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "content-type",
        "content-encoding",
        "date",
        "server",
    }
)


def metadata_from_http(headers: Iterable[tuple[str, str]]) -> entity_pb2.Metadata | None:
    """Request headers as protocol Metadata, as the gRPC ingress does for gRPC metadata: names
    lower-cased, ``-bin`` headers base64-decoded into bytes entries, the deny list dropped."""
    entries = []
    for name, value in headers:
        key = name.lower()
        if key in DROPPED_REQUEST_HEADERS or key.startswith(":"):
            continue
        if key.endswith("-bin"):
            try:
                data = base64.b64decode(value + "=" * (-len(value) % 4), validate=False)
            except (binascii.Error, ValueError):
                # Not base64: the raw bytes (a non-UTF-8 byte arrives as a surrogate).
                data = value.encode("utf-8", "surrogateescape")
            entries.append(entity_pb2.MetadataEntry(key=key, bytes_value=data))
        else:
            entries.append(entity_pb2.MetadataEntry(key=key, string_value=value))
    return entity_pb2.Metadata(entries=entries) if entries else None


def response_headers(metadata: entity_pb2.Metadata | None) -> list[tuple[str, str]]:
    """Reply metadata as HTTP response headers: bytes entries base64 under ``-bin`` names."""
    if metadata is None:
        return []
    headers = []
    for key, value in headers_from_metadata(metadata):
        if key in DROPPED_RESPONSE_HEADERS or not _token(key):
            continue
        if isinstance(value, bytes):
            headers.append((key, base64.b64encode(value).decode("ascii")))
        elif "\r" not in value and "\n" not in value:
            headers.append((key, value))
    return headers


_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz")


def _token(name: str) -> bool:
    return bool(name) and all(c in _TOKEN_CHARS for c in name)
