"""Authentication and dispatch of admin calls, the same for gRPC and HTTP/JSON (both transports
call :meth:`AdminRouter.call` with the request bytes and the request's headers).

With ``--jwt-key`` every admin operation needs a valid bearer token (UNAUTHENTICATED, HTTP 401,
without one), carrying the ``--admin-jwt-claim`` if one is set (PERMISSION_DENIED, HTTP 403,
without it); ``--jwt-allow-anonymous`` and the user's ``cloudstate.auth`` rules apply to the
client port only, never here. Example::

    router = AdminRouter(proxy, auth)               # auth: a JwtAuthenticator or None
    reply = await router.call(method, request_bytes, metadata)
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from cloudstate.protocol import entity_pb2
from cloudstate.proxy.admin import (  # noqa: F401 - they register
    call,
    describe,
    durable,
    entities,
    eventing,
    health,
    workflows,
)
from cloudstate.proxy.admin.operations import OPERATIONS, STREAMS, ProxyState
from cloudstate.proxy.auth import JwtAuthenticator, PermissionDenied, has_claim
from cloudstate.proxy.errors import ProxyError, StoreUnavailable, UnknownMethod
from cloudstate.proxy.model import MethodModel
from cloudstate.proxy.stores.base import StoreError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AdminReply:
    """What the transports send back: the response message's bytes (no response headers)."""

    payload: bytes
    metadata: entity_pb2.Metadata | None = None


class AdminRouter:
    """See the module docstring."""

    def __init__(
        self,
        proxy: ProxyState,
        auth: JwtAuthenticator | None,
        claim: tuple[str, str] | None = None,
    ) -> None:
        self.proxy = proxy
        self.auth = auth
        #: ``--admin-jwt-claim``: (claim, value) the token must carry.
        self.claim = claim

    def authenticate(self, metadata: entity_pb2.Metadata | None, what: str) -> None:
        """Raises Unauthenticated when JWT is on and the request has no valid token,
        PermissionDenied when the token lacks ``--admin-jwt-claim``."""
        if self.auth is None:
            return
        claims = self.auth.check_token(metadata, what)
        if self.claim is not None:
            name, value = self.claim
            if not has_claim(claims.get(name), value):
                raise PermissionDenied(
                    f"{what} needs a token with the claim {name}={value!r} "
                    f"(--admin-jwt-claim); this token has {name}={claims.get(name)!r}"
                )

    async def call(
        self, method: MethodModel, payload: bytes, metadata: entity_pb2.Metadata | None
    ) -> AdminReply:
        self.authenticate(metadata, f"admin operation {method.name}")
        handler = OPERATIONS.get(method.name)
        if handler is None:
            raise UnknownMethod(
                f"admin operation {method.name} is declared in admin.proto but not implemented "
                "by this proxy"
            )
        request = method.parse(payload)
        try:
            response = await handler(request, self.proxy)
        except Exception as error:
            raise _failure(method, error) from error
        return AdminReply(response.SerializeToString())

    async def stream(
        self,
        method: MethodModel,
        requests: bytes | AsyncIterator[bytes],
        metadata: entity_pb2.Metadata | None,
    ) -> AsyncIterator[AdminReply]:
        """A server-streaming operation (``CallMethod``): one reply per response message."""
        self.authenticate(metadata, f"streamed admin operation {method.name}")
        handler = STREAMS.get(method.name)
        if handler is None or not isinstance(requests, bytes):
            raise UnknownMethod(
                f"admin operation {method.name} is declared in admin.proto but not implemented "
                "by this proxy as a streamed operation"
            )
        request = method.parse(requests)
        replies = handler(request, self.proxy, metadata)
        try:
            async for response in replies:
                yield AdminReply(response.SerializeToString())
        except Exception as error:
            raise _failure(method, error) from error
        finally:
            aclose = getattr(replies, "aclose", None)
            if aclose is not None:
                await aclose()

    def check_docs_access(self, metadata: entity_pb2.Metadata | None, what: str) -> None:
        """``/openapi.json`` of the admin port: the API's description, behind the same token."""
        self.authenticate(metadata, what)


def _failure(method: MethodModel, error: Exception) -> ProxyError:
    """What an operation's exception answers: its own status for a ProxyError, UNAVAILABLE for
    a store failure, INTERNAL (logged) for anything else."""
    if isinstance(error, ProxyError):
        return error
    if isinstance(error, StoreError):
        return StoreUnavailable(f"admin operation {method.name}: the store failed ({error}); retry")
    log.exception("admin operation %s failed", method.name, exc_info=error)
    return ProxyError(f"admin operation {method.name} failed: {type(error).__name__}: {error}")
