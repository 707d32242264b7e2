"""The time-to-live tests' user function: ``python -m tests.ttl.uf`` on ``$HOST:$PORT``.

Serves ``ttltest.Counters`` (a value entity holding a ``Total``) and ``ttltest.Tallies`` (a CRDT
GCounter), both declared with ``option (cloudstate.entity_ttl) = "2s"`` (tests/ttl/proto). ``Add``
adds ``amount`` and answers the new total; ``Get`` answers the total (0 for an absent entity).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # protoc's "ttltest" imports

from ttltest.counters_pb2 import _COUNTERS, _TALLIES, DESCRIPTOR, Add, Total

from cloudstate import (
    CloudState,
    CrdtEntity,
    GCounter,
    ValueEntity,
    ValueEntityCommandContext,
)

counters = ValueEntity(_COUNTERS, [DESCRIPTOR], lambda entity_id: Total(), persistence_id="ttl")


@counters.command_handler("Add")
def add(total: Total, request: Add, ctx: ValueEntityCommandContext) -> Total:
    total.total += request.amount
    ctx.update_state(total)
    return total


@counters.command_handler("Get")
def get(total: Total, request: Add) -> Total:
    return total


tallies = CrdtEntity(_TALLIES, [DESCRIPTOR], GCounter, persistence_id="ttl-tallies")


@tallies.command_handler("Add")
def tally(counter: GCounter, request: Add) -> Total:
    counter.increment(request.amount)
    return Total(total=counter.value)


@tallies.command_handler("Get")
def get_tally(counter: GCounter, request: Add) -> Total:
    return Total(total=counter.value)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    CloudState().register_value_entity(counters).register_crdt_entity(tallies).start()
