"""Exceptions raised by the SDK and by user code through it."""

from __future__ import annotations

import grpc


class CloudStateError(Exception):
    """Base class of the SDK's own errors."""


class UnknownTypeError(CloudStateError, LookupError):
    """A ``google.protobuf.Any`` names a type that no registered descriptor defines."""


class CommandFailure(CloudStateError):
    """Raised by ``ctx.fail()``: the current command fails and the client receives ``description``.

    The exception ends the handler; the SDK turns it into a ``ClientAction.failure`` reply.
    Call ``ctx.fail()`` rather than raising it yourself.
    """

    def __init__(self, description: str, status_code: int = 0) -> None:
        super().__init__(description)
        self.description = description
        #: gRPC status code (``google.rpc.Code`` numbering) for the client; 0 = the proxy's default.
        self.status_code = status_code


def status_code_number(code: grpc.StatusCode | int | None) -> int:
    """The ``google.rpc.Code`` number of ``code``; ``None`` gives 0 (the proxy's default).

    >>> status_code_number(grpc.StatusCode.INVALID_ARGUMENT)
    3
    """
    if code is None:
        return 0
    if isinstance(code, grpc.StatusCode):
        number = code.value[0]
    elif isinstance(code, int) and not isinstance(code, bool):
        number = code
    else:
        raise TypeError(f"status code must be a grpc.StatusCode or an int, not {code!r}")
    if not 0 < number <= 16:
        raise ValueError(f"status code {code!r} is not a failure code (1..16)")
    return int(number)
