"""The SDK's CRDT types: local operations, the deltas they produce, and proxy deltas applied.

Merge laws belong to the proxy (tests/crdt_proxy); here the user-function side shows that

* local operations change the value as their plain-Python counterparts would;
* the one delta per command, applied by a proxy replica, reproduces the value (round trip);
* the whole value as a delta recreates it (what ``init`` and ``ORMapDelta.added`` carry);
* a failed command's changes can be rolled back exactly;
* proxy deltas are applied as the protocol's table says (and are never echoed back).
"""

from __future__ import annotations

import doctest
import importlib
from typing import Any

import pytest
from google.protobuf import any_pb2, wrappers_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudstate.any_support import pack, stable_key
from cloudstate.crdt import (
    CrdtClock,
    CrdtError,
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
from cloudstate.crdt.base import Transaction
from cloudstate.protocol import crdt_pb2
from tests.crdt_sdk.ops import (
    ANY_SUPPORT,
    ELEMENTS,
    TYPES,
    Op,
    commands,
    new_model,
    proxy_apply,
    proxy_create,
    view,
)
from tests.crdt_sdk.protocol import sort_delta

NAMES = sorted(TYPES)
PROPERTY = settings(max_examples=60, deadline=None)


def run(crdt: Any, command: list[Op]) -> None:
    for op in command:
        op.on_crdt(crdt)


@pytest.mark.parametrize("type_name", NAMES)
@PROPERTY
@given(data=st.data())
def test_local_operations_match_the_model(type_name: str, data: st.DataObject) -> None:
    crdt = TYPES[type_name]()
    model = new_model(type_name)
    for command in data.draw(commands(type_name)):
        for op in command:
            op.on_crdt(crdt)
            model = op.on_model(model)
            assert view(crdt) == model, op
        crdt._reset_delta()


@pytest.mark.parametrize("type_name", NAMES)
@PROPERTY
@given(data=st.data())
def test_one_delta_per_command_reproduces_the_value(type_name: str, data: st.DataObject) -> None:
    local = TYPES[type_name]()
    replica = TYPES[type_name]()  # the proxy's copy, fed only with deltas
    for command in data.draw(commands(type_name)):
        before = view(local)
        run(local, command)
        if local._has_delta():
            delta = local._delta()
            assert delta.WhichOneof("delta") == local.delta_field
            local._reset_delta()
            proxy_apply(replica, delta)
        else:
            assert view(local) == before, "changed without a delta"
        assert not local._has_delta()
        assert view(replica) == view(local)


def has_vote(crdt: Any) -> bool:
    if isinstance(crdt, ORMap):
        return any(has_vote(value) for value in crdt.values())
    return isinstance(crdt, Vote)


@pytest.mark.parametrize("type_name", NAMES)
@PROPERTY
@given(data=st.data())
def test_the_whole_value_as_a_delta_recreates_it(type_name: str, data: st.DataObject) -> None:
    crdt = TYPES[type_name]()
    for command in data.draw(commands(type_name)):
        run(crdt, command)
    state = crdt._state_delta()
    assert view(proxy_create(state)) == view(crdt)
    if not has_vote(crdt):  # a proxy's Vote delta carries the tally, ours only our vote
        created = crdt_from_delta(state, ANY_SUPPORT)
        assert view(created) == view(crdt)
        assert not created._has_delta()


@pytest.mark.parametrize("type_name", NAMES)
@PROPERTY
@given(data=st.data())
def test_rollback_restores_value_and_pending_delta(type_name: str, data: st.DataObject) -> None:
    crdt = TYPES[type_name]()
    for command in data.draw(commands(type_name)):
        run(crdt, command)
        crdt._reset_delta()
    run(crdt, data.draw(commands(type_name).map(lambda c: [op for cmd in c for op in cmd])))
    before = (view(crdt), crdt._has_delta(), sorted_delta(crdt))
    with Transaction() as changes:
        for command in data.draw(commands(type_name)):
            run(crdt, command)
        changes.rollback()
    assert (view(crdt), crdt._has_delta(), sorted_delta(crdt)) == before
    # and the value still works as before: a command after the rollback round-trips
    replica = proxy_create(crdt._state_delta())
    crdt._reset_delta()
    for command in data.draw(commands(type_name)):
        run(crdt, command)
        if crdt._has_delta():
            proxy_apply(replica, crdt._delta())
            crdt._reset_delta()
    if not has_vote(crdt):
        assert view(replica) == view(crdt)


def sorted_delta(crdt: Any) -> crdt_pb2.CrdtDelta:
    """The pending delta with its lists sorted (element order carries no meaning)."""
    delta = crdt._delta()
    sort_delta(delta)
    return delta


def test_rollback_of_a_removal_restores_the_pending_delta() -> None:
    orset = ORSet()
    orset.add("z")
    orset._reset_delta()
    orset.update(["a", "b"])
    with Transaction() as changes:
        orset.discard("a")
        orset.clear()
        changes.rollback()
    assert sorted(orset) == ["a", "b", "z"]
    assert sorted_delta(orset) == crdt_pb2.CrdtDelta(orset={"added": [pack("a"), pack("b")]})


# -- proxy deltas (§1.5, proxy -> user function column) ------------------------------------------


def keys(values: list[Any]) -> frozenset[tuple[str, bytes]]:
    return frozenset(stable_key(v) for v in values)


@given(st.integers(0, 1000), st.integers(0, 1000))
def test_gcounter_proxy_delta_adds(initial: int, increment: int) -> None:
    counter = crdt_from_delta(crdt_pb2.CrdtDelta(gcounter={"increment": initial}), ANY_SUPPORT)
    counter._apply_delta(crdt_pb2.CrdtDelta(gcounter={"increment": increment}), ANY_SUPPORT)
    assert isinstance(counter, GCounter)
    assert counter.value == initial + increment
    assert not counter._has_delta()


@given(st.integers(-1000, 1000), st.integers(-1000, 1000))
def test_pncounter_proxy_delta_adds(initial: int, change: int) -> None:
    counter = crdt_from_delta(crdt_pb2.CrdtDelta(pncounter={"change": initial}), ANY_SUPPORT)
    counter._apply_delta(crdt_pb2.CrdtDelta(pncounter={"change": change}), ANY_SUPPORT)
    assert isinstance(counter, PNCounter)
    assert counter.value == initial + change
    assert not counter._has_delta()


@given(st.lists(ELEMENTS, max_size=4), st.lists(ELEMENTS, max_size=4))
def test_gset_proxy_delta_adds_all(initial: list[Any], added: list[Any]) -> None:
    gset = GSet()
    gset.update(initial)
    gset._reset_delta()
    gset._apply_delta(crdt_pb2.CrdtDelta(gset={"added": [pack(e) for e in added]}), ANY_SUPPORT)
    assert view(gset) == keys(initial) | keys(added)
    assert not gset._has_delta()


@given(
    st.lists(ELEMENTS, max_size=4),
    st.booleans(),
    st.lists(ELEMENTS, max_size=3),
    st.lists(ELEMENTS, max_size=3),
)
def test_orset_proxy_delta_clears_removes_then_adds(
    initial: list[Any], cleared: bool, removed: list[Any], added: list[Any]
) -> None:
    orset = ORSet()
    orset.update(initial)
    orset._reset_delta()
    delta = crdt_pb2.CrdtDelta(
        orset={
            "cleared": cleared,
            "removed": [pack(e) for e in removed],
            "added": [pack(e) for e in added],
        }
    )
    orset._apply_delta(delta, ANY_SUPPORT)
    expected = (frozenset() if cleared else keys(initial)) - keys(removed) | keys(added)
    assert view(orset) == expected
    assert not orset._has_delta()


def test_lwwregister_proxy_delta_replaces_and_discards_a_pending_write() -> None:
    register = LWWRegister("")  # creating with a value is a write...
    assert register._has_delta()
    register._apply_delta(
        crdt_pb2.CrdtDelta(lwwregister={"value": pack("one")}), ANY_SUPPORT
    )  # ...which the replicated value supersedes
    assert register.value == "one"
    assert not register._has_delta()
    register._apply_delta(crdt_pb2.CrdtDelta(lwwregister={}), ANY_SUPPORT)
    assert register.value is None


@given(st.booleans(), st.booleans())
def test_flag_proxy_delta_is_an_or(initial: bool, value: bool) -> None:
    flag = crdt_from_delta(crdt_pb2.CrdtDelta(flag={"value": initial}), ANY_SUPPORT)
    flag._apply_delta(crdt_pb2.CrdtDelta(flag={"value": value}), ANY_SUPPORT)
    assert isinstance(flag, Flag)
    assert flag.enabled == (initial or value)
    assert not flag._has_delta()


@given(st.booleans(), st.booleans(), st.integers(0, 9), st.integers(1, 9))
def test_vote_proxy_delta_overwrites(own: bool, new_own: bool, votes: int, voters: int) -> None:
    vote = Vote()
    vote.vote(own)
    vote._reset_delta()
    vote._apply_delta(
        crdt_pb2.CrdtDelta(vote={"self_vote": new_own, "votes_for": votes, "total_voters": voters}),
        ANY_SUPPORT,
    )
    assert (vote.self_vote, vote.votes_for, vote.total_voters) == (new_own, votes, voters)
    assert not vote._has_delta()
    assert vote.at_least_one == (votes > 0)
    assert vote.majority == (2 * votes > voters)
    assert vote.all == (votes == voters)


MAP_KEYS = ["a", "b", "c", "d"]


@given(
    st.dictionaries(st.sampled_from(MAP_KEYS), st.integers(-5, 5)),
    st.booleans(),
    st.sets(st.sampled_from(MAP_KEYS)),
    st.dictionaries(st.sampled_from(MAP_KEYS), st.integers(-5, 5)),
    st.dictionaries(st.sampled_from(MAP_KEYS), st.lists(st.sampled_from("xyz"), max_size=2)),
)
def test_ormap_proxy_delta(
    initial: dict[str, int],
    cleared: bool,
    removed: set[str],
    updated: dict[str, int],
    added: dict[str, list[str]],
) -> None:
    """clear; remove keys; nested deltas to existing keys only; ``added`` creates or replaces."""
    ormap = ORMap()
    for key, value in initial.items():
        ormap.get_or_create(key, PNCounter).increment(value)
    ormap._reset_delta()
    delta = crdt_pb2.CrdtDelta(ormap={"cleared": cleared, "removed": [pack(k) for k in removed]})
    for key, change in updated.items():
        delta.ormap.updated.add(key=pack(key), delta={"pncounter": {"change": change}})
    for key, elements in added.items():
        delta.ormap.added.add(key=pack(key), delta={"gset": {"added": [pack(e) for e in elements]}})
    ormap._apply_delta(delta, ANY_SUPPORT)

    expected: dict[Any, Any] = {} if cleared else dict(initial)
    for key in removed:
        expected.pop(key, None)
    for key, change in updated.items():
        if key in expected:
            expected[key] += change
    got = {key: value.value for key, value in ormap.items() if isinstance(value, PNCounter)}
    assert got == {k: v for k, v in expected.items() if k not in added}
    for key, elements in added.items():
        value = ormap[key]
        assert isinstance(value, GSet)
        assert view(value) == keys(elements)
    assert not ormap._has_delta()


def test_a_delta_of_another_type_is_a_protocol_error() -> None:
    with pytest.raises(CrdtError, match="pncounter delta for a GCounter"):
        GCounter()._apply_delta(crdt_pb2.CrdtDelta(pncounter={"change": 1}), ANY_SUPPORT)
    with pytest.raises(CrdtError, match="empty"):
        crdt_from_delta(crdt_pb2.CrdtDelta(), ANY_SUPPORT)


# -- the user-function delta rules of the reference implementation -------------------------------


def test_orset_changes_cancel_and_removing_the_last_element_clears() -> None:
    orset = ORSet()
    orset.update(["a", "b"])
    orset._reset_delta()
    orset.add("x")
    orset.discard("x")  # added then removed: nothing
    orset.discard("a")
    orset.add("a")  # removed then added: nothing
    assert not orset._has_delta()
    orset.discard("a")
    orset.discard("b")  # the last one
    assert orset._delta() == crdt_pb2.CrdtDelta(orset={"cleared": True})
    with pytest.raises(KeyError):
        orset.remove("zzz")


def test_new_values_in_an_ormap_carry_their_whole_value_even_when_empty() -> None:
    ormap = ORMap()
    for name, cls in TYPES.items():
        if name != "LWWRegister":
            ormap.get_or_create(name, cls)
    ormap.get_or_create("LWWRegister", lambda: LWWRegister("zero"))
    added = {ANY_SUPPORT.unpack(e.key): e.delta for e in ormap._delta().ormap.added}
    assert added == {
        "GCounter": crdt_pb2.CrdtDelta(gcounter={}),
        "PNCounter": crdt_pb2.CrdtDelta(pncounter={}),
        "GSet": crdt_pb2.CrdtDelta(gset={}),
        "ORSet": crdt_pb2.CrdtDelta(orset={}),
        "Flag": crdt_pb2.CrdtDelta(flag={}),
        "ORMap": crdt_pb2.CrdtDelta(ormap={}),
        "Vote": crdt_pb2.CrdtDelta(vote={}),
        "LWWRegister": crdt_pb2.CrdtDelta(lwwregister={"value": pack("zero")}),
    }
    assert all(e.delta.WhichOneof("delta") for e in ormap._delta().ormap.added)
    ormap._reset_delta()
    ormap["GCounter"].increment(2)  # type: ignore[attr-defined]
    ormap["PNCounter"] = PNCounter()  # replaced: removed, then added
    delta = ormap._delta().ormap
    assert [ANY_SUPPORT.unpack(k) for k in delta.removed] == ["PNCounter"]
    assert [ANY_SUPPORT.unpack(e.key) for e in delta.added] == ["PNCounter"]
    assert [(ANY_SUPPORT.unpack(e.key), e.delta) for e in delta.updated] == [
        ("GCounter", crdt_pb2.CrdtDelta(gcounter={"increment": 2}))
    ]
    with pytest.raises(TypeError, match="holds a GCounter, not a Flag"):
        ormap.get_or_create("GCounter", Flag)


def test_lwwregister_writes_and_clocks() -> None:
    register = LWWRegister()
    assert register.value is None and not register._has_delta()
    register.set("A")
    register._reset_delta()
    register.set("A")  # same value, same clock: no write
    assert not register._has_delta()
    register.set("A", CrdtClock.CUSTOM, 123)  # same value, another clock: a write
    assert register._delta() == crdt_pb2.CrdtDelta(
        lwwregister={"value": pack("A"), "clock": crdt_pb2.CUSTOM, "custom_clock_value": 123}
    )


def test_vote_toggled_back_in_one_command_sends_nothing() -> None:
    vote = Vote()
    vote.vote(True)
    vote.vote(False)
    assert not vote._has_delta()
    vote.vote(True)
    assert vote._delta() == crdt_pb2.CrdtDelta(vote={"self_vote": True})


def test_counters_check_their_arguments() -> None:
    with pytest.raises(ValueError, match="cannot decrease"):
        GCounter().increment(-1)
    with pytest.raises(TypeError):
        PNCounter().increment(1.5)  # type: ignore[arg-type]
    with pytest.raises(OverflowError):
        GCounter().increment(2**64)


# -- elements ------------------------------------------------------------------------------------


def test_elements_are_compared_by_stable_encoding() -> None:
    gset = GSet()
    gset.add({"b": 1, "a": [1, 2]})
    assert {"a": [1, 2], "b": 1} in gset  # unhashable, key order irrelevant
    gset.add(wrappers_pb2.StringValue(value="m"))
    assert wrappers_pb2.StringValue(value="m") in gset
    assert 1 not in gset and True not in gset and "1" not in gset
    gset.add(1)
    assert 1 in gset and True not in gset  # int64 and bool encode differently
    value = {"k": "v"}
    orset = ORSet()
    orset.add(value)
    value["k"] = "changed"  # the set keeps its own copy
    assert {"k": "v"} in orset


def test_unknown_protobuf_elements_stay_as_any_and_re_encode_identically() -> None:
    unknown = any_pb2.Any(type_url="type.googleapis.com/nobody.Knows", value=b"\x08\x01")
    orset = ORSet()
    orset._apply_delta(crdt_pb2.CrdtDelta(orset={"added": [unknown]}), ANY_SUPPORT)
    (element,) = list(orset)
    assert element == unknown and unknown in orset
    orset.discard(element)
    assert orset._delta() == crdt_pb2.CrdtDelta(orset={"cleared": True})


MODULES = [
    "cloudstate.crdt.counters",
    "cloudstate.crdt.sets",
    "cloudstate.crdt.register",
    "cloudstate.crdt.vote",
    "cloudstate.crdt.ormap",
]


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module: str) -> None:
    import cloudstate.crdt

    globs = {name: getattr(cloudstate.crdt, name) for name in cloudstate.crdt.__all__}
    result = doctest.testmod(importlib.import_module(module), extraglobs=globs)
    assert result.attempted > 0 and result.failed == 0
