"""Who owns an entity: rendezvous hashing of (service, entity key) over the live members.

Every member computes the same owner from the same member list, with no coordination: each
member scores ``hash(service, key)`` mixed with its own id and the highest score owns the
entity. When a member leaves, only its own entities move (to their second-best member); when
one joins it takes about 1/N of the entities from each of the others.

The member list comes from outside (:meth:`Ownership.set_members`): on one node the supervisor's
fixed worker ids (a dead worker stays a member while it restarts, so its entities wait for it
rather than moving); across nodes a membership source (e.g. leases in PostgreSQL) may call
``set_members`` whenever the live set changes, and listeners (:meth:`Ownership.on_change`) hear
of it.

Example::

    ownership = Ownership(["w0", "w1"])
    ownership.owner("com.example.ShoppingCart", "alice")   # "w0" or "w1", the same everywhere
    ownership.on_change(lambda members: print("now", members))
    ownership.set_members(["w0", "w1", "w2"])
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

_MASK = (1 << 64) - 1


def _hash64(text: str) -> int:
    """A stable 64-bit hash (not Python's ``hash``, which differs between processes)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def _mix(value: int) -> int:
    """splitmix64's finalizer: spreads a 64-bit value so nearby inputs score independently."""
    value = (value ^ (value >> 30)) * 0xBF58476D1CE4E5B9 & _MASK
    value = (value ^ (value >> 27)) * 0x94D049BB133111EB & _MASK
    return value ^ (value >> 31)


class OwnerOf(Protocol):
    """What the forwarding needs to know: the member that owns a key, and this member's id."""

    @property
    def me(self) -> str: ...

    def owner(self, service: str, key: str) -> str: ...


class Ownership:
    """Rendezvous-hash ownership over a list of member ids (``me``: this process's id)."""

    def __init__(self, members: Iterable[str], me: str = "") -> None:
        self.me = me
        self._members: tuple[tuple[str, int], ...] = ()
        self._listeners: list[Callable[[Sequence[str]], None]] = []
        self.set_members(members)

    @property
    def members(self) -> tuple[str, ...]:
        return tuple(member for member, _ in self._members)

    def owner(self, service: str, key: str) -> str:
        """The member owning ``key`` of ``service``; raises LookupError with no members."""
        members = self._members
        if len(members) == 1:
            return members[0][0]
        if not members:
            raise LookupError(f"no live member to own {service}/{key}")
        point = _hash64(f"{service}\0{key}")
        best, best_score = "", -1
        for member, salt in members:
            score = _mix(point ^ salt)
            if score > best_score:
                best, best_score = member, score
        return best

    def set_members(self, members: Iterable[str]) -> None:
        """Replace the live members (sorted, duplicates dropped) and tell the listeners."""
        unique = sorted(set(members))
        changed = unique != list(self.members)
        self._members = tuple((member, _hash64(member)) for member in unique)
        if changed:
            for listener in list(self._listeners):
                listener(unique)

    def on_change(self, listener: Callable[[Sequence[str]], None]) -> None:
        """Call ``listener(members)`` whenever the member list changes."""
        self._listeners.append(listener)


def worker_id(index: int) -> str:
    """The member id of proxy worker ``index`` on this node (``worker_id(0) == "w0"``)."""
    return f"w{index}"
