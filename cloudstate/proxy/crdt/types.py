"""State-based CRDTs as the proxy holds them.

Every replica has a node id. Local updates (the user function's deltas, applied on this node)
are tagged with it; :meth:`Crdt.merge` combines states from any replicas and is commutative,
associative and idempotent, so a remote state can be merged at any time and in any order.

Set elements and map keys are :data:`Elem` — the ``(type_url, value)`` of a ``google.protobuf.Any``
in its stable encoding — so equality is byte equality and no user type is ever parsed here.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

Elem = tuple[str, bytes]  # (type_url, value) of an Any
Dot = tuple[str, int]  # (node, counter): one add event


class IncompatibleDelta(ValueError):
    """A delta that cannot apply to this CRDT (wrong type, decrementing a GCounter, ...)."""


class Crdt(ABC):
    """A replicated data type. ``kind`` is the CrdtDelta oneof field name of its type."""

    kind: ClassVar[str]

    @abstractmethod
    def merge(self, other: Crdt) -> None:
        """Merge ``other`` (a state from any replica) into this one."""

    @abstractmethod
    def value(self) -> Any:
        """The plain value the user function sees (used to compute deltas for it)."""

    def copy(self) -> Crdt:
        return copy.deepcopy(self)

    def _check(self, other: Crdt) -> None:
        if type(other) is not type(self):
            raise IncompatibleDelta(f"cannot merge {other.kind} into {self.kind}")


@dataclass
class GCounter(Crdt):
    kind: ClassVar[str] = "gcounter"
    counts: dict[str, int] = field(default_factory=dict)

    def increment(self, node: str, amount: int) -> None:
        if amount < 0:
            raise IncompatibleDelta("a GCounter cannot be decremented")
        if amount == 0:
            return  # no zero entries: states stay canonical, so equal states encode equally
        self.counts[node] = self.counts.get(node, 0) + amount

    def merge(self, other: Crdt) -> None:
        self._check(other)
        assert isinstance(other, GCounter)
        for node, count in other.counts.items():
            if count > self.counts.get(node, 0):
                self.counts[node] = count

    def value(self) -> int:
        return sum(self.counts.values())


@dataclass
class PNCounter(Crdt):
    kind: ClassVar[str] = "pncounter"
    increments: GCounter = field(default_factory=GCounter)
    decrements: GCounter = field(default_factory=GCounter)

    def change(self, node: str, amount: int) -> None:
        if amount >= 0:
            self.increments.increment(node, amount)
        else:
            self.decrements.increment(node, -amount)

    def merge(self, other: Crdt) -> None:
        self._check(other)
        assert isinstance(other, PNCounter)
        self.increments.merge(other.increments)
        self.decrements.merge(other.decrements)

    def value(self) -> int:
        return self.increments.value() - self.decrements.value()


@dataclass
class GSet(Crdt):
    kind: ClassVar[str] = "gset"
    elements: set[Elem] = field(default_factory=set)

    def add(self, elem: Elem) -> None:
        self.elements.add(elem)

    def merge(self, other: Crdt) -> None:
        self._check(other)
        assert isinstance(other, GSet)
        self.elements |= other.elements

    def value(self) -> frozenset[Elem]:
        return frozenset(self.elements)


@dataclass
class ORSet(Crdt):
    """Add-wins observed-remove set: each add is a dot; a remove drops the dots it has seen.

    ``context`` is the highest dot counter seen per node (dots of a node are contiguous because
    every replica only ever merges whole states), so "seen" is ``counter <= context[node]``.
    """

    kind: ClassVar[str] = "orset"
    entries: dict[Elem, set[Dot]] = field(default_factory=dict)
    context: dict[str, int] = field(default_factory=dict)

    def _next_dot(self, node: str) -> Dot:
        counter = self.context.get(node, 0) + 1
        self.context[node] = counter
        return (node, counter)

    def add(self, node: str, elem: Elem) -> None:
        # Re-adding replaces this element's dots with a fresh one (it observed the old ones).
        self.entries[elem] = {self._next_dot(node)}

    def remove(self, elem: Elem) -> None:
        self.entries.pop(elem, None)

    def clear(self) -> None:
        self.entries.clear()

    def _seen(self, dot: Dot) -> bool:
        return dot[1] <= self.context.get(dot[0], 0)

    def merge(self, other: Crdt) -> None:
        self._check(other)
        assert isinstance(other, ORSet)
        merged: dict[Elem, set[Dot]] = {}
        for elem in self.entries.keys() | other.entries.keys():
            mine = self.entries.get(elem, set())
            theirs = other.entries.get(elem, set())
            dots = (
                (mine & theirs)
                | {d for d in mine if not other._seen(d)}
                | {d for d in theirs if not self._seen(d)}
            )
            if dots:
                merged[elem] = dots
        self.entries = merged
        for node, counter in other.context.items():
            if counter > self.context.get(node, 0):
                self.context[node] = counter

    def value(self) -> frozenset[Elem]:
        return frozenset(self.entries)


@dataclass
class LWWRegister(Crdt):
    """Last writer wins: the greatest ``(clock, node)`` holds the value.

    Two writes by one node with the same clock (a custom clock value reused) tie on
    ``(clock, node)``; the greater element then wins, so that replicas merging them in any
    order agree (merge stays commutative, associative and idempotent).
    """

    kind: ClassVar[str] = "lwwregister"
    elem: Elem = ("", b"")
    clock: int = 0
    node: str = ""

    def set(self, node: str, elem: Elem, clock: int) -> None:
        self.elem, self.clock, self.node = elem, clock, node

    def merge(self, other: Crdt) -> None:
        self._check(other)
        assert isinstance(other, LWWRegister)
        if (other.clock, other.node, other.elem) > (self.clock, self.node, self.elem):
            self.elem, self.clock, self.node = other.elem, other.clock, other.node

    def value(self) -> Elem:
        return self.elem


@dataclass
class Flag(Crdt):
    kind: ClassVar[str] = "flag"
    enabled: bool = False

    def enable(self) -> None:
        self.enabled = True

    def merge(self, other: Crdt) -> None:
        self._check(other)
        assert isinstance(other, Flag)
        self.enabled = self.enabled or other.enabled

    def value(self) -> bool:
        return self.enabled


@dataclass
class Vote(Crdt):
    """Each node's latest vote, versioned per node; totals count the current members only."""

    kind: ClassVar[str] = "vote"
    votes: dict[str, tuple[int, bool]] = field(default_factory=dict)  # node -> (version, vote)
    members: frozenset[str] | None = None  # None: every node that ever voted is a member

    def vote(self, node: str, value: bool) -> None:
        version, current = self.votes.get(node, (0, False))
        if current != value or node not in self.votes:
            self.votes[node] = (version + 1, value)

    def merge(self, other: Crdt) -> None:
        self._check(other)
        assert isinstance(other, Vote)
        for node, (version, value) in other.votes.items():
            if version > self.votes.get(node, (0, False))[0]:
                self.votes[node] = (version, value)

    def tally(self, node: str) -> tuple[bool, int, int]:
        """(this node's vote, votes for, total voters) over the current members."""
        if self.members is not None:
            members = self.members
        else:
            # Without a membership view, a replica counts itself and every replica whose latest
            # vote is "for": a replica that left after voting "against" no longer counts.
            members = frozenset(n for n, (_, vote) in self.votes.items() if vote) | {node}
        votes_for = sum(1 for m in members if self.votes.get(m, (0, False))[1])
        return self.votes.get(node, (0, False))[1], votes_for, len(members)

    def value(self) -> tuple[bool, int, int]:
        raise NotImplementedError("use tally(node): a vote's value depends on the node")


