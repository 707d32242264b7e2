"""Sets: :class:`GSet` (grow-only) and :class:`ORSet` (observed-remove: add and remove).

Elements are Python values (``str``, ``int``, ``bytes``, ``dict`` ...) or protobuf messages; two
elements are the same when their stable ``Any`` encodings are equal, so unhashable values work.
Do not mutate a value after adding it (a copy of mutable values is kept).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableSet, Set
from typing import Any

from cloudstate.any_support import AnySupport
from cloudstate.crdt.base import (
    Crdt,
    Key,
    UndoLog,
    decode_element,
    element_key,
    encode_keys,
    frozen_copy,
    log_attr,
    log_clear,
    log_pop,
    log_put,
    short_repr,
)
from cloudstate.protocol import crdt_pb2


class GSet(Crdt, Set[Any]):
    """A set that only grows.

    >>> tags = GSet()
    >>> tags.add("red")
    >>> "red" in tags, len(tags)
    (True, 1)
    """

    delta_field = "gset"

    def __init__(self) -> None:
        self._elements: dict[Key, Any] = {}  # identity -> value
        self._added: dict[Key, Any] = {}

    def add(self, value: Any) -> None:
        """Add ``value`` (no-op if present)."""
        key = element_key(value)
        if key not in self._elements:
            log = self._touch()
            value = frozen_copy(value)
            log_put(self._elements, key, value, log)
            log_put(self._added, key, value, log)

    def update(self, *values: Iterable[Any]) -> None:
        """Add every value of the given iterables."""
        for iterable in values:
            for value in iterable:
                self.add(value)

    def __contains__(self, value: object) -> bool:
        return element_key(value) in self._elements

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._elements.values()))

    def __len__(self) -> int:
        return len(self._elements)

    @classmethod
    def _from_iterable(cls, it: Iterable[Any]) -> set[Any]:
        return set(it)  # results of &, |, - are plain sets (of hashable elements)

    def __repr__(self) -> str:
        return f"GSet({{{short_repr(list(self._elements.values()))}}})"

    # -- replication ------------------------------------------------------------------------

    def _has_delta(self) -> bool:
        return len(self._added) > 0

    def _delta_message(self) -> crdt_pb2.GSetDelta:
        return crdt_pb2.GSetDelta(added=encode_keys(self._added))

    def _state_message(self) -> crdt_pb2.GSetDelta:
        return crdt_pb2.GSetDelta(added=encode_keys(self._elements))

    def _reset_delta(self) -> None:
        self._added.clear()

    def _apply(self, delta: Any, any_support: AnySupport) -> None:
        for packed in delta.added:
            key, value = decode_element(packed, any_support)
            self._elements.setdefault(key, value)

    def _checkpoint(self) -> Any:
        return UndoLog()

    def _rollback(self, token: Any) -> None:
        token.undo()


class ORSet(Crdt, MutableSet[Any]):
    """A set supporting add and remove (an element removed and added concurrently stays).

    >>> online = ORSet()
    >>> online.add("alice"); online.add("bob"); online.discard("alice")
    >>> sorted(online)
    ['bob']
    """

    delta_field = "orset"

    def __init__(self) -> None:
        self._elements: dict[Key, Any] = {}  # identity -> value
        self._added: dict[Key, Any] = {}
        self._removed: dict[Key, Any] = {}
        self._cleared = False

    def add(self, value: Any) -> None:
        """Add ``value`` (no-op if present)."""
        key = element_key(value)
        if key in self._elements:
            return
        log = self._touch()
        value = frozen_copy(value)
        log_put(self._elements, key, value, log)
        if key in self._removed:  # removed then re-added in one command: nothing to send
            log_pop(self._removed, key, log)
        else:
            log_put(self._added, key, value, log)

    def discard(self, value: Any) -> None:
        """Remove ``value`` if present."""
        key = element_key(value)
        if key not in self._elements:
            return
        if len(self._elements) == 1:
            self.clear()
            return
        log = self._touch()
        removed = log_pop(self._elements, key, log)
        if key in self._added:  # added then removed in one command: nothing to send
            log_pop(self._added, key, log)
        else:
            log_put(self._removed, key, removed, log)

    def clear(self) -> None:
        """Remove every element."""
        log = self._touch()
        log_clear(self._elements, log)
        log_clear(self._added, log)
        log_clear(self._removed, log)
        log_attr(self, "_cleared", True, log)

    def update(self, *values: Iterable[Any]) -> None:
        """Add every value of the given iterables."""
        for iterable in values:
            for value in iterable:
                self.add(value)

    def __contains__(self, value: object) -> bool:
        return element_key(value) in self._elements

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._elements.values()))

    def __len__(self) -> int:
        return len(self._elements)

    @classmethod
    def _from_iterable(cls, it: Iterable[Any]) -> set[Any]:
        return set(it)

    def __repr__(self) -> str:
        return f"ORSet({{{short_repr(list(self._elements.values()))}}})"

    # -- replication ------------------------------------------------------------------------

    def _has_delta(self) -> bool:
        return self._cleared or len(self._added) > 0 or len(self._removed) > 0

    def _delta_message(self) -> crdt_pb2.ORSetDelta:
        return crdt_pb2.ORSetDelta(
            cleared=self._cleared,
            removed=encode_keys(self._removed),
            added=encode_keys(self._added),
        )

    def _state_message(self) -> crdt_pb2.ORSetDelta:
        return crdt_pb2.ORSetDelta(added=encode_keys(self._elements))

    def _reset_delta(self) -> None:
        self._added.clear()
        self._removed.clear()
        self._cleared = False

    def _apply(self, delta: Any, any_support: AnySupport) -> None:
        if delta.cleared:
            self._elements.clear()
        for packed in delta.removed:
            self._elements.pop((packed.type_url, packed.value), None)
        for packed in delta.added:
            key, value = decode_element(packed, any_support)
            self._elements.setdefault(key, value)

    def _checkpoint(self) -> Any:
        return UndoLog()

    def _rollback(self, token: Any) -> None:
        token.undo()


__all__ = ["GSet", "ORSet"]
