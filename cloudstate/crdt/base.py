"""What every CRDT of the SDK has in common: delta bookkeeping and the wire oneof it maps to.

The proxy owns the replicated CRDT; the user function holds its current *value* and records the
changes made by command handlers as a *delta*. After each command the SDK sends one aggregated
delta (``CrdtReply.state_action.update``) and resets it; deltas the proxy sends (other replicas'
changes) are applied to the value without being echoed back.

The methods starting with an underscore form the replication interface used by the SDK
(servicer, :class:`~cloudstate.crdt.ORMap`) and the tests; user code only calls the public
operations of each type.
"""

from __future__ import annotations

import abc
import copy
import enum
from typing import Any, ClassVar

from google.protobuf.message import Message

from cloudstate import crdt_pb2
from cloudstate.any_support import AnySupport, from_stable_key, stable_key


class CrdtClock(enum.IntEnum):
    """Which clock orders :class:`~cloudstate.crdt.LWWRegister` writes (``crdt.proto``).

    * ``DEFAULT``: the proxy's wall clock (millis), the last write wins;
    * ``REVERSE``: the clock negated, the *first* write wins;
    * ``CUSTOM``: ``custom_clock_value`` is the clock;
    * ``CUSTOM_AUTO_INCREMENT``: ``custom_clock_value``, raised to current + 1 if not newer.
    """

    DEFAULT = crdt_pb2.DEFAULT
    REVERSE = crdt_pb2.REVERSE
    CUSTOM = crdt_pb2.CUSTOM
    CUSTOM_AUTO_INCREMENT = crdt_pb2.CUSTOM_AUTO_INCREMENT


class WriteConsistency(enum.IntEnum):
    """How many replicas the proxy must update before it replies (``CrdtWriteConsistency``)."""

    LOCAL = crdt_pb2.LOCAL
    MAJORITY = crdt_pb2.MAJORITY
    ALL = crdt_pb2.ALL


class CrdtError(Exception):
    """A delta does not fit the CRDT it is applied to (a protocol violation by the proxy)."""


#: ``CrdtDelta`` oneof field name -> CRDT class (filled by :class:`Crdt` subclasses).
_TYPES: dict[str, type[Crdt]] = {}


class Crdt(abc.ABC):
    """Base class of the eight CRDT types. Not instantiated directly."""

    #: The ``CrdtDelta`` oneof member of this type (``"gcounter"``, ``"ormap"``, ...).
    delta_field: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        field = cls.__dict__.get("delta_field")
        if field is not None:
            _TYPES[field] = cls

    # -- replication interface (used by the SDK) ------------------------------------------------

    @abc.abstractmethod
    def _has_delta(self) -> bool:
        """Whether local operations changed the value since the last :meth:`_reset_delta`."""

    @abc.abstractmethod
    def _delta_message(self) -> Message:
        """The pending delta as this type's delta message (``GCounterDelta``, ...)."""

    @abc.abstractmethod
    def _state_message(self) -> Message:
        """The whole value as a delta creating it from empty (for ``ORMapDelta.added``)."""

    @abc.abstractmethod
    def _reset_delta(self) -> None:
        """Forget the pending delta (it was sent)."""

    @abc.abstractmethod
    def _apply(self, delta: Any, any_support: AnySupport) -> None:
        """Apply a proxy delta of this type's delta message."""

    @abc.abstractmethod
    def _checkpoint(self) -> Any:
        """An opaque token from which :meth:`_rollback` restores the value and pending delta."""

    @abc.abstractmethod
    def _rollback(self, token: Any) -> None:
        """Restore what :meth:`_checkpoint` saved (a failed command's changes are undone)."""

    def _delta(self) -> crdt_pb2.CrdtDelta:
        """The pending delta wrapped in a ``CrdtDelta``."""
        return _wrap(self.delta_field, self._delta_message())

    def _state_delta(self) -> crdt_pb2.CrdtDelta:
        """The whole value wrapped in a ``CrdtDelta``."""
        return _wrap(self.delta_field, self._state_message())

    def _apply_delta(self, delta: crdt_pb2.CrdtDelta, any_support: AnySupport) -> None:
        """Apply a delta received from the proxy."""
        which = delta.WhichOneof("delta")
        if which != self.delta_field:
            raise CrdtError(
                f"received a {which or 'empty'} delta for a {type(self).__name__} "
                f"(expected a {self.delta_field} delta)"
            )
        self._apply(getattr(delta, which), any_support)


def _wrap(field: str, message: Message) -> crdt_pb2.CrdtDelta:
    delta = crdt_pb2.CrdtDelta()
    getattr(delta, field).CopyFrom(message)
    return delta


def crdt_from_delta(delta: crdt_pb2.CrdtDelta, any_support: AnySupport) -> Crdt:
    """A new CRDT of the delta's type holding the delta's value (``init`` and ``ORMap`` adds)."""
    which = delta.WhichOneof("delta")
    cls = _TYPES.get(which or "")
    if cls is None:
        raise CrdtError(f"cannot create a CRDT from a {which or 'empty'} delta")
    crdt = cls()
    crdt._apply(getattr(delta, which or ""), any_support)
    crdt._reset_delta()
    return crdt


class Elements:
    """An insertion-ordered collection of values identified by their stable encoding.

    Set elements and map keys are Python values or protobuf messages; two values are the same
    element when they encode to the same ``Any`` (see :func:`cloudstate.any_support.stable_key`).
    Values received from the proxy keep the exact encoding they arrived with.
    """

    __slots__ = ("_items",)

    def __init__(self, items: dict[tuple[str, bytes], Any] | None = None) -> None:
        self._items: dict[tuple[str, bytes], Any] = {} if items is None else items

    @staticmethod
    def key(value: Any) -> tuple[str, bytes]:
        return stable_key(value)

    @staticmethod
    def decode(packed: Any, any_support: AnySupport) -> tuple[tuple[str, bytes], Any]:
        return (packed.type_url, packed.value), any_support.unpack_lenient(packed)

    @staticmethod
    def encode(key: tuple[str, bytes]) -> Any:
        return from_stable_key(key)

    def copy(self) -> Elements:
        return Elements(dict(self._items))

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def put(self, key: tuple[str, bytes], value: Any) -> None:
        self._items[key] = value

    def pop(self, key: tuple[str, bytes]) -> Any:
        return self._items.pop(key)

    def discard(self, key: tuple[str, bytes]) -> None:
        self._items.pop(key, None)

    def clear(self) -> None:
        self._items.clear()

    def keys(self) -> list[tuple[str, bytes]]:
        return list(self._items)

    def values(self) -> list[Any]:
        return list(self._items.values())

    def items(self) -> list[tuple[tuple[str, bytes], Any]]:
        return list(self._items.items())

    def anys(self) -> list[Any]:
        return [from_stable_key(k) for k in self._items]


class _Rendered(str):
    """Already rendered text for :func:`short_repr`."""


def rendered(text: str) -> str:
    return _Rendered(text)


def frozen_copy(value: Any) -> Any:
    """A private copy of a mutable value stored in a CRDT (so later edits cannot change it)."""
    return copy.deepcopy(value) if isinstance(value, dict | list | Message) else value


def short_repr(values: list[Any], limit: int = 8) -> str:
    """``repr`` of the first ``limit`` values, comma-separated (strings are shown as they are)."""
    shown = ", ".join(v if isinstance(v, _Rendered) else repr(v) for v in values[:limit])
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")


__all__ = [
    "Crdt",
    "CrdtClock",
    "CrdtError",
    "Elements",
    "WriteConsistency",
    "crdt_from_delta",
]
