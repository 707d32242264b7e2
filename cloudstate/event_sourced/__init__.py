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
from cloudstate.event_sourced.entity import (
    EVENT_SOURCED,
    EVENT_SOURCED_ENTITY_TYPE,
    EventSourcedEntity,
)

__all__ = [
    "EVENT_SOURCED",
    "EVENT_SOURCED_ENTITY_TYPE",
    "EventSourcedCommandContext",
    "EventSourcedContext",
    "EventSourcedEntity",
    "EventSourcedEventContext",
]
