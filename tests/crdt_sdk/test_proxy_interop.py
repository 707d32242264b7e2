"""Deltas round-trip between the SDK's CRDTs and the proxy's replicas (``cloudstate.proxy.crdt``).

Two user functions (nodes ``n1`` and ``n2``) change one proxy replica with the deltas the SDK
produces; after each change the proxy computes the delta bringing ``n1``'s SDK value up to date
(:func:`~cloudstate.proxy.crdt.wire.diff`), the SDK applies it, and both sides must then show the
same value. This proves the two halves agree on the wire format in both directions, for random
operations on all eight types (maps nested two deep).
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudstate.any_support import stable_key
from cloudstate.crdt import Crdt, LWWRegister, ORMap, crdt_from_delta
from cloudstate.proxy.crdt import wire
from tests.crdt_sdk.ops import ANY_SUPPORT, TYPES, commands, view
from tests.crdt_sdk.protocol import gset, ormap

# Every type, ORMap included: an entry removed and re-created since the user function's view
# is replaced (removed + added) when a nested delta cannot express the change.
NAMES = sorted(TYPES)


def as_proxy_view(crdt: Crdt) -> Any:
    """The SDK value in the proxy's view representation (map values tagged by delta field)."""
    if isinstance(crdt, ORMap):
        return {stable_key(k): (crdt[k].delta_field, as_proxy_view(crdt[k])) for k in crdt}
    if isinstance(crdt, LWWRegister) and crdt.value is None:
        return ("", b"")
    return view(crdt)


@pytest.mark.parametrize("type_name", NAMES)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_deltas_round_trip_through_the_proxy(type_name: str, data: st.DataObject) -> None:
    clock = itertools.count(1_000)
    local = TYPES[type_name]()  # the SDK value on n1 (what the test checks)
    remote = TYPES[type_name]()  # another user function's SDK value, on n2
    replica: Any = None  # the proxy's replicated state
    seen: Any = None  # the view the proxy last gave n1
    steps = data.draw(st.lists(st.tuples(st.booleans(), commands(type_name)), max_size=4))
    for is_local, batch in steps:
        for command in batch:
            crdt, node = (local, "n1") if is_local else (remote, "n2")
            for op in command:
                op.on_crdt(crdt)
            if not crdt._has_delta():
                continue
            delta = crdt._delta()
            crdt._reset_delta()
            replica = wire.apply_delta(replica, delta, node, next(clock))
            if is_local:  # the user function already holds what it sent
                seen = wire.view(replica, "n1")
                assert seen == as_proxy_view(local)
                continue
            update = wire.diff(seen, replica, "n1")
            if update is not None:
                if seen is None:  # the first value n1 hears of: as in init
                    local = crdt_from_delta(update, ANY_SUPPORT)
                else:
                    local._apply_delta(update, ANY_SUPPORT)
                assert not local._has_delta()
            seen = wire.view(replica, "n1")
            assert as_proxy_view(local) == seen


def test_proxy_diff_of_a_re_created_map_entry() -> None:
    replica = wire.apply_delta(None, ormap(added={"GSet-1": gset("a")}), "n2", 1)
    update = wire.diff(None, replica, "n1")
    assert update is not None
    local = crdt_from_delta(update, ANY_SUPPORT)
    seen = wire.view(replica, "n1")
    # another node clears the map and re-creates the entry with other contents
    replica = wire.apply_delta(replica, ormap(cleared=True, added={"GSet-1": gset("b")}), "n2", 2)
    update = wire.diff(seen, replica, "n1")
    assert update is not None
    local._apply_delta(update, ANY_SUPPORT)
    assert as_proxy_view(local) == wire.view(replica, "n1")
