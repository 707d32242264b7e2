"""What every CRDT of the SDK has in common: delta bookkeeping and the wire oneof it maps to.

The proxy owns the replicated CRDT; the user function holds its current *value* and records the
changes made by command handlers as a *delta*. After each command the SDK sends one aggregated
delta (``CrdtReply.state_action.update``) and resets it; deltas the proxy sends (other replicas'
changes) are applied to the value without being echoed back.

The methods starting with an underscore form the replication interface used by the SDK
(servicer, :class:`~cloudstate.crdt.ORMap`) and the tests; user code only calls the public
operations of each type.

Every operation that changes a CRDT first calls :meth:`Crdt._touch`, which

* registers the CRDT with the running :class:`Transaction` (the servicer runs each command in one)
  so a failed command's changes can be undone: scalar types save their few fields, collections
  return an :class:`UndoLog` in which each change records its inverse (no copy of the whole
  collection);
* marks the CRDT as changed in the :class:`~cloudstate.crdt.ORMap` holding it, so a map finds its
  changed values without scanning all of them.
"""

from __future__ import annotations

import abc
import copy
import enum
from collections.abc import Callable, Iterable
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, ClassVar

from google.protobuf.message import Message

from cloudstate.any_support import AnySupport, from_stable_key, stable_key
from cloudstate.protocol import crdt_pb2

if TYPE_CHECKING:
    from types import TracebackType


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

#: The running transaction's journal: ``id(crdt) -> (crdt, checkpoint)``, first change first.
_JOURNAL: ContextVar[dict[int, tuple[Crdt, Any]] | None] = ContextVar("crdt_journal", default=None)


class Transaction:
    """Records the CRDTs changed while it is active, so their changes can be undone.

    ::

        with Transaction() as changes:
            counter.increment(5)
            changes.rollback()  # counter is back where it was, pending delta included
    """

    def __init__(self) -> None:
        self._journal: dict[int, tuple[Crdt, Any]] = {}
        self._token: Token[dict[int, tuple[Crdt, Any]] | None] | None = None

    def __enter__(self) -> Transaction:
        self._token = _JOURNAL.set(self._journal)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _JOURNAL.reset(self._token)
            self._token = None

    def rollback(self) -> None:
        """Undo every change made in the transaction so far (latest first)."""
        for crdt, checkpoint in reversed(list(self._journal.values())):
            crdt._rollback(checkpoint)
        self._journal.clear()


class Crdt(abc.ABC):
    """Base class of the eight CRDT types. Not instantiated directly."""

    #: The ``CrdtDelta`` oneof member of this type (``"gcounter"``, ``"ormap"``, ...).
    delta_field: ClassVar[str]
    #: The map (an ORMap) holding this CRDT as a value, and the key's encoding (set by the map).
    _parent: Crdt | None = None
    _parent_key: tuple[str, bytes] = ("", b"")

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
        """A token from which :meth:`_rollback` restores this CRDT's own value and pending
        delta (an ORMap's values take their own checkpoints when they change)."""

    @abc.abstractmethod
    def _rollback(self, token: Any) -> None:
        """Restore what :meth:`_checkpoint` saved (a failed command's changes are undone)."""

    def _child_touched(self, key: tuple[str, bytes]) -> None:
        """A CRDT this one holds under ``key`` is about to change (only maps hold others)."""
        raise CrdtError(f"a {type(self).__name__} holds no other CRDT")

    def _touch(self) -> UndoLog | None:
        """Called by every operation just before it changes this CRDT (see the module doc).

        Returns the undo log to record the change in, when the CRDT keeps one and a transaction
        is running.
        """
        journal = _JOURNAL.get()
        checkpoint = None
        if journal is not None:
            entry = journal.get(id(self))
            if entry is None:
                entry = journal[id(self)] = (self, self._checkpoint())
            checkpoint = entry[1]
        parent = self._parent
        if parent is not None:
            parent._child_touched(self._parent_key)
        return checkpoint if isinstance(checkpoint, UndoLog) else None

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


class UndoLog(list[Callable[[], object]]):
    """The inverse operations of a collection's changes in one transaction, oldest first."""

    def undo(self) -> None:
        for inverse in reversed(self):
            inverse()
        self.clear()


def log_put(d: dict[Any, Any], key: Any, value: Any, log: UndoLog | None) -> None:
    """``d[key] = value``, recording the inverse in ``log``."""
    if log is not None:
        if key in d:
            old = d[key]
            log.append(lambda: d.__setitem__(key, old))
        else:
            log.append(lambda: d.pop(key, None))
    d[key] = value


def log_pop(d: dict[Any, Any], key: Any, log: UndoLog | None) -> Any:
    """``d.pop(key, None)``, recording the inverse in ``log``."""
    if key not in d:
        return None
    old = d.pop(key)
    if log is not None:
        log.append(lambda: d.__setitem__(key, old))
    return old


def log_clear(d: dict[Any, Any], log: UndoLog | None) -> None:
    """``d.clear()``, recording the inverse in ``log``."""
    if log is not None and d:
        saved = dict(d)
        log.append(lambda: d.update(saved))
    d.clear()


def log_attr(obj: object, name: str, value: Any, log: UndoLog | None) -> None:
    """``setattr(obj, name, value)``, recording the inverse in ``log``."""
    if log is not None:
        old = getattr(obj, name)
        log.append(lambda: setattr(obj, name, old))
    setattr(obj, name, value)


Key = tuple[str, bytes]


def element_key(value: Any) -> Key:
    """The identity of a set element or map key: its stable encoding."""
    return stable_key(value)


def decode_element(packed: Any, any_support: AnySupport) -> tuple[Key, Any]:
    """A received element's identity (its exact encoding) and decoded value."""
    return (packed.type_url, packed.value), any_support.unpack_lenient(packed)


def encode_keys(keys: Iterable[Key]) -> list[Any]:
    """The ``Any`` of each identity."""
    return [from_stable_key(k) for k in keys]


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
    "Transaction",
    "UndoLog",
    "WriteConsistency",
    "crdt_from_delta",
]