@dataclass
class ORMap(Crdt):
    """Keys form an add-wins set; each key's value is a CRDT.

    Values are kept per *slot* ``(key, dot)``: every local update of an entry stores the entry's
    new value under a fresh dot (which replaces the dots it observed), and a slot's value never
    changes afterwards. An entry's value is the merge of its live slots. Merging two maps is then
    the ORSet merge of the keys plus the union of the live slots — a proper join, so merges
    commute and associate; a removed entry's data never comes back, while an update made
    concurrently with a removal wins (add-wins).
    """

    kind: ClassVar[str] = "ormap"
    keys: ORSet = field(default_factory=ORSet)
    slots: dict[tuple[Elem, Dot], Crdt] = field(default_factory=dict)

    @property
    def values(self) -> dict[Elem, Crdt]:
        """The live entries and their merged values."""
        result: dict[Elem, Crdt] = {}
        for key, dots in self.keys.entries.items():
            values = [self.slots[(key, d)] for d in sorted(dots) if (key, d) in self.slots]
            if not values:
                continue
            kind = max(v.kind for v in values)  # concurrent puts of different types
            same = [v for v in values if v.kind == kind]
            value = same[0].copy()
            for other in same[1:]:
                value.merge(other)
            result[key] = value
        return result

    def put(self, node: str, key: Elem, value: Crdt) -> None:
        """Set the entry's value (a new or updated value computed by the caller)."""
        for dot in self.keys.entries.get(key, ()):
            self.slots.pop((key, dot), None)
        self.keys.add(node, key)
        (dot,) = self.keys.entries[key]
        self.slots[(key, dot)] = value.copy()

    def remove(self, key: Elem) -> None:
        for dot in self.keys.entries.get(key, ()):
            self.slots.pop((key, dot), None)
        self.keys.remove(key)

    def clear(self) -> None:
        self.keys.clear()
        self.slots.clear()

    def merge(self, other: Crdt) -> None:
        self._check(other)
        assert isinstance(other, ORMap)
        self.keys.merge(other.keys)
        live = {(key, dot) for key, dots in self.keys.entries.items() for dot in dots}
        slots = {slot: value for slot, value in self.slots.items() if slot in live}
        for slot, value in other.slots.items():
            if slot in live and slot not in slots:
                slots[slot] = value.copy()
        self.slots = slots

    def value(self) -> dict[Elem, Crdt]:
        return self.values


CRDT_TYPES: dict[str, type[Crdt]] = {
    cls.kind: cls for cls in (GCounter, PNCounter, GSet, ORSet, LWWRegister, Flag, ORMap, Vote)
}
