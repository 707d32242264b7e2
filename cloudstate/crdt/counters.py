"""Counters: :class:`GCounter` (grow-only) and :class:`PNCounter` (increments and decrements)."""

from __future__ import annotations

from typing import Any

from cloudstate.any_support import AnySupport
from cloudstate.crdt.base import Crdt
from cloudstate.protocol import crdt_pb2

_UINT64_MAX = 2**64 - 1
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _check_int(what: str, n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"{what} takes an int, not {n!r}")
    return n


class GCounter(Crdt):
    """A counter that only grows.

    >>> likes = GCounter()
    >>> likes.increment(3)
    3
    >>> likes.value
    3
    """

    delta_field = "gcounter"

    def __init__(self) -> None:
        self._value = 0
        self._pending = 0

    @property
    def value(self) -> int:
        """The current count."""
        return self._value

    def increment(self, by: int = 1) -> int:
        """Add ``by`` (>= 0) and return the new value."""
        by = _check_int("GCounter.increment()", by)
        if by < 0:
            raise ValueError(
                f"GCounter.increment({by}): a GCounter cannot decrease; use a PNCounter"
            )
        if self._value + by > _UINT64_MAX:
            raise OverflowError(f"GCounter.increment({by}): the value would exceed 2**64 - 1")
        if by:
            self._touch()
        self._value += by
        self._pending += by
        return self._value

    def __int__(self) -> int:
        return self._value

    def __repr__(self) -> str:
        return f"GCounter({self._value})"

    # -- replication ------------------------------------------------------------------------

    def _has_delta(self) -> bool:
        return self._pending != 0

    def _delta_message(self) -> crdt_pb2.GCounterDelta:
        return crdt_pb2.GCounterDelta(increment=self._pending)

    def _state_message(self) -> crdt_pb2.GCounterDelta:
        return crdt_pb2.GCounterDelta(increment=self._value)

    def _reset_delta(self) -> None:
        self._pending = 0

    def _apply(self, delta: Any, any_support: AnySupport) -> None:
        self._value += delta.increment

    def _checkpoint(self) -> Any:
        return self._value, self._pending

    def _rollback(self, token: Any) -> None:
        self._value, self._pending = token


class PNCounter(Crdt):
    """A counter that can be incremented and decremented.

    >>> stock = PNCounter()
    >>> stock.increment(10)
    10
    >>> stock.decrement(3)
    7
    """

    delta_field = "pncounter"

    def __init__(self) -> None:
        self._value = 0
        self._pending = 0

    @property
    def value(self) -> int:
        """The current count."""
        return self._value

    def increment(self, by: int = 1) -> int:
        """Add ``by`` (may be negative) and return the new value."""
        by = _check_int("PNCounter.increment()", by)
        value = self._value + by
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise OverflowError(f"PNCounter: {self._value} + {by} does not fit a signed 64-bit int")
        if by:
            self._touch()
        self._value = value
        self._pending += by
        return value

    def decrement(self, by: int = 1) -> int:
        """Subtract ``by`` and return the new value."""
        return self.increment(-_check_int("PNCounter.decrement()", by))

    def __int__(self) -> int:
        return self._value

    def __repr__(self) -> str:
        return f"PNCounter({self._value})"

    # -- replication ------------------------------------------------------------------------

    def _has_delta(self) -> bool:
        return self._pending != 0

    def _delta_message(self) -> crdt_pb2.PNCounterDelta:
        return crdt_pb2.PNCounterDelta(change=self._pending)

    def _state_message(self) -> crdt_pb2.PNCounterDelta:
        return crdt_pb2.PNCounterDelta(change=self._value)

    def _reset_delta(self) -> None:
        self._pending = 0

    def _apply(self, delta: Any, any_support: AnySupport) -> None:
        self._value += delta.change

    def _checkpoint(self) -> Any:
        return self._value, self._pending

    def _rollback(self, token: Any) -> None:
        self._value, self._pending = token


__all__ = ["GCounter", "PNCounter"]
