"""Errors the proxy returns to clients, each carrying its gRPC status.

How failures reach clients (documented in docs/proxy-configuration.md):

=====================================================  =========================================
What happened                                          gRPC status
=====================================================  =========================================
user function failed the command (``ctx.fail``)         ``Failure.grpc_status_code`` if set, else
                                                       INVALID_ARGUMENT, with the description
unknown service or method                              UNIMPLEMENTED
request bytes do not parse / entity key missing/empty  INVALID_ARGUMENT, naming the field
user function unreachable or its stream broke          UNAVAILABLE (command not applied)
user function broke the protocol / crashed an entity   INTERNAL
command took longer than the command timeout           DEADLINE_EXCEEDED (entity restarted)
forward / side-effect chain over --max-forward-depth   INTERNAL, naming the hops
store failed to write                                  UNAVAILABLE (command not applied)
concurrent writer on another node                      ABORTED (retry)
idempotency key reused for another request             FAILED_PRECONDITION (HTTP 422)
the entity's stored journal is damaged (a gap, a       DATA_LOSS, naming the entity and the gap
snapshot ahead of its events)                          (other entities keep serving)
=====================================================  =========================================
"""

from __future__ import annotations

import grpc


class ProxyError(Exception):
    """An error with the gRPC status a client should see."""

    status: grpc.StatusCode = grpc.StatusCode.INTERNAL
    #: The HTTP status over HTTP/JSON; 0: the standard one of ``status`` (http/status.py).
    http_status: int = 0

    def __init__(self, message: str, status: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class Overloaded(ProxyError):
    """A limit of the proxy was reached; the request was refused, nothing was applied
    (RESOURCE_EXHAUSTED, HTTP 429). Clients should back off and retry: ``retry_after`` seconds
    is the hint they get (``Retry-After`` over HTTP, ``grpc-retry-pushback-ms`` over gRPC)."""

    status = grpc.StatusCode.RESOURCE_EXHAUSTED

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InternalMethod(ProxyError):
    """A client called a method marked ``(cloudstate.auth) = { internal: true }``
    (PERMISSION_DENIED, HTTP 403): only forwards, side effects, timers and eventing may."""

    status = grpc.StatusCode.PERMISSION_DENIED


class CommandFailed(ProxyError):
    """The user function failed the command on purpose (``ClientAction.failure``)."""

    status = grpc.StatusCode.INVALID_ARGUMENT


class BadRequest(ProxyError):
    """The client's request cannot be routed: bad bytes, missing entity key, ..."""

    status = grpc.StatusCode.INVALID_ARGUMENT


class UnknownMethod(ProxyError):
    status = grpc.StatusCode.UNIMPLEMENTED


class UserFunctionUnavailable(ProxyError):
    """The user function could not be reached, or its entity stream broke mid-command."""

    status = grpc.StatusCode.UNAVAILABLE


class ProtocolError(ProxyError):
    """The user function sent something the protocol does not allow."""

    status = grpc.StatusCode.INTERNAL


class ForwardLoop(ProxyError):
    """A chain of forwards / side effects exceeded ``--max-forward-depth`` (probably a loop)."""

    status = grpc.StatusCode.INTERNAL


class CommandTimeout(ProxyError):
    status = grpc.StatusCode.DEADLINE_EXCEEDED


class StoreUnavailable(ProxyError):
    status = grpc.StatusCode.UNAVAILABLE


class DataLoss(ProxyError):
    """An entity's stored state cannot be loaded as it was written (a damaged journal): its
    commands fail until the store is repaired (DATA_LOSS, HTTP 500); retrying does not help."""

    status = grpc.StatusCode.DATA_LOSS


class DiscoveryError(Exception):
    """The user function's entity spec cannot be served (reported to it with reportError)."""

    #: Already logged as an ERROR line by discovery: the command line adds no second one.
    logged: bool = False


_CODES_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


def status_from_number(number: int, default: grpc.StatusCode) -> grpc.StatusCode:
    """Map a google.rpc.Code number to a StatusCode; 0 (OK) or unknown numbers give ``default``."""
    if number == 0:
        return default
    return _CODES_BY_NUMBER.get(number, default)
