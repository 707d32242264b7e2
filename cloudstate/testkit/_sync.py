"""Running the SDK's async entity code from synchronous test code.

Outside an event loop, each thread gets one private loop, created on first use and reused by
every test kit of that thread. Inside a running loop (an ``async def`` test) a sync call cannot
block on another loop; there the coroutine is stepped by hand, which works as long as it never
waits for the loop (sync handlers, ``asyncio.sleep(0)``). Code that really waits must be awaited:
the error names the async method to use.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_local = threading.local()
_loops: list[asyncio.AbstractEventLoop] = []


class NeedsEventLoop(RuntimeError):
    """A sync test-kit call reached code that waits on the event loop inside async code."""


def run_sync(coroutine: Coroutine[Any, Any, T], what: str) -> T:
    """Run ``coroutine`` to completion from synchronous code; ``what`` is its async spelling."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return _step(coroutine, what)
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = asyncio.new_event_loop()
        _local.loop = loop
        _loops.append(loop)
    return loop.run_until_complete(coroutine)


def _step(coroutine: Coroutine[Any, Any, T], what: str) -> T:
    while True:
        try:
            waited = coroutine.send(None)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        if waited is not None:  # a future: only the running loop can resolve it
            coroutine.close()
            raise NeedsEventLoop(
                f"this handler waits on the event loop, which a sync call from async code "
                f"cannot do: use `await {what}`"
            )


@atexit.register
def _close_loops() -> None:
    for loop in _loops:
        if not loop.is_closed() and not loop.is_running():
            loop.close()
