"""Admission of client requests: at most ``limit`` are handled at once; up to ``queue_limit``
more wait in line, first come first served, each for at most ``timeout`` seconds; the rest are
refused.

Why a line and not a refusal at once: a client that never backs off re-sends a refused request
at once, so refusing at once turns every excess request into a loop of refusals that keeps the
event loop busy, and every step of the admitted requests then waits behind hundreds of them
(measured: 716 OK/s unloaded fell to 14 to 25 OK/s with 500 such clients and a limit of 50). A
request that waits holds no CPU; its client sends nothing new meanwhile; and a freed slot goes
straight to the first in line, so the limit stays busy. The deadline bounds the wait (and the
latency every admitted request can see); the queue bound bounds the memory of waiting requests.

Example::

    admission = Admission(limit=50, queue_limit=1000, timeout=0.5)
    if not admission.enter_now():
        refusal = await admission.wait()    # None: admitted; else why it was refused
    try:
        ...                                 # handle the request
    finally:
        admission.leave()                   # the slot passes to the first in line
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random

#: Why a request was refused (:meth:`Admission.wait`).
QUEUE_FULL = "queue full"
QUEUE_TIMEOUT = "queue timeout"


class Admission:
    """See the module docstring. ``limit`` 0: no limit (every request enters at once);
    ``queue_limit`` or ``timeout`` 0: no line (refused at once when the limit is reached)."""

    __slots__ = ("_line", "_sweeper", "in_flight", "limit", "queue_limit", "timeout")

    def __init__(self, limit: int, queue_limit: int = 0, timeout: float = 0.0) -> None:
        self.limit = limit
        self.queue_limit = queue_limit
        self.timeout = timeout
        #: Requests admitted and not yet left.
        self.in_flight = 0
        #: (deadline, turn) of each request in line, oldest first: deadlines grow along it.
        self._line: collections.deque[tuple[float, asyncio.Future[bool]]] = collections.deque()
        #: One timer for the whole line, at the first deadline (not one per request).
        self._sweeper: asyncio.TimerHandle | None = None

    @property
    def queued(self) -> int:
        """Requests waiting in line."""
        return len(self._line)

    def enter_now(self) -> bool:
        """Admit at once if a slot is free and nobody waits (first come, first served)."""
        if not self.limit or (self.in_flight < self.limit and not self._line):
            self.in_flight += 1
            return True
        return False

    async def wait(self) -> str | None:
        """Wait in line for a slot: None once admitted (the slot is held, :meth:`leave` frees
        it), else why the request is refused (:data:`QUEUE_FULL`, :data:`QUEUE_TIMEOUT`)."""
        if len(self._line) >= self.queue_limit or self.timeout <= 0:
            return QUEUE_FULL
        loop = asyncio.get_running_loop()
        turn: asyncio.Future[bool] = loop.create_future()
        place = (loop.time() + self.timeout, turn)
        self._line.append(place)
        if self._sweeper is None:
            self._sweeper = loop.call_at(place[0], self._sweep)
        try:
            admitted = await turn
        except asyncio.CancelledError:  # the client went away while waiting
            if turn.done() and not turn.cancelled() and turn.result():
                self.leave()  # the slot was handed over just before: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._line.remove(place)
            raise
        return None if admitted else QUEUE_TIMEOUT

    def _sweep(self) -> None:
        """Refuse the requests whose deadline passed; wake up again at the next deadline."""
        self._sweeper = None
        line = self._line
        loop = asyncio.get_running_loop()
        now = loop.time()
        while line and line[0][0] <= now:
            turn = line.popleft()[1]
            if not turn.done():
                turn.set_result(False)
        if line:
            self._sweeper = loop.call_at(line[0][0], self._sweep)

    def leave(self) -> None:
        """A request admitted earlier is done: its slot goes to the first in line, if any."""
        line = self._line
        while line:
            turn = line.popleft()[1]
            if not turn.done():
                turn.set_result(True)  # in_flight unchanged: the slot changes hands
                return
        self.in_flight -= 1


def retry_hint(timeout: float) -> float:
    """Seconds a refused client should wait before retrying: one to two queue timeouts (1 s
    without a line), spread at random so that the refused do not all come back at once."""
    return (timeout if timeout > 0 else 1.0) * random.uniform(1.0, 2.0)
