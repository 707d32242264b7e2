"""The proxy's CRDTs: merge laws, and deltas that move the user function's view correctly."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cloudstate.protocol import crdt_pb2
from cloudstate.proxy.crdt import codec
from cloudstate.proxy.crdt.types import Crdt, Elem, LWWRegister, ORMap, ORSet
from cloudstate.proxy.crdt.wire import apply_delta, diff, full_delta, to_elem, view

NODES = ["a", "b", "c"]
ELEMS = [("p.cloudstate.io/string", bytes([0x0A, 1, ord(c)])) for c in "wxyz"]


def _any(elem: Elem) -> Any:
    from google.protobuf import any_pb2

    return any_pb2.Any(type_url=elem[0], value=elem[1])


# A local update is a user-function delta applied on one node.
def delta_for(kind: str, draw: st.DrawFn) -> crdt_pb2.CrdtDelta:
    d = crdt_pb2.CrdtDelta()
    if kind == "gcounter":
        d.gcounter.increment = draw(st.integers(0, 5))
    elif kind == "pncounter":
        d.pncounter.change = draw(st.integers(-5, 5))
    elif kind == "gset":
        d.gset.added.extend(_any(e) for e in draw(st.sets(st.sampled_from(ELEMS), max_size=2)))
    elif kind == "orset":
        d.orset.cleared = draw(st.booleans()) and draw(st.booleans())
        d.orset.removed.extend(_any(e) for e in draw(st.sets(st.sampled_from(ELEMS), max_size=2)))
        d.orset.added.extend(_any(e) for e in draw(st.sets(st.sampled_from(ELEMS), max_size=2)))
    elif kind == "lwwregister":
        d.lwwregister.value.CopyFrom(_any(draw(st.sampled_from(ELEMS))))
        d.lwwregister.clock = crdt_pb2.CUSTOM
        d.lwwregister.custom_clock_value = draw(st.integers(0, 20))
    elif kind == "flag":
        d.flag.value = True
    elif kind == "vote":
        d.vote.self_vote = draw(st.booleans())
    elif kind == "ormap":
        d.ormap.SetInParent()
        if draw(st.integers(0, 9)) == 0:
            d.ormap.cleared = True
        for key in draw(st.sets(st.sampled_from(ELEMS), max_size=2)):
            entry = d.ormap.added.add()
            entry.key.CopyFrom(_any(key))
            entry.delta.pncounter.change = draw(st.integers(-3, 3))
        for key in draw(st.sets(st.sampled_from(ELEMS), max_size=1)):
            d.ormap.removed.append(_any(key))
    return d


KINDS = ["gcounter", "pncounter", "gset", "orset", "lwwregister", "flag", "vote", "ormap"]


@st.composite
def replica_histories(draw: st.DrawFn) -> tuple[str, list[Crdt]]:
    """Three replicas of one CRDT type, each with its own local updates and some merges."""
    kind = draw(st.sampled_from(KINDS))
    replicas: list[Crdt | None] = [None, None, None]
    for _ in range(draw(st.integers(1, 12))):
        i = draw(st.integers(0, 2))
        if draw(st.integers(0, 3)) == 0 and replicas[(i + 1) % 3] is not None:
            other = replicas[(i + 1) % 3]
            assert other is not None
            if replicas[i] is None:
                replicas[i] = other.copy()
            else:
                replicas[i].merge(other)  # type: ignore[union-attr]
        else:
            replicas[i] = apply_delta(replicas[i], delta_for(kind, draw), NODES[i])
    states = [
        # Each node writes only for itself (one replica per node), as on real proxies.
        r if r is not None else apply_delta(None, delta_for(kind, draw), NODES[i])
        for i, r in enumerate(replicas)
    ]
    return kind, states


def merged(*states: Crdt) -> Crdt:
    result = states[0].copy()
    for s in states[1:]:
        result.merge(s)
    return result


def same(x: Crdt, y: Crdt) -> bool:
    return codec.encode(x) == codec.encode(y)


@settings(max_examples=300, deadline=None)
@given(replica_histories())
def test_merge_is_commutative_associative_idempotent(history: tuple[str, list[Crdt]]) -> None:
    _, (a, b, c) = history
    assert same(merged(a, b), merged(b, a))
    assert same(merged(merged(a, b), c), merged(a, merged(b, c)))
    assert same(merged(a, a), a)
    assert same(merged(a, b, b), merged(a, b))


def test_lww_writes_tied_on_clock_and_node_merge_alike_in_any_order() -> None:
    """One node writing two values under the same custom clock (found by the property above)."""
    first, second = LWWRegister(), LWWRegister()
    first.set("node-a", ("type.googleapis.com/x", b"apple"), 7)
    second.set("node-a", ("type.googleapis.com/x", b"pear"), 7)
    assert same(merged(first, second), merged(second, first))
    assert merged(first, second).value() == ("type.googleapis.com/x", b"pear")


@settings(max_examples=300, deadline=None)
@given(replica_histories())
def test_stored_state_round_trips(history: tuple[str, list[Crdt]]) -> None:
    for state in history[1]:
        assert same(codec.decode(codec.encode(state)), state)


def apply_to_view(old: Any, delta: crdt_pb2.CrdtDelta) -> Any:
    """What a conforming user function does with a proxy delta (protocol §1.5 table)."""
    kind = delta.WhichOneof("delta")
    if kind in ("gcounter", "pncounter"):
        amount = delta.gcounter.increment if kind == "gcounter" else delta.pncounter.change
        return (old or 0) + amount
    if kind == "gset":
        return frozenset(old or ()) | {to_elem(e) for e in delta.gset.added}
    if kind == "orset":
        current = set() if delta.orset.cleared or old is None else set(old)
        current -= {to_elem(e) for e in delta.orset.removed}
        return frozenset(current | {to_elem(e) for e in delta.orset.added})
    if kind == "lwwregister":
        return to_elem(delta.lwwregister.value)
    if kind == "flag":
        return bool(old) or delta.flag.value
    if kind == "vote":
        return (delta.vote.self_vote, delta.vote.votes_for, delta.vote.total_voters)
    assert kind == "ormap"
    result = {} if delta.ormap.cleared or old is None else dict(old)
    for key in delta.ormap.removed:
        result.pop(to_elem(key), None)
    for entry in delta.ormap.updated:
        k = to_elem(entry.key)
        if k in result:
            result[k] = (result[k][0], apply_to_view(result[k][1], entry.delta))
    for entry in delta.ormap.added:
        result[to_elem(entry.key)] = (
            entry.delta.WhichOneof("delta"),
            apply_to_view(None, entry.delta),
        )
    return result


@settings(max_examples=300, deadline=None)
@given(replica_histories())
def test_deltas_move_the_user_function_from_any_view_to_the_state(
    history: tuple[str, list[Crdt]],
) -> None:
    _, (a, b, c) = history
    node = "a"
    # Initial value, then the change caused by merging other replicas in.
    initial = apply_to_view(None, full_delta(a, node))
    assert initial == view(a, node)
    target = merged(a, b, c)
    delta = diff(view(a, node), target, node)
    assert (
        apply_to_view(initial, delta) == view(target, node)
        if delta
        else (view(a, node) == view(target, node))
    )


def test_orset_add_wins_over_a_concurrent_remove() -> None:
    x = ELEMS[0]
    left, right = ORSet(), ORSet()
    left.add("a", x)
    right.merge(left)
    right.remove(x)  # b removes what it saw...
    left.add("a", x)  # ...while a re-adds it concurrently
    left.merge(right)
    right.merge(left)
    assert x in left.value() and x in right.value()


def test_ormap_entry_updated_concurrently_with_its_removal_survives() -> None:
    key = ELEMS[1]
    add = crdt_pb2.CrdtDelta()
    entry = add.ormap.added.add()
    entry.key.CopyFrom(_any(key))
    entry.delta.gcounter.increment = 1
    left = apply_delta(None, add, "a")
    right = left.copy()
    assert isinstance(right, ORMap)
    right.remove(key)
    update = crdt_pb2.CrdtDelta()
    u = update.ormap.updated.add()
    u.key.CopyFrom(_any(key))
    u.delta.gcounter.increment = 2
    apply_delta(left, update, "a")
    left.merge(right)
    assert view(left, "a") == {key: ("gcounter", 3)}
