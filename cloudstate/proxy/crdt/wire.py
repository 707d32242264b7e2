"""CRDT deltas on the wire: applying the user function's deltas and computing the deltas it needs.

The proxy keeps what the user function last saw as a *view* (a plain value, :func:`view`); after
the proxy state changes, :func:`diff` gives the smallest delta that brings the user function from
that view to the new value, in the encoding §1.5 of the protocol digest describes (counters as
differences, sets as added/removed, ``cleared`` when cheaper, ORMap ``added`` entries carrying the
full value, Vote as the full tally).
"""

from __future__ import annotations

import time
from typing import Any

from google.protobuf import any_pb2

from cloudstate.protocol import crdt_pb2
from cloudstate.proxy.crdt.types import (
    CRDT_TYPES,
    Crdt,
    Elem,
    Flag,
    GCounter,
    GSet,
    IncompatibleDelta,
    LWWRegister,
    ORMap,
    ORSet,
    PNCounter,
    Vote,
)

View = Any  # int | frozenset[Elem] | Elem | bool | tuple[bool, int, int] | dict[Elem, (kind, View)]


def to_elem(value: any_pb2.Any) -> Elem:
    return (value.type_url, bytes(value.value))


def to_any(elem: Elem) -> any_pb2.Any:
    return any_pb2.Any(type_url=elem[0], value=elem[1])


def _sorted(elems: Any) -> list[Elem]:
    return sorted(elems)


def now_millis() -> int:
    return int(time.time() * 1000)


# -- user function -> proxy -------------------------------------------------------------------


def apply_delta(
    state: Crdt | None, delta: crdt_pb2.CrdtDelta, node: str, clock: int | None = None
) -> Crdt:
    """Apply a delta the user function sent (a local update on ``node``); returns the state,
    created from the delta's type if there was none. Raises IncompatibleDelta."""
    kind = delta.WhichOneof("delta")
    if kind is None:
        raise IncompatibleDelta("empty CrdtDelta")
    if state is None:
        state = CRDT_TYPES[kind]()
    elif state.kind != kind:
        raise IncompatibleDelta(f"a {kind} delta cannot update a {state.kind}")
    if isinstance(state, GCounter):
        state.increment(node, delta.gcounter.increment)
    elif isinstance(state, PNCounter):
        state.change(node, delta.pncounter.change)
    elif isinstance(state, GSet):
        for value in delta.gset.added:
            state.add(to_elem(value))
    elif isinstance(state, ORSet):
        d = delta.orset
        if d.cleared:
            state.clear()
        for value in d.removed:
            state.remove(to_elem(value))
        for value in d.added:
            state.add(node, to_elem(value))
    elif isinstance(state, LWWRegister):
        _set_register(state, delta.lwwregister, node, clock)
    elif isinstance(state, Flag):
        if delta.flag.value:
            state.enable()
        elif state.enabled:
            raise IncompatibleDelta("a Flag cannot be disabled")
    elif isinstance(state, ORMap):
        _apply_ormap(state, delta.ormap, node, clock)
    elif isinstance(state, Vote):
        state.vote(node, delta.vote.self_vote)
    return state


def _set_register(
    state: LWWRegister, d: crdt_pb2.LWWRegisterDelta, node: str, clock: int | None
) -> None:
    now = now_millis() if clock is None else clock
    current = state.clock
    if d.clock == crdt_pb2.REVERSE:
        new = current - 1 if current <= -now else -now
    elif d.clock == crdt_pb2.CUSTOM:
        new = d.custom_clock_value
    elif d.clock == crdt_pb2.CUSTOM_AUTO_INCREMENT:
        new = d.custom_clock_value if d.custom_clock_value > current else current + 1
    else:  # DEFAULT: wall clock, but never behind what this replica has seen
        new = current + 1 if current >= now else now
    state.set(node, to_elem(d.value), new)


def _apply_ormap(state: ORMap, d: crdt_pb2.ORMapDelta, node: str, clock: int | None) -> None:
    if d.cleared:
        state.clear()
    for removed in d.removed:
        state.remove(to_elem(removed))
    values = state.values
    for entry in d.updated:
        key = to_elem(entry.key)
        current = values.get(key)
        if current is None:
            continue  # updated an entry that is gone: nothing to update
        try:
            state.put(node, key, apply_delta(current, entry.delta, node, clock))
        except IncompatibleDelta:
            continue
    for entry in d.added:
        key = to_elem(entry.key)
        current = values.get(key)
        kind = entry.delta.WhichOneof("delta")
        if current is None or current.kind != kind:
            state.put(node, key, apply_delta(None, entry.delta, node, clock))
        else:
            state.put(node, key, apply_delta(current, entry.delta, node, clock))


