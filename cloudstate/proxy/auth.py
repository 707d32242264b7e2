"""JWT bearer authentication of client requests (optional: the ``jwt`` extra).

Every client request (gRPC, HTTP/JSON, gRPC-web) must carry ``authorization: Bearer <JWT>``
signed with the configured key, unless its method is allowed anonymously
(``--jwt-allow-anonymous``, or ``allow_anonymous`` in the proto: ``cloudstate/auth.proto``). A
rule in the proto may also require claims (``require: { claim: "role" value: "admin" }``): a
valid token without them gets PERMISSION_DENIED (HTTP 403). Forwards, side effects and eventing
deliveries are internal and not checked again. A refused request gets UNAUTHENTICATED (HTTP 401).

Example::

    auth = JwtAuthenticator(key=b"secret", anonymous=["com.example.Shop/ListProducts"])
    auth.use_proto_rules(model)      # the cloudstate.auth options of the discovered methods
    auth.check(method, metadata)     # raises Unauthenticated, or returns the token's claims
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from cloudstate.protocol import entity_pb2
from cloudstate.proxy.errors import ProxyError
from cloudstate.proxy.model import MethodModel, UserFunctionModel, auth_options


class Unauthenticated(ProxyError):
    """No valid bearer token (UNAUTHENTICATED, HTTP 401)."""

    status = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(ProxyError):
    """A valid token without the claims the method requires (PERMISSION_DENIED, HTTP 403)."""

    status = grpc.StatusCode.PERMISSION_DENIED


@dataclass(frozen=True, slots=True)
class AuthRule:
    """The ``cloudstate.auth`` rule of one method (its own, else its service's)."""

    anonymous: bool = False
    #: (claim, value) pairs the token must carry.
    claims: tuple[tuple[str, str], ...] = ()


_NO_RULE = AuthRule()


def proto_rules(model: UserFunctionModel) -> dict[tuple[str, str], AuthRule]:
    """The rules declared in the discovered protos, by (service, method); methods without one
    (and whose service has none) are left out."""
    return {where: _rule(auth) for where, auth in auth_options(model).items()}


def _rule(auth: Any) -> AuthRule:
    claims = tuple((r.claim, r.value) for r in auth.require)
    return AuthRule(anonymous=auth.allow_anonymous, claims=claims)


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
                "JWT authentication needs PyJWT: pip install pyjwt (the jwt extra)"
            ) from error
        self._jwt = jwt
        text = key if isinstance(key, str) else key.decode("latin-1")
        public = text.lstrip().startswith("-----BEGIN")
        self.key: str | bytes = text if public else key
        self.algorithms = list(algorithms or (["RS256", "ES256"] if public else ["HS256"]))
        usable_algorithms(jwt, self.key, self.algorithms)  # raises ValueError: not a usable key
        self.issuer = issuer or None
        self.audience = audience or None
        self.anonymous = {p.strip() for p in anonymous if p.strip()}
        self._open: dict[int, bool] = {}  # by id(MethodModel)
        self.rules: dict[tuple[str, str], AuthRule] = {}

    def use_proto_rules(self, model: UserFunctionModel) -> None:
        """Honour the ``cloudstate.auth`` options of the discovered methods."""
        self.rules = proto_rules(model)
        self._open.clear()

    @classmethod
    def from_file(cls, path: str, **options: Any) -> JwtAuthenticator:
        """The key read from ``path`` (trailing newline of a secret file dropped)."""
        return cls(read_key(path), **options)

    def is_anonymous(self, method: MethodModel) -> bool:
        open_ = self._open.get(id(method))
        if open_ is None:
            service = method.service.name
            open_ = bool({"*", f"{service}/*", f"{service}/{method.name}"} & self.anonymous)
            open_ = open_ or self.rules.get((service, method.name), _NO_RULE).anonymous
            self._open[id(method)] = open_
        return open_

    def check_token(self, metadata: entity_pb2.Metadata | None, what: str) -> dict[str, Any]:
        """The claims of the request's valid bearer token; :class:`Unauthenticated` naming
        ``what`` (a method, "server reflection", "/openapi.json") if there is none."""
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
        except (self._jwt.PyJWTError, ValueError, TypeError, NotImplementedError) as error:
            # Any failure to decode a client's token is the client's: 401, never a 500 (PyJWT
            # raises InvalidKeyError, outside InvalidTokenError, for some header/key mismatches).
            raise Unauthenticated(
                f"{what} refused: the bearer token is not valid ({_short(error)}); "
                "get a fresh token"
            ) from None
        return claims

    def check(self, method: MethodModel, metadata: entity_pb2.Metadata | None) -> dict[str, Any]:
        """The token's claims; raises :class:`Unauthenticated` if the request may not run."""
        if self.is_anonymous(method):
            return {}
        what = f"{method.service.name}.{method.name}"
        claims = self.check_token(metadata, what)
        rule = self.rules.get((method.service.name, method.name))
        if rule is not None:
            for claim, value in rule.claims:
                if not has_claim(claims.get(claim), value):
                    raise PermissionDenied(
                        f"{what} requires the token claim {claim}={value!r} "
                        f"(cloudstate.auth option in the proto); the token has "
                        f"{claim}={claims.get(claim)!r}"
                    )
        return claims


def read_key(path: str) -> bytes:
    """The content of a ``--jwt-key`` file (trailing newline of a secret dropped); raises
    OSError."""
    data = Path(path).read_bytes()
    if not data.lstrip().startswith(b"-----BEGIN"):
        data = data.rstrip(b"\r\n")
    return data


def usable_algorithms(jwt: Any, key: str | bytes, wanted: Sequence[str]) -> list[str]:
    """The algorithms of ``wanted`` that can check tokens with ``key``; raises ValueError
    saying why when there is none."""
    if not key.strip():
        raise ValueError("empty: an HMAC secret (HS256) or a PEM public key (RS256 / ES256)")
    usable: list[str] = []
    reasons: list[str] = []
    for name in wanted:
        try:
            jwt.get_algorithm_by_name(name).prepare_key(key)
        except NotImplementedError:
            reasons.append(f"{name} needs the cryptography package (pip install cryptography)")
        except (jwt.PyJWTError, ValueError, TypeError) as error:
            reasons.append(f"{name}: {_short(error)}")
        else:
            usable.append(name)
    if not usable:
        raise ValueError(f"not a key of {' / '.join(wanted)} ({'; '.join(reasons)})")
    return usable


def key_problem(path: str) -> str | None:
    """Why the ``--jwt-key`` file at ``path`` cannot check tokens (the start-up config check),
    or None when it can."""
    try:
        data = read_key(path)
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
    try:
        JwtAuthenticator(data)
    except (ValueError, RuntimeError) as error:
        return str(error)
    return None


def _short(error: BaseException) -> str:
    """One line of an exception's text, at most 120 characters."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def has_claim(actual: Any, wanted: str) -> bool:
    """Whether a token's claim value ``actual`` (a string, a list of them, a boolean) holds
    ``wanted``."""
    if isinstance(actual, list | tuple):
        return any(str(item) == wanted for item in actual)
    if isinstance(actual, bool):  # JSON true/false against "true"/"false"
        return str(actual).lower() == wanted.lower()
    return actual is not None and str(actual) == wanted


def _bearer(metadata: entity_pb2.Metadata | None) -> str | None:
    if metadata is None:
        return None
    for entry in metadata.entries:
        if entry.key.lower() == "authorization" and entry.HasField("string_value"):
            scheme, _, token = entry.string_value.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None
