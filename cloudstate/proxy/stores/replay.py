"""Replaying an entity's journal with its integrity checked: what an actor activation reads.

A journal is written gap-free (``append_events`` is conditional on the latest sequence and
assigns ``expected + 1 ...``) and a snapshot is saved together with the event it follows, so a
replay can check, at the cost of one integer comparison per event and one extra row:

* the events come with contiguous sequences, starting right after the snapshot (or at 1);
* the snapshot is not ahead of the journal: the event at the snapshot's own sequence is stored.
  The replay reads from that event on (in the same query as the tail) and does not hand it out.

A violation raises :class:`~cloudstate.proxy.stores.base.JournalDamaged` naming the entity and
the gap; only then is the journal's highest sequence read, to say by how much a snapshot is ahead.
Events before the snapshot are not read, so a gap there goes unnoticed (it changes nothing the
entity sees), and neither are events missing from the very end of a journal without a snapshot
there (they cannot be told from events never written).

Example::

    async for event in replay_events(store, "carts", "alice", snapshot_sequence=10):
        ...  # events 11, 12, ... in order, or JournalDamaged
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from cloudstate.proxy.stores.base import JournalDamaged, Store, StoredEvent


async def replay_events(
    store: Store, persistence_id: str, entity_id: str, snapshot_sequence: int = 0
) -> AsyncIterator[StoredEvent]:
    """Yield the entity's events after ``snapshot_sequence`` (0: no snapshot), in order, checked
    as the module docs say; :class:`JournalDamaged` on a gap or a snapshot ahead of the events."""
    expected = snapshot_sequence or 1
    async for event in store.read_events(
        persistence_id, entity_id, after_sequence=max(snapshot_sequence - 1, 0)
    ):
        if event.sequence != expected:
            raise JournalDamaged(
                persistence_id,
                entity_id,
                f"expected sequence {expected}, found {event.sequence}"
                + _what_is_missing(snapshot_sequence, expected, event.sequence),
            )
        expected += 1
        if event.sequence > snapshot_sequence:
            yield event
    if snapshot_sequence and expected == snapshot_sequence:  # not even the snapshot's event
        highest = await store.highest_sequence(persistence_id, entity_id)
        raise JournalDamaged(
            persistence_id,
            entity_id,
            f"the snapshot is at sequence {snapshot_sequence} but the journal ends at "
            f"{highest}: the snapshot is ahead of the events",
        )


def _what_is_missing(snapshot_sequence: int, expected: int, found: int) -> str:
    if found < expected:  # a store that breaks its ordering contract
        return " (events out of order or repeated)"
    missing = (
        f"event {expected} is missing"
        if found == expected + 1
        else f"events {expected} to {found - 1} are missing"
    )
    if expected == snapshot_sequence:
        return f" ({missing}: the snapshot at sequence {snapshot_sequence} has no event)"
    return f" ({missing})"
