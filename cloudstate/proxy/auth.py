"""JWT bearer authentication of client requests (optional: ``pip install 'cloudstate[jwt]'``).

Every client request (gRPC, HTTP/JSON, gRPC-web) must carry ``authorization: Bearer <JWT>``
signed with the configured key, unless its method is allowed anonymously
(``--jwt-allow-anonymous``). Forwards, side effects and eventing deliveries are internal and not
checked again. A refused request gets UNAUTHENTICATED (HTTP 401).

Example::

    auth = JwtAuthenticator(key=b"secret", anonymous=["com.example.Shop/ListProducts"])
    auth.check(method, metadata)     # raises Unauthenticated, or returns the token's claims
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import grpc

from cloudstate import entity_pb2
from cloudstate.proxy.errors import ProxyError
from cloudstate.proxy.model import MethodModel


class Unauthenticated(ProxyError):
    """No valid bearer token (UNAUTHENTICATED, HTTP 401)."""

    status = grpc.StatusCode.UNAUTHENTICATED


class JwtAuthenticator:
    """Checks bearer tokens; see the module docstring.

    ``key`` is an HMAC secret (HS256) or a PEM public key (RS256 / ES256, needs the
    ``cryptography`` package); ``anonymous`` holds ``package.Service/Method``,
    ``package.Service/*`` or ``*`` patterns of methods callable without a token.
    """

    def __init__(
        self,
        key: str | bytes,
        *,
        algorithms: Sequence[str] | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        anonymous: Iterable[str] = (),
    ) -> None:
        try:
            import jwt
        except ImportError as error:  # pragma: no cover - depends on the installation
            raise RuntimeError(
                "JWT authentication needs PyJWT: pip install 'cloudstate[jwt]'"
            ) from error
        self._jwt = jwt
        text = key if isinstance(key, str) else key.decode("latin-1")
        public = text.lstrip().startswith("-----BEGIN")
        self.key: str | bytes = text if public else key
        self.algorithms = list(algorithms or (["RS256", "ES256"] if public else ["HS256"]))
        self.issuer = issuer or None
        self.audience = audience or None
        self.anonymous = {p.strip() for p in anonymous if p.strip()}
        self._open: dict[int, bool] = {}  # by id(MethodModel)

    @classmethod
    def from_file(cls, path: str, **options: Any) -> JwtAuthenticator:
        """The key read from ``path`` (trailing newline of a secret file dropped)."""
        data = Path(path).read_bytes()
        if not data.lstrip().startswith(b"-----BEGIN"):
            data = data.rstrip(b"\r\n")
        return cls(data, **options)

    def is_anonymous(self, method: MethodModel) -> bool:
        open_ = self._open.get(id(method))
        if open_ is None:
            service = method.service.name
            open_ = bool({"*", f"{service}/*", f"{service}/{method.name}"} & self.anonymous)
            self._open[id(method)] = open_
        return open_

    def check(self, method: MethodModel, metadata: entity_pb2.Metadata | None) -> dict[str, Any]:
        """The token's claims; raises :class:`Unauthenticated` if the request may not run."""
        if self.is_anonymous(method):
            return {}
        what = f"{method.service.name}.{method.name}"
        token = _bearer(metadata)
        if token is None:
            raise Unauthenticated(
                f"{what} needs authentication: send the header 'authorization: Bearer <JWT>'"
            )
        try:
            claims: dict[str, Any] = self._jwt.decode(
                token,
                self.key,
                algorithms=self.algorithms,
                issuer=self.issuer,
                audience=self.audience,
                options={"require": ["exp"]},
            )
        except self._jwt.InvalidTokenError as error:
            raise Unauthenticated(
                f"{what} refused: the bearer token is not valid ({error}); get a fresh token"
            ) from None
        return claims


def _bearer(metadata: entity_pb2.Metadata | None) -> str | None:
    if metadata is None:
        return None
    for entry in metadata.entries:
        if entry.key.lower() == "authorization" and entry.HasField("string_value"):
            scheme, _, token = entry.string_value.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None
