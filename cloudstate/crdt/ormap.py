"""The :class:`ORMap` CRDT: a map whose values are CRDTs themselves."""

from __future__ import annotations

from collections.abc import Callable, ItemsView, Iterator, MutableMapping, ValuesView
from typing import Any, TypeVar

from cloudstate.any_support import AnySupport, from_stable_key, stable_key
from cloudstate.crdt.base import (
    Crdt,
    UndoLog,
    crdt_from_delta,
    decode_element,
    frozen_copy,
    log_attr,
    log_clear,
    log_pop,
    log_put,
    rendered,
    short_repr,
)
from cloudstate.protocol import crdt_pb2

C = TypeVar("C", bound=Crdt)
_Key = tuple[str, bytes]


class ORMap(Crdt, MutableMapping[Any, Crdt]):
    """A map from keys (Python values or protobuf messages) to CRDTs.

    Change a value by calling its own operations; add one with :meth:`get_or_create` or
    ``ormap[key] = crdt``; ``del ormap[key]`` removes it::

        >>> from cloudstate import ORMap, PNCounter
        >>> carts = ORMap()
        >>> carts.get_or_create("apples", PNCounter).increment(3)
        3
        >>> carts["apples"].value
        3
        >>> del carts["apples"]; len(carts)
        0

    Keys are compared by their stable encoding, like set elements. Iteration order carries no
    meaning (replicas see entries added in different orders).
    """

    delta_field = "ormap"

    def __init__(self) -> None:
        self._entries: dict[_Key, tuple[Any, Crdt]] = {}
        self._added: dict[_Key, Any] = {}
        self._removed: dict[_Key, Any] = {}
        self._cleared = False
        self._changed: dict[_Key, None] = {}  # keys whose values were touched since the reset

    # -- mapping ----------------------------------------------------------------------------

    def __getitem__(self, key: Any) -> Crdt:
        try:
            return self._entries[stable_key(key)][1]
        except KeyError:
            raise KeyError(key) from None

    def __setitem__(self, key: Any, value: Crdt) -> None:
        if not isinstance(value, Crdt):
            raise TypeError(f"ORMap values are CRDTs, not {type(value).__name__}")
        k = stable_key(key)
        existing = self._entries.get(k)
        if existing is not None and existing[1] is value:
            return
        if value._parent is not None or _contains(value, self):
            raise ValueError(
                f"cannot put this {type(value).__name__} in the ORMap: it is already a value of "
                "a map (or contains this one); create a new CRDT"
            )
        log = self._touch()
        if existing is not None:
            _set_parent(existing[1], None, log)
            if k not in self._added:  # replacing a replicated entry: remove, then add
                log_put(self._removed, k, existing[0], log)
        key = frozen_copy(key)
        log_put(self._entries, k, (key, value), log)
        log_put(self._added, k, key, log)
        _set_parent(value, (self, k), log)

    def __delitem__(self, key: Any) -> None:
        k = stable_key(key)
        entry = self._entries.get(k)
        if entry is None:
            raise KeyError(key)
        log = self._touch()
        log_pop(self._entries, k, log)
        _set_parent(entry[1], None, log)
        log_pop(self._changed, k, log)
        if k in self._added:
            log_pop(self._added, k, log)
        else:
            log_put(self._removed, k, entry[0], log)

    def __contains__(self, key: object) -> bool:
        return stable_key(key) in self._entries

    def __iter__(self) -> Iterator[Any]:
        return iter([key for key, _ in self._entries.values()])

    def __len__(self) -> int:
        return len(self._entries)

    def items(self) -> ItemsView[Any, Crdt]:
        return _Items(self)

    def values(self) -> ValuesView[Crdt]:
        return _Values(self)

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
        log = self._touch()
        for _, value in self._entries.values():
            _set_parent(value, None, log)
        for d in (self._entries, self._added, self._removed, self._changed):
            log_clear(d, log)
        log_attr(self, "_cleared", True, log)

    def __repr__(self) -> str:
        items = [rendered(f"{k!r}: {v!r}") for k, v in self._entries.values()]
        return f"ORMap({{{short_repr(items)}}})"

    # -- replication ------------------------------------------------------------------------

    def _child_touched(self, k: _Key) -> None:
        if k not in self._changed:
            log_put(self._changed, k, None, self._touch())

    def _changed_values(self) -> list[tuple[_Key, Crdt]]:
        """Values of keys present before the command, touched since, with a pending delta."""
        changed = []
        for k in self._changed:
            entry = self._entries.get(k)
            if entry is not None and k not in self._added and entry[1]._has_delta():
                changed.append((k, entry[1]))
        return changed

    def _has_delta(self) -> bool:
        if self._cleared or self._added or self._removed:
            return True
        return any(True for _ in self._changed_values())

    def _delta_message(self) -> crdt_pb2.ORMapDelta:
        delta = crdt_pb2.ORMapDelta(
            cleared=self._cleared, removed=[from_stable_key(k) for k in self._removed]
        )
        for k, value in self._changed_values():
            delta.updated.add(key=from_stable_key(k), delta=value._delta())
        for k in self._added:
            # New entries carry their whole value, even when it is zero / empty.
            delta.added.add(key=from_stable_key(k), delta=self._entries[k][1]._state_delta())
        return delta

    def _state_message(self) -> crdt_pb2.ORMapDelta:
        delta = crdt_pb2.ORMapDelta()
        for k, (_, value) in self._entries.items():
            delta.added.add(key=from_stable_key(k), delta=value._state_delta())
        return delta

    def _reset_delta(self) -> None:
        for k in [*self._changed, *self._added]:
            entry = self._entries.get(k)
            if entry is not None:
                entry[1]._reset_delta()
        self._cleared = False
        self._added.clear()
        self._removed.clear()
        self._changed.clear()

    def _apply(self, delta: Any, any_support: AnySupport) -> None:
        if delta.cleared:
            for _, value in self._entries.values():
                value._parent = None
            self._entries.clear()
        for packed in delta.removed:
            entry = self._entries.pop((packed.type_url, packed.value), None)
            if entry is not None:
                entry[1]._parent = None
        for update in delta.updated:
            existing = self._entries.get((update.key.type_url, update.key.value))
            if existing is not None:  # an update of an entry we no longer have is moot
                existing[1]._apply_delta(update.delta, any_support)
        for added in delta.added:  # creates or replaces the entry
            k, key = decode_element(added.key, any_support)
            replaced = self._entries.get(k)
            if replaced is not None:
                replaced[1]._parent = None
            value = crdt_from_delta(added.delta, any_support)
            self._entries[k] = (key, value)
            _set_parent(value, (self, k), None)

    def _checkpoint(self) -> Any:
        return UndoLog()

    def _rollback(self, token: Any) -> None:
        token.undo()


class _Items(ItemsView[Any, Crdt]):
    _mapping: ORMap

    def __iter__(self) -> Iterator[tuple[Any, Crdt]]:
        return iter(list(self._mapping._entries.values()))


class _Values(ValuesView[Crdt]):
    _mapping: ORMap

    def __iter__(self) -> Iterator[Crdt]:
        return iter([value for _, value in self._mapping._entries.values()])


def _set_parent(value: Crdt, parent: tuple[ORMap, _Key] | None, log: UndoLog | None) -> None:
    """Make ``value`` a value of ``parent = (map, key)``, or of no map."""
    if log is not None:
        old_parent, old_key = value._parent, value._parent_key
        log.append(lambda: _restore_parent(value, old_parent, old_key))
    if parent is None:
        value._parent = None
    else:
        value._parent, value._parent_key = parent


def _restore_parent(value: Crdt, parent: Crdt | None, key: _Key) -> None:
    value._parent, value._parent_key = parent, key


def _contains(value: Crdt, target: ORMap) -> bool:
    """Whether ``target`` is nested somewhere inside ``value`` (its chain of parents)."""
    parent: Crdt | None = target
    while parent is not None:
        if parent is value:
            return True
        parent = parent._parent
    return False


__all__ = ["ORMap"]
