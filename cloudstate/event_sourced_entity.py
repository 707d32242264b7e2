"""The seed's module path of :class:`EventSourcedEntity`, kept for existing code::

    from cloudstate.event_sourced_entity import EventSourcedEntity

New code imports it from :mod:`cloudstate`; it lives in :mod:`cloudstate.event_sourced`.
"""

from __future__ import annotations

from cloudstate.event_sourced import EVENT_SOURCED, EVENT_SOURCED_ENTITY_TYPE, EventSourcedEntity

__all__ = ["EVENT_SOURCED", "EVENT_SOURCED_ENTITY_TYPE", "EventSourcedEntity"]
