"""Single values: :class:`LWWRegister` (last write wins) and :class:`Flag` (can only be enabled)."""

from __future__ import annotations

from typing import Any

from cloudstate.any_support import AnySupport, pack, stable_key
from cloudstate.crdt.base import Crdt, CrdtClock, frozen_copy
from cloudstate.protocol import crdt_pb2

_NO_VALUE = ("", b"")


class LWWRegister(Crdt):
    """A value where concurrent writes are resolved by a clock: the last write wins.

    Creating a register with a value is a write (it is sent with the next reply)::

        >>> status = LWWRegister("away")
        >>> status.set("online")
        >>> status.value
        'online'
        >>> status.set("first", clock=CrdtClock.REVERSE)  # the earliest write wins

    :param value: the initial value (a Python value or a protobuf message); ``None`` = no value.
    """

    delta_field = "lwwregister"

    def __init__(self, value: Any = None) -> None:
        self._value: Any = None
        self._key = _NO_VALUE
        self._clock = CrdtClock.DEFAULT
        self._custom_clock_value = 0
        self._dirty = False
        if value is not None:
            self.set(value)

    @property
    def value(self) -> Any:
        """The current value (``None`` if none was ever written)."""
        return self._value

    @property
    def clock(self) -> CrdtClock:
        """The clock of the last local write (``DEFAULT`` after a replicated change)."""
        return self._clock

    def set(
        self, value: Any, clock: CrdtClock = CrdtClock.DEFAULT, custom_clock_value: int = 0
    ) -> None:
        """Write ``value``, ordered by ``clock`` against concurrent writes.

        ``custom_clock_value`` is the clock for ``CUSTOM`` / ``CUSTOM_AUTO_INCREMENT``. Writing the
        current value with the same clock is a no-op; with another clock it is a new write.
        """
        clock = CrdtClock(clock)
        if isinstance(custom_clock_value, bool) or not isinstance(custom_clock_value, int):
            raise TypeError(f"custom_clock_value must be an int, not {custom_clock_value!r}")
        key = _NO_VALUE if value is None else stable_key(value)
        if (key, clock, custom_clock_value) == (self._key, self._clock, self._custom_clock_value):
            return
        self._touch()
        self._value = frozen_copy(value)
        self._key = key
        self._clock = clock
        self._custom_clock_value = custom_clock_value
        self._dirty = True

    def __repr__(self) -> str:
        return f"LWWRegister({self._value!r})"

    # -- replication ------------------------------------------------------------------------

    def _has_delta(self) -> bool:
        return self._dirty

    def _delta_message(self) -> crdt_pb2.LWWRegisterDelta:
        delta = crdt_pb2.LWWRegisterDelta(
            clock=self._clock.name, custom_clock_value=self._custom_clock_value
        )
        if self._value is not None:
            delta.value.CopyFrom(pack(self._value))
        return delta

    def _state_message(self) -> crdt_pb2.LWWRegisterDelta:
        return self._delta_message()

    def _reset_delta(self) -> None:
        self._dirty = False

    def _apply(self, delta: Any, any_support: AnySupport) -> None:
        # A replicated value replaces ours and discards a pending local write (e.g. the write
        # made by creating the register, when the proxy already had a value).
        if delta.HasField("value") and delta.value.type_url:
            self._key = (delta.value.type_url, delta.value.value)
            self._value = any_support.unpack_lenient(delta.value)
        else:
            self._key, self._value = _NO_VALUE, None
        self._clock = CrdtClock.DEFAULT
        self._custom_clock_value = 0
        self._dirty = False

    def _checkpoint(self) -> Any:
        return self._value, self._key, self._clock, self._custom_clock_value, self._dirty

    def _rollback(self, token: Any) -> None:
        self._value, self._key, self._clock, self._custom_clock_value, self._dirty = token


class Flag(Crdt):
    """A boolean that starts disabled and, once enabled, stays enabled.

    >>> shipped = Flag()
    >>> shipped.enable()
    >>> shipped.enabled
    True
    """

    delta_field = "flag"

    def __init__(self) -> None:
        self._enabled = False
        self._dirty = False

    @property
    def enabled(self) -> bool:
        """Whether the flag is enabled."""
        return self._enabled

    @property
    def value(self) -> bool:
        """Same as :attr:`enabled`."""
        return self._enabled

    def enable(self) -> None:
        """Enable the flag (no-op if enabled)."""
        if not self._enabled:
            self._touch()
            self._enabled = True
            self._dirty = True

    def __bool__(self) -> bool:
        return self._enabled

    def __repr__(self) -> str:
        return f"Flag({self._enabled})"

    # -- replication ------------------------------------------------------------------------

    def _has_delta(self) -> bool:
        return self._dirty

    def _delta_message(self) -> crdt_pb2.FlagDelta:
        return crdt_pb2.FlagDelta(value=self._dirty)

    def _state_message(self) -> crdt_pb2.FlagDelta:
        return crdt_pb2.FlagDelta(value=self._enabled)

    def _reset_delta(self) -> None:
        self._dirty = False

    def _apply(self, delta: Any, any_support: AnySupport) -> None:
        self._enabled = self._enabled or delta.value

    def _checkpoint(self) -> Any:
        return self._enabled, self._dirty

    def _rollback(self, token: Any) -> None:
        self._enabled, self._dirty = token


__all__ = ["Flag", "LWWRegister"]
