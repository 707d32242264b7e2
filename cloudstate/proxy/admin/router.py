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
from dataclasses import dataclass

from cloudstate.protocol import entity_pb2
from cloudstate.proxy.admin import (  # noqa: F401 - they register
    durable,
    entities,
    eventing,
    workflows,
)
from cloudstate.proxy.admin.operations import OPERATIONS, ProxyState
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
        except ProxyError:
            raise
        except StoreError as error:
            raise StoreUnavailable(
                f"admin operation {method.name}: the store failed ({error}); retry"
            ) from error
        except Exception as error:
            log.exception("admin operation %s failed", method.name)
            raise ProxyError(
                f"admin operation {method.name} failed: {type(error).__name__}: {error}"
            ) from error
        return AdminReply(response.SerializeToString())

    def check_docs_access(self, metadata: entity_pb2.Metadata | None, what: str) -> None:
        """``/openapi.json`` of the admin port: the API's description, behind the same token."""
        self.authenticate(metadata, what)
