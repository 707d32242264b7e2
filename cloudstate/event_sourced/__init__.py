"""Event-sourced entities: state rebuilt from events, changed only by emitting events.

* :mod:`~cloudstate.event_sourced.entity` — :class:`EventSourcedEntity` and its decorators;
* :mod:`~cloudstate.event_sourced.context` — the contexts its handlers receive;
* :mod:`~cloudstate.event_sourced.servicer` — the ``cloudstate.eventsourced.EventSourced``
  protocol service: one stream per entity instance.

Service code imports these names from :mod:`cloudstate`; see docs/eventsourced.md.
"""

from __future__ import annotations

from cloudstate.event_sourced.context import (
    EventSourcedCommandContext,
    EventSourcedContext,
    EventSourcedEventContext,
)
from cloudstate.event_sourced.entity import EVENT_SOURCED_ENTITY_TYPE, EventSourcedEntity
from cloudstate.event_sourced.servicer import add_event_sourced_servicer
from cloudstate.registry import EntityKind, register_kind

#: The event-sourced kind: its protocol service and servicer (:mod:`cloudstate.registry`).
EVENT_SOURCED = register_kind(EntityKind(EVENT_SOURCED_ENTITY_TYPE, add_event_sourced_servicer))

__all__ = [
    "EVENT_SOURCED",
    "EVENT_SOURCED_ENTITY_TYPE",
    "EventSourcedCommandContext",
    "EventSourcedContext",
    "EventSourcedEntity",
    "EventSourcedEventContext",
]
