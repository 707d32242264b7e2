"""The event loop the proxy runs on (``cloudstate proxy``, ``cloudstate run``): uvloop when it is
installed.

uvloop (libuv, compiled) costs the proxy less CPU per command than asyncio's default selector
loop: on the event-sourced cart at c=64, 0.76 ms instead of 0.92-1.12 ms over native gRPC and
0.40-0.48 ms instead of 0.58-0.69 ms over HTTP/JSON (benchmarks/README.md). grpc.aio, aiohttp
and our client-port relay work on both loops. The SDK's user function stays on asyncio's loop:
there uvloop made no difference beyond the noise (the cart driven directly, 0.20-0.24 vs
0.20-0.22 ms per command; grpc.aio's own work dominates).

``CLOUDSTATE_EVENT_LOOP=asyncio`` keeps the standard loop (to rule uvloop out when debugging);
``uvloop`` insists on it (an error if it is not installed); unset or ``auto``: uvloop if
importable.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

from cloudstate.proxy.config import ConfigError  # a ValueError the CLI prints plainly

T = TypeVar("T")

ENV = "CLOUDSTATE_EVENT_LOOP"
CHOICES = ("auto", "uvloop", "asyncio")


def chosen() -> str:
    """``uvloop`` or ``asyncio``: the loop :func:`run` will use."""
    choice = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if choice not in CHOICES:
        raise ConfigError([f"{ENV}={choice!r} is not one of {', '.join(CHOICES)}"])
    if choice == "asyncio":
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        if choice == "uvloop":
            raise ConfigError(
                [f"{ENV}=uvloop but uvloop is not installed (pip install uvloop)"]
            ) from None
        return "asyncio"
    return "uvloop"


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the chosen loop."""
    try:
        loop = chosen()
    except BaseException:
        main.close()  # never started: no "coroutine was never awaited" warning
        raise
    if loop == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)
