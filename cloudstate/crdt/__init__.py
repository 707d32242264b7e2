"""CRDT entities: replicated data types the proxy merges across nodes.

The eight types record the changes command handlers make to them; the SDK sends one aggregated
delta per command and applies the changes other replicas made::

    from cloudstate.crdt import CrdtEntity, CrdtCommandContext, GCounter

    entity = CrdtEntity(_LIKES, [likes_pb2.DESCRIPTOR], GCounter)

    @entity.command_handler("Like")
    def like(counter: GCounter, request: LikeRequest) -> Likes:
        counter.increment(1)
        return Likes(count=counter.value)

See ``docs/crdt.md``.
"""

from __future__ import annotations

from cloudstate.crdt.base import Crdt, CrdtClock, CrdtError, WriteConsistency, crdt_from_delta
from cloudstate.crdt.context import (
    CrdtCommandContext,
    CrdtContext,
    StreamCancelledContext,
    SubscriptionContext,
)
from cloudstate.crdt.counters import GCounter, PNCounter
from cloudstate.crdt.entity import CRDT_ENTITY_TYPE, CrdtEntity
from cloudstate.crdt.ormap import ORMap
from cloudstate.crdt.register import Flag, LWWRegister
from cloudstate.crdt.servicer import add_crdt_servicer
from cloudstate.crdt.sets import GSet, ORSet
from cloudstate.crdt.vote import Vote
from cloudstate.registry import EntityKind, register_kind

#: The CRDT kind: its protocol service and servicer (:mod:`cloudstate.registry`).
CRDT = register_kind(EntityKind(CRDT_ENTITY_TYPE, add_crdt_servicer))

__all__ = [
    "CRDT",
    "CRDT_ENTITY_TYPE",
    "Crdt",
    "CrdtClock",
    "CrdtCommandContext",
    "CrdtContext",
    "CrdtEntity",
    "CrdtError",
    "Flag",
    "GCounter",
    "GSet",
    "LWWRegister",
    "ORMap",
    "ORSet",
    "PNCounter",
    "StreamCancelledContext",
    "SubscriptionContext",
    "Vote",
    "WriteConsistency",
    "crdt_from_delta",
]
