"""Random local operations on the SDK's CRDTs, each paired with its effect on a plain model.

A model is the value a CRDT should show, as plain Python data: counters are ints, sets are
frozensets of stable keys, a register is its value's stable key (or ``None``), a flag a bool, a
vote ``(self_vote, votes_for, total_voters)``, a map a dict of key -> (type name, model).
:func:`view` computes the same representation from a CRDT through its public API.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf import wrappers_pb2
from hypothesis import strategies as st

from cloudstate.any_support import AnySupport, stable_key
from cloudstate.crdt import (
    Crdt,
    CrdtClock,
    Flag,
    GCounter,
    GSet,
    LWWRegister,
    ORMap,
    ORSet,
    PNCounter,
    Vote,
    crdt_from_delta,
)
from cloudstate.protocol.crdt_pb2 import CrdtDelta

TYPES: dict[str, type[Crdt]] = {
    cls.__name__: cls for cls in (GCounter, PNCounter, GSet, ORSet, LWWRegister, Flag, ORMap, Vote)
}
ANY_SUPPORT = AnySupport()

#: Elements of every encoding: strings, int64, bool, bytes, JSON objects, protobuf messages.
ELEMENTS = st.one_of(
    st.sampled_from(["a", "b", "c", ""]),
    st.integers(-2, 2),
    st.booleans(),
    st.binary(max_size=1),
    st.dictionaries(st.sampled_from("xy"), st.integers(0, 1), max_size=2),
    st.sampled_from("ab").map(lambda s: wrappers_pb2.StringValue(value=s)),
)


@dataclass(frozen=True)
class Op:
    """One local operation: what it does to the CRDT and to the model."""

    name: str
    on_crdt: Callable[[Any], object]
    on_model: Callable[[Any], Any]

    def __repr__(self) -> str:
        return self.name


def new_model(type_name: str) -> Any:
    return {
        "GCounter": 0,
        "PNCounter": 0,
        "GSet": frozenset(),
        "ORSet": frozenset(),
        "LWWRegister": None,
        "Flag": False,
        "ORMap": {},
        "Vote": (False, 0, 1),
    }[type_name]


def view(crdt: Crdt) -> Any:
    """The model representation of ``crdt``, read through its public API."""
    if isinstance(crdt, GCounter | PNCounter):
        return crdt.value
    if isinstance(crdt, GSet | ORSet):
        return frozenset(stable_key(e) for e in crdt)
    if isinstance(crdt, LWWRegister):
        return None if crdt.value is None else stable_key(crdt.value)
    if isinstance(crdt, Flag):
        return crdt.enabled
    if isinstance(crdt, Vote):
        return (crdt.self_vote, crdt.votes_for, crdt.total_voters)
    if isinstance(crdt, ORMap):
        return {stable_key(k): (type(v).__name__, view(v)) for k, v in crdt.items()}
    raise TypeError(crdt)


def _vote_model(model: tuple[bool, int, int], value: bool) -> tuple[bool, int, int]:
    own, votes_for, total = model
    if value == own:
        return model
    return (value, votes_for + (1 if value else -1), total)


def ops(type_name: str, depth: int = 0) -> st.SearchStrategy[Op]:
    """Random operations for a CRDT of ``type_name`` (maps nest up to two levels)."""
    if type_name == "GCounter":
        return st.integers(0, 50).map(
            lambda n: Op(f"increment({n})", lambda c: c.increment(n), lambda m: m + n)
        )
    if type_name == "PNCounter":
        return st.integers(-50, 50).flatmap(
            lambda n: st.sampled_from(
                [
                    Op(f"increment({n})", lambda c: c.increment(n), lambda m: m + n),
                    Op(f"decrement({n})", lambda c: c.decrement(n), lambda m: m - n),
                ]
            )
        )
    if type_name == "GSet":
        return ELEMENTS.map(
            lambda e: Op(f"add({e!r})", lambda c: c.add(e), lambda m: m | {stable_key(e)})
        )
    if type_name == "ORSet":
        return st.one_of(
            ELEMENTS.map(
                lambda e: Op(f"add({e!r})", lambda c: c.add(e), lambda m: m | {stable_key(e)})
            ),
            ELEMENTS.map(
                lambda e: Op(
                    f"discard({e!r})", lambda c: c.discard(e), lambda m: m - {stable_key(e)}
                )
            ),
            st.just(Op("clear()", lambda c: c.clear(), lambda m: frozenset())),
        )
    if type_name == "LWWRegister":
        return st.tuples(ELEMENTS, st.sampled_from(list(CrdtClock)), st.integers(0, 3)).map(
            lambda t: Op(
                f"set({t[0]!r}, {t[1].name}, {t[2]})",
                lambda c: c.set(*t),
                lambda m: stable_key(t[0]),
            )
        )
    if type_name == "Flag":
        return st.just(Op("enable()", lambda c: c.enable(), lambda m: True))
    if type_name == "Vote":
        return st.booleans().map(
            lambda v: Op(f"vote({v})", lambda c: c.vote(v), lambda m: _vote_model(m, v))
        )
    if type_name == "ORMap":
        return _map_ops(depth)
    raise ValueError(type_name)


def _map_ops(depth: int) -> st.SearchStrategy[Op]:
    nested = [t for t in TYPES if t != "ORMap" or depth < 1]
    keys = st.tuples(st.sampled_from(nested), st.integers(0, 2))

    def on_value(key: tuple[str, int]) -> st.SearchStrategy[Op]:
        type_name, index = key
        name = f"{type_name}-{index}"
        k = stable_key(name)
        cls = TYPES[type_name]

        def nested_op(op: Op) -> Op:
            def on_model(m: dict[Any, Any]) -> dict[Any, Any]:
                _, inner = m.get(k, (type_name, new_model(type_name)))
                return {**m, k: (type_name, op.on_model(inner))}

            return Op(
                f"[{name!r}].{op.name}",
                lambda c: op.on_crdt(c.get_or_create(name, cls)),
                on_model,
            )

        return st.one_of(
            ops(type_name, depth + 1).map(nested_op),
            st.just(
                Op(
                    f"del [{name!r}]",
                    lambda c: c.pop(name, None),
                    lambda m: {kk: v for kk, v in m.items() if kk != k},
                )
            ),
            st.just(
                Op(
                    f"[{name!r}] = {type_name}()",
                    lambda c: c.__setitem__(name, cls()),
                    lambda m: {**m, k: (type_name, new_model(type_name))},
                )
            ),
        )

    return st.one_of(
        keys.flatmap(on_value),
        st.just(Op("clear()", lambda c: c.clear(), lambda m: {})),
    )


def commands(type_name: str) -> st.SearchStrategy[list[list[Op]]]:
    """Commands: each a list of operations whose changes travel as one delta."""
    return st.lists(st.lists(ops(type_name), max_size=5), max_size=6)


# -- what the proxy does with a user-function delta ----------------------------------------------


def proxy_create(delta: CrdtDelta) -> Crdt:
    """A value as the proxy would create it from a user-function delta."""
    which = delta.WhichOneof("delta")
    if which == "vote":
        vote = Vote()
        vote.vote(delta.vote.self_vote)
        vote._reset_delta()
        return vote
    if which == "ormap":
        ormap = ORMap()
        proxy_apply(ormap, delta)
        return ormap
    return crdt_from_delta(delta, ANY_SUPPORT)


def proxy_apply(target: Crdt, delta: CrdtDelta) -> None:
    """Apply a user-function delta the way the proxy reads it (§1.5, UF -> proxy column)."""
    which = delta.WhichOneof("delta")
    if isinstance(target, Vote):  # only self_vote is read; the tally is the proxy's
        assert which == "vote"
        target.vote(delta.vote.self_vote)
    elif isinstance(target, ORMap):
        assert which == "ormap"
        d = delta.ormap
        if d.cleared:
            target.clear()
        for key in d.removed:
            target.pop(ANY_SUPPORT.unpack(key), None)
        for entry in d.updated:
            existing = target.get(ANY_SUPPORT.unpack(entry.key))
            if existing is not None:
                proxy_apply(existing, entry.delta)
        for entry in d.added:
            target[ANY_SUPPORT.unpack(entry.key)] = proxy_create(entry.delta)
    else:
        target._apply_delta(delta, ANY_SUPPORT)
    target._reset_delta()
