"""The :class:`ORMap` CRDT: a map whose values are CRDTs themselves."""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Any, TypeVar

from cloudstate import crdt_pb2
from cloudstate.any_support import AnySupport, from_stable_key, stable_key
from cloudstate.crdt.base import Crdt, Elements, crdt_from_delta, frozen_copy, rendered, short_repr

C = TypeVar("C", bound=Crdt)
_Key = tuple[str, bytes]


class ORMap(Crdt, MutableMapping[Any, Crdt]):
    """A map from keys (Python values or protobuf messages) to CRDTs.

    Change a value by calling its own operations; add one with :meth:`get_or_create` or
    ``ormap[key] = crdt``; ``del ormap[key]`` removes it::

        >>> carts = ORMap()
        >>> carts.get_or_create("apples", PNCounter).increment(3)
        3
        >>> carts["apples"].value
        3
        >>> del carts["apples"]; len(carts)
        0

    Keys are compared by their stable encoding, like set elements. Iteration yields keys in
    insertion order.
    """

    delta_field = "ormap"

    def __init__(self) -> None:
        self._entries: dict[_Key, tuple[Any, Crdt]] = {}
        self._added: dict[_Key, Any] = {}
        self._removed: dict[_Key, Any] = {}
        self._cleared = False

    # -- mapping ----------------------------------------------------------------------------

    def __getitem__(self, key: Any) -> Crdt:
        try:
            return self._entries[stable_key(key)][1]
        except KeyError:
            raise KeyError(key) from None

    def __setitem__(self, key: Any, value: Crdt) -> None:
        if not isinstance(value, Crdt):
            raise TypeError(f"ORMap values are CRDTs, not {type(value).__name__}")
        if value is self:
            raise ValueError("an ORMap cannot contain itself")
        k = stable_key(key)
        existing = self._entries.get(k)
        if existing is not None:
            if existing[1] is value:
                return
            if k not in self._added:  # replacing a replicated entry: remove, then add
                self._removed[k] = existing[0]
        key = frozen_copy(key)
        self._entries[k] = (key, value)
        self._added[k] = key

    def __delitem__(self, key: Any) -> None:
        k = stable_key(key)
        entry = self._entries.pop(k, None)
        if entry is None:
            raise KeyError(key)
        if k in self._added:
            del self._added[k]
        else:
            self._removed[k] = entry[0]

    def __contains__(self, key: object) -> bool:
        return stable_key(key) in self._entries

    def __iter__(self) -> Iterator[Any]:
        return iter([key for key, _ in self._entries.values()])

    def __len__(self) -> int:
        return len(self._entries)

    def __eq__(self, other: object) -> bool:
        return self is other  # keys need not be hashable, so no dict comparison

    __hash__ = None  # type: ignore[assignment]

    def get_or_create(self, key: Any, factory: Callable[[], C]) -> C:
        """The value at ``key``, created with ``factory()`` (e.g. ``GCounter``) if absent.

        If ``factory`` is a CRDT class and ``key`` holds another type, raises ``TypeError``.
        """
        entry = self._entries.get(stable_key(key))
        if entry is not None:
            value = entry[1]
            if isinstance(factory, type) and not isinstance(value, factory):
                raise TypeError(
                    f"ORMap key {key!r} holds a {type(value).__name__}, not a {factory.__name__}"
                )
            return value  # type: ignore[return-value]
        created = factory()
        self[key] = created
        return created

    def clear(self) -> None:
        """Remove every entry."""
        self._entries.clear()
        self._added.clear()
        self._removed.clear()
        self._cleared = True

    def __repr__(self) -> str:
        items = [rendered(f"{k!r}: {v!r}") for k, v in self._entries.values()]
        return f"ORMap({{{short_repr(items)}}})"

    # -- replication ------------------------------------------------------------------------

    def _has_delta(self) -> bool:
        if self._cleared or self._added or self._removed:
            return True
        return any(value._has_delta() for _, value in self._entries.values())

    def _delta_message(self) -> crdt_pb2.ORMapDelta:
        delta = crdt_pb2.ORMapDelta(
            cleared=self._cleared, removed=[from_stable_key(k) for k in self._removed]
        )
        for k, (_, value) in self._entries.items():
            if k in self._added:
                # New entries carry their whole value, even when it is zero / empty.
                delta.added.add(key=from_stable_key(k), delta=value._state_delta())
            elif value._has_delta():
                delta.updated.add(key=from_stable_key(k), delta=value._delta())
        return delta

    def _state_message(self) -> crdt_pb2.ORMapDelta:
        delta = crdt_pb2.ORMapDelta()
        for k, (_, value) in self._entries.items():
            delta.added.add(key=from_stable_key(k), delta=value._state_delta())
        return delta

    def _reset_delta(self) -> None:
        self._cleared = False
        self._added.clear()
        self._removed.clear()
        for _, value in self._entries.values():
            value._reset_delta()

    def _apply(self, delta: Any, any_support: AnySupport) -> None:
        if delta.cleared:
            self._entries.clear()
        for packed in delta.removed:
            self._entries.pop((packed.type_url, packed.value), None)
        for entry in delta.updated:
            existing = self._entries.get((entry.key.type_url, entry.key.value))
            if existing is not None:  # an update of an entry we no longer have is moot
                existing[1]._apply_delta(entry.delta, any_support)
        for entry in delta.added:  # creates or replaces the entry
            k, key = Elements.decode(entry.key, any_support)
            self._entries[k] = (key, crdt_from_delta(entry.delta, any_support))

    def _checkpoint(self) -> Any:
        children = {k: value._checkpoint() for k, (_, value) in self._entries.items()}
        return dict(self._entries), dict(self._added), dict(self._removed), self._cleared, children

    def _rollback(self, token: Any) -> None:
        entries, added, removed, cleared, children = token
        self._entries, self._added, self._removed, self._cleared = entries, added, removed, cleared
        for k, child_token in children.items():
            entries[k][1]._rollback(child_token)


__all__ = ["ORMap"]
