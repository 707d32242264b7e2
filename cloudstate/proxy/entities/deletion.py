"""Deleting an event-sourced entity: a tombstone now, physical removal after a grace period
(docs/eventsourced.md#deleting-an-entity, docs/protocol-lifecycle.md).

A deletion — asked by the entity's own command (``EventSourcedReply.delete_entity``) or by an
operator (:func:`delete_entity`) — is **one** journal write:

* the **tombstone**, a ``cloudstate.lifecycle.EntityDeleted`` event, appended after the entity's
  events (consumers of the event log receive it like any event);
* the same tombstone saved as the entity's **snapshot**, replacing the last real one at once. An
  activation that finds a tombstone snapshot starts the entity fresh (no snapshot, no events:
  the replay begins after the tombstone), so a new command after a deletion sees a new entity;
* a **purge task** (a durable task, so it survives restarts) due after the grace period, which
  removes the events before the tombstone — and the tombstone and its snapshot, if the entity
  was not used again meanwhile (:meth:`~cloudstate.proxy.stores.base.Store.purge_entity`).

No store schema change: the tombstone is an ordinary event, the purge an ordinary task that the
delivery loop runs itself instead of calling the user function (:func:`run_purge`).

Example::

    sequence = await delete_entity(store, "shopping-cart", "alice", grace=3600)
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from cloudstate.lifecycle_pb2 import EntityDeleted
from cloudstate.proxy.durations import parse_age
from cloudstate.proxy.stores.base import ConcurrentWriteError, DurableTask, Payload, Store

if TYPE_CHECKING:
    from cloudstate.proxy.config import ProxyConfig

#: The protocol extension (ProxyInfo.extensions) that lets a command delete its entity.
LIFECYCLE_EXTENSION = "cloudstate.lifecycle/1"
#: The type URL of the tombstone event (and snapshot).
TOMBSTONE_TYPE_URL = "type.googleapis.com/" + EntityDeleted.DESCRIPTOR.full_name
#: Names of purge tasks start with this (the delivery loop runs them itself).
PURGE_TASK_PREFIX = "entity-purge:"
_PURGE_TYPE_URL = "json.cloudstate.io/cloudstate.lifecycle.Purge"
#: The default time between a deletion and the physical removal of the entity's events.
DEFAULT_GRACE = 24 * 3600.0


def is_tombstone(payload: Payload) -> bool:
    """True if ``payload`` (an event or a snapshot) is a deletion's tombstone."""
    return payload.type_url == TOMBSTONE_TYPE_URL


def tombstone(entity_id: str, deleted_by: str, now: float, grace: float) -> Payload:
    """The tombstone event of a deletion of ``entity_id`` at ``now`` by ``"command"`` or
    ``"operator"``, whose purge is due ``grace`` seconds later."""
    message = EntityDeleted(
        entity_id=entity_id, deleted_at=now, deleted_by=deleted_by, purge_at=now + grace
    )
    return Payload(TOMBSTONE_TYPE_URL, message.SerializeToString())


def purge_task(persistence_id: str, entity_id: str, sequence: int, due: float) -> DurableTask:
    """The task that purges the entity deleted by the tombstone at ``sequence``. One per entity
    (a later deletion replaces it: its purge removes everything the earlier one would)."""
    body = json.dumps({"persistence_id": persistence_id, "entity_id": entity_id, "seq": sequence})
    return DurableTask(
        name=f"{PURGE_TASK_PREFIX}{persistence_id}|{entity_id}",
        key=f"purge:{persistence_id}|{entity_id}@{sequence}",
        service="cloudstate.lifecycle",
        method="Purge",
        payload=Payload(_PURGE_TYPE_URL, body.encode()),
        due=due,
    )


async def run_purge(store: Store, task: DurableTask) -> None:
    """Run a purge task: physically remove what the tombstone it names made unreachable."""
    body = json.loads(task.payload.value)
    await store.purge_entity(body["persistence_id"], body["entity_id"], int(body["seq"]))


def lifecycle_settings(config: ProxyConfig, service_name: str) -> tuple[float, bool]:
    """``(deletion grace in seconds, compaction on)`` for an event-sourced service, from
    ``--deletion-grace`` and ``--journal-compaction``."""
    grace = parse_age(config.deletion_grace, "--deletion-grace", "purges at once")
    names = {name.strip() for name in config.journal_compaction.split(",") if name.strip()}
    return grace, "*" in names or service_name in names


async def delete_entity(
    store: Store,
    persistence_id: str,
    entity_id: str,
    grace: float = DEFAULT_GRACE,
    *,
    attempts: int = 5,
) -> int:
    """Delete an event-sourced entity as an operator: journal its tombstone (and tombstone
    snapshot) with the purge task due ``grace`` seconds from now, in one transaction. Returns
    the tombstone's sequence. Consumers of the entity type's event log receive the tombstone;
    the entity's next command starts it fresh. An actor holding the entity in memory finds its
    next write refused (the journal moved) and replays into the fresh entity.

    Raises ``LookupError`` if the entity has no journal (nothing to delete), and
    :class:`~cloudstate.proxy.stores.base.ConcurrentWriteError` if its commands kept writing
    through ``attempts`` tries.

    Example (the admin API and the CLI call this)::

        await delete_entity(store, "shopping-cart", "alice", grace=0)  # purge at once
    """
    for attempt in range(1, attempts + 1):
        highest = await store.highest_sequence(persistence_id, entity_id)
        if highest == 0:
            raise LookupError(
                f"event-sourced entity {persistence_id}|{entity_id} has no events: nothing to "
                "delete (check the persistence id and the entity id)"
            )
        snapshot = await store.load_snapshot(persistence_id, entity_id)
        if snapshot is not None and snapshot.sequence == highest and is_tombstone(snapshot.payload):
            return highest  # deleted already, not used since
        now = time.time()
        marker = tombstone(entity_id, "operator", now, grace)
        try:
            return await store.append_events(
                persistence_id,
                entity_id,
                highest,
                [marker],
                snapshot=marker,
                tasks=[purge_task(persistence_id, entity_id, highest + 1, now + grace)],
            )
        except ConcurrentWriteError:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


__all__ = [
    "DEFAULT_GRACE",
    "LIFECYCLE_EXTENSION",
    "PURGE_TASK_PREFIX",
    "TOMBSTONE_TYPE_URL",
    "delete_entity",
    "is_tombstone",
    "lifecycle_settings",
    "purge_task",
    "run_purge",
    "tombstone",
]
