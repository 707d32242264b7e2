"""Page tokens for view queries (in the manner of Google's AIP-158).

A query method pages with tokens when its response message has a string field
``next_page_token`` and its request message a string field ``page_token``. The query must have a
``LIMIT`` (usually ``LIMIT :page_size``): that is the page size. The proxy fetches one row more
than the page to know whether another page follows, and answers a token for it (empty after the
last page); the client sends the token back in ``page_token`` with otherwise the same request.

The token is an offset, not a key: version byte, the offset of the next page, a digest of the
query's identity and of the request without its page token and page size, and a check over all
of it, base64url-encoded. A token of another query or of a request with other parameters, or one
that is not a token at all, is refused with INVALID_ARGUMENT naming ``page_token``. The check
catches altered tokens; it is not a secret signature (a token only carries an offset, which a
client could as well ask for with ``OFFSET``). Example::

    paging = Paging.for_method(request_type, response_type, parsed, "shop.Top.Page", identity)
    offset = paging.offset_of(request)                     # 0 without a token
    token = paging.token_for(request, offset + page_size)  # the next page's token
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from cloudstate.proxy.errors import BadRequest, DiscoveryError
from cloudstate.proxy.views.query import Param, ParsedQuery

PAGE_TOKEN = "page_token"
NEXT_PAGE_TOKEN = "next_page_token"
_VERSION = 1
_LAYOUT = struct.Struct(">BQ8s")  # version, offset, digest of query and request
_CHECK_SIZE = 8


def _string_field(message: Descriptor, name: str) -> FieldDescriptor | None:
    return message.fields_by_name.get(name)


def _is_single_string(fd: FieldDescriptor) -> bool:
    return fd.type == FieldDescriptor.TYPE_STRING and not fd.is_repeated


@dataclass(frozen=True, slots=True)
class Paging:
    """How one query method pages: its token fields and what a token must match."""

    identity: bytes  # the method, its query text and the table layout
    token_field: FieldDescriptor  # the request's page_token
    next_token_field: FieldDescriptor  # the response's next_page_token
    page_size_path: str | None  # the LIMIT parameter (left out of the request digest)

    @classmethod
    def for_method(
        cls,
        request_type: Descriptor,
        response_type: Descriptor,
        parsed: ParsedQuery,
        where: str,
        identity: str,
    ) -> Paging | None:
        """The paging of a query returning ``response_type`` (None: it does not page);
        DiscoveryError naming ``where`` and the field if the fields do not fit."""
        next_token = _string_field(response_type, NEXT_PAGE_TOKEN)
        if next_token is None:
            return None
        token = _string_field(request_type, PAGE_TOKEN)
        problems: list[str] = []
        if not _is_single_string(next_token):
            problems.append(
                f"{response_type.full_name}.{NEXT_PAGE_TOKEN} must be a (single) string to page "
                "with tokens"
            )
        if token is None:
            problems.append(
                f"{response_type.full_name} has {NEXT_PAGE_TOKEN}, so the request "
                f"{request_type.full_name} needs a string field {PAGE_TOKEN}"
            )
        elif not _is_single_string(token):
            problems.append(f"{request_type.full_name}.{PAGE_TOKEN} must be a (single) string")
        if parsed.limit is None:
            problems.append(
                "a query paged with tokens needs a LIMIT (the page size, e.g. LIMIT :page_size)"
            )
        if parsed.offset is not None:
            problems.append("a query paged with tokens cannot have an OFFSET (the token is one)")
        if problems:
            raise DiscoveryError("; ".join(f"{where}: {p}" for p in problems))
        assert token is not None
        size_path = parsed.limit.path if isinstance(parsed.limit, Param) else None
        return cls(identity.encode(), token, next_token, size_path)

    def _digest(self, request: Message) -> bytes:
        """The query and the request's parameters (not its token nor its page size, which
        AIP-158 lets a client change from page to page)."""
        copy = type(request)()
        copy.CopyFrom(request)
        copy.ClearField(self.token_field.name)
        if self.page_size_path is not None:
            *outer, leaf = self.page_size_path.split(".")
            holder: Message = copy
            for name in outer:
                holder = getattr(holder, name)
            holder.ClearField(leaf)
        body = copy.SerializeToString(deterministic=True)
        return hashlib.sha256(self.identity + b"\0" + body).digest()[:8]

    def _check(self, body: bytes) -> bytes:
        return hashlib.sha256(b"view-page-token\0" + self.identity + body).digest()[:_CHECK_SIZE]

    def token_for(self, request: Message, offset: int) -> str:
        """The token of the page starting at ``offset`` for ``request``."""
        body = _LAYOUT.pack(_VERSION, offset, self._digest(request))
        return base64.urlsafe_b64encode(body + self._check(body)).rstrip(b"=").decode()

    def offset_of(self, request: Message) -> int:
        """Where the request's page starts: 0 without a token; BadRequest naming the field if
        the token is malformed, altered, or issued for another query or other parameters."""
        text: str = getattr(request, self.token_field.name)
        if not text:
            return 0
        name = self.token_field.name
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            raw = b""
        body, check = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
        if len(raw) != _LAYOUT.size + _CHECK_SIZE or check != self._check(body):
            raise BadRequest(
                f"{name}: not a page token of this query (malformed or altered): {text[:40]!r}"
            )
        version, offset, digest = _LAYOUT.unpack(body)
        if version != _VERSION:
            raise BadRequest(f"{name}: unsupported page token version {version}")
        if digest != self._digest(request):
            raise BadRequest(
                f"{name}: the token was issued for a request with other parameters: send the "
                f"same request as for the first page, with only {name} (and the page size) changed"
            )
        return int(offset)
