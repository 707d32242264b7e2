"""Sets: :class:`GSet` (grow-only) and :class:`ORSet` (observed-remove: add and remove).

Elements are Python values (``str``, ``int``, ``bytes``, ``dict`` ...) or protobuf messages; two
elements are the same when their stable ``Any`` encodings are equal, so unhashable values work.
Do not mutate a value after adding it (a copy of mutable values is kept).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableSet, Set
from typing import Any

from cloudstate import crdt_pb2
from cloudstate.any_support import AnySupport
from cloudstate.crdt.base import Crdt, Elements, frozen_copy, short_repr


class GSet(Crdt, Set[Any]):
    """A set that only grows.

    >>> tags = GSet()
    >>> tags.add("red")
    >>> "red" in tags, len(tags)
    (True, 1)
    """

    delta_field = "gset"

    def __init__(self) -> None:
        self._elements = Elements()
        self._added = Elements()

    def add(self, value: Any) -> None:
        """Add ``value`` (no-op if present)."""
        key = Elements.key(value)
        if key not in self._elements:
            value = frozen_copy(value)
            self._elements.put(key, value)
            self._added.put(key, value)

    def update(self, *values: Iterable[Any]) -> None:
        """Add every value of the given iterables."""
        for iterable in values:
            for value in iterable:
                self.add(value)

    def __contains__(self, value: object) -> bool:
        return Elements.key(value) in self._elements

    def __iter__(self) -> Iterator[Any]:
        return iter(self._elements.values())

    def __len__(self) -> int:
        return len(self._elements)

    @classmethod
    def _from_iterable(cls, it: Iterable[Any]) -> set[Any]:
        return set(it)  # results of &, |, - are plain sets (of hashable elements)

    def __repr__(self) -> str:
        return f"GSet({{{short_repr(self._elements.values())}}})"

    # -- replication ------------------------------------------------------------------------

    def _has_delta(self) -> bool:
        return len(self._added) > 0

    def _delta_message(self) -> crdt_pb2.GSetDelta:
        return crdt_pb2.GSetDelta(added=self._added.anys())

    def _state_message(self) -> crdt_pb2.GSetDelta:
        return crdt_pb2.GSetDelta(added=self._elements.anys())

    def _reset_delta(self) -> None:
        self._added.clear()

    def _apply(self, delta: Any, any_support: AnySupport) -> None:
        for packed in delta.added:
            key, value = Elements.decode(packed, any_support)
            if key not in self._elements:
                self._elements.put(key, value)

    def _checkpoint(self) -> Any:
        return self._elements.copy(), self._added.copy()

    def _rollback(self, token: Any) -> None:
        self._elements, self._added = token


class ORSet(Crdt, MutableSet[Any]):
    """A set supporting add and remove (an element removed and added concurrently stays).

    >>> online = ORSet()
    >>> online.add("alice"); online.add("bob"); online.discard("alice")
    >>> sorted(online)
    ['bob']
    """

    delta_field = "orset"

    def __init__(self) -> None:
        self._elements = Elements()
        self._added = Elements()
        self._removed = Elements()
        self._cleared = False

    def add(self, value: Any) -> None:
        """Add ``value`` (no-op if present)."""
        key = Elements.key(value)
        if key in self._elements:
            return
        value = frozen_copy(value)
        self._elements.put(key, value)
        if key in self._removed:  # removed then re-added in one command: nothing to send
            self._removed.discard(key)
        else:
            self._added.put(key, value)

    def discard(self, value: Any) -> None:
        """Remove ``value`` if present."""
        key = Elements.key(value)
        if key not in self._elements:
            return
        if len(self._elements) == 1:
            self.clear()
            return
        removed = self._elements.pop(key)
        if key in self._added:  # added then removed in one command: nothing to send
            self._added.discard(key)
        else:
            self._removed.put(key, removed)

    def clear(self) -> None:
        """Remove every element."""
        self._elements.clear()
        self._added.clear()
        self._removed.clear()
        self._cleared = True

    def update(self, *values: Iterable[Any]) -> None:
        """Add every value of the given iterables."""
        for iterable in values:
            for value in iterable:
                self.add(value)

    def __contains__(self, value: object) -> bool:
        return Elements.key(value) in self._elements

    def __iter__(self) -> Iterator[Any]:
        return iter(self._elements.values())

    def __len__(self) -> int:
        return len(self._elements)

    @classmethod
    def _from_iterable(cls, it: Iterable[Any]) -> set[Any]:
        return set(it)

    def __repr__(self) -> str:
        return f"ORSet({{{short_repr(self._elements.values())}}})"

    # -- replication ------------------------------------------------------------------------

    def _has_delta(self) -> bool:
        return self._cleared or len(self._added) > 0 or len(self._removed) > 0

    def _delta_message(self) -> crdt_pb2.ORSetDelta:
        return crdt_pb2.ORSetDelta(
            cleared=self._cleared, removed=self._removed.anys(), added=self._added.anys()
        )

    def _state_message(self) -> crdt_pb2.ORSetDelta:
        return crdt_pb2.ORSetDelta(added=self._elements.anys())

    def _reset_delta(self) -> None:
        self._added.clear()
        self._removed.clear()
        self._cleared = False

    def _apply(self, delta: Any, any_support: AnySupport) -> None:
        if delta.cleared:
            self._elements.clear()
        for packed in delta.removed:
            self._elements.discard((packed.type_url, packed.value))
        for packed in delta.added:
            key, value = Elements.decode(packed, any_support)
            if key not in self._elements:
                self._elements.put(key, value)

    def _checkpoint(self) -> Any:
        return self._elements.copy(), self._added.copy(), self._removed.copy(), self._cleared

    def _rollback(self, token: Any) -> None:
        self._elements, self._added, self._removed, self._cleared = token


__all__ = ["GSet", "ORSet"]