# -- proxy -> user function -------------------------------------------------------------------


def view(state: Crdt, node: str) -> View:
    """The plain value the user function holds for ``state``."""
    if isinstance(state, Vote):
        return state.tally(node)
    if isinstance(state, ORMap):
        return {key: (value.kind, view(value, node)) for key, value in state.values.items()}
    return state.value()


def full_delta(state: Crdt, node: str) -> crdt_pb2.CrdtDelta:
    """The whole value as a delta (for ``init`` and ORMap ``added`` entries)."""
    delta = crdt_pb2.CrdtDelta()
    if isinstance(state, GCounter):
        delta.gcounter.increment = state.value()
    elif isinstance(state, PNCounter):
        delta.pncounter.change = state.value()
    elif isinstance(state, GSet):
        delta.gset.SetInParent()
        delta.gset.added.extend(to_any(e) for e in _sorted(state.elements))
    elif isinstance(state, ORSet):
        delta.orset.SetInParent()
        delta.orset.added.extend(to_any(e) for e in _sorted(state.entries))
    elif isinstance(state, LWWRegister):
        delta.lwwregister.value.CopyFrom(to_any(state.elem))
    elif isinstance(state, Flag):
        delta.flag.value = state.enabled
    elif isinstance(state, ORMap):
        delta.ormap.SetInParent()
        for key in _sorted(state.values):
            entry = delta.ormap.added.add()
            entry.key.CopyFrom(to_any(key))
            entry.delta.CopyFrom(full_delta(state.values[key], node))
    elif isinstance(state, Vote):
        self_vote, votes_for, total = state.tally(node)
        delta.vote.self_vote = self_vote
        delta.vote.votes_for = votes_for
        delta.vote.total_voters = total
    return delta


def diff(old: View | None, state: Crdt, node: str) -> crdt_pb2.CrdtDelta | None:
    """The delta taking the user function from ``old`` (its view) to ``state``; None if equal.

    ``old`` is None when the user function has no value yet: the full value is sent.
    """
    if old is None:
        return full_delta(state, node)
    new = view(state, node)
    if new == old:
        return None
    delta = crdt_pb2.CrdtDelta()
    if isinstance(state, GCounter):
        delta.gcounter.increment = new - old
    elif isinstance(state, PNCounter):
        delta.pncounter.change = new - old
    elif isinstance(state, GSet):
        delta.gset.added.extend(to_any(e) for e in _sorted(new - old))
    elif isinstance(state, ORSet):
        removed, added = old - new, new - old
        if not new:
            delta.orset.cleared = True
        elif len(removed) > len(new):
            delta.orset.cleared = True
            delta.orset.added.extend(to_any(e) for e in _sorted(new))
        else:
            delta.orset.removed.extend(to_any(e) for e in _sorted(removed))
            delta.orset.added.extend(to_any(e) for e in _sorted(added))
    elif isinstance(state, LWWRegister):
        delta.lwwregister.value.CopyFrom(to_any(new))
    elif isinstance(state, Flag):
        delta.flag.value = new
    elif isinstance(state, Vote):
        delta.vote.self_vote, delta.vote.votes_for, delta.vote.total_voters = new
    elif isinstance(state, ORMap):
        _diff_ormap(delta.ormap, old, state, node)
    return delta


def _diff_ormap(out: crdt_pb2.ORMapDelta, old: dict[Elem, Any], state: ORMap, node: str) -> None:
    out.SetInParent()
    values = state.values
    # An entry removed and re-created between two views may have shrunk in a way no nested
    # delta can express (a smaller GSet or GCounter, a disabled Flag): replace it instead.
    replaced = {
        key
        for key, (kind, before) in old.items()
        if key not in values
        or values[key].kind != kind
        or not _reachable(before, view(values[key], node), kind)
    }
    for key in _sorted(replaced):
        out.removed.append(to_any(key))
    for key in _sorted(values.keys()):
        value = values[key]
        before = old.get(key)
        if before is None or key in replaced:
            entry = out.added.add()
            entry.key.CopyFrom(to_any(key))
            entry.delta.CopyFrom(full_delta(value, node))
            continue
        nested = diff(before[1], value, node)
        if nested is not None:
            entry = out.updated.add()
            entry.key.CopyFrom(to_any(key))
            entry.delta.CopyFrom(nested)


def _reachable(old: View, new: View, kind: str) -> bool:
    """Whether a delta of ``kind`` can take a user function from ``old`` to ``new``."""
    if kind == "gcounter":
        return bool(new >= old)
    if kind == "gset":
        return bool(old <= new)
    if kind == "flag":
        return bool(new or not old)
    return True
