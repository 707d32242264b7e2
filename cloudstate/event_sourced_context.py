"""The seed's module path of the event-sourced contexts, kept for existing code::

    from cloudstate.event_sourced_context import EventSourcedCommandContext

New code imports them from :mod:`cloudstate`; they live in :mod:`cloudstate.event_sourced`.
"""

from __future__ import annotations

from cloudstate.event_sourced import (
    EventSourcedCommandContext,
    EventSourcedContext,
    EventSourcedEventContext,
)

__all__ = ["EventSourcedCommandContext", "EventSourcedContext", "EventSourcedEventContext"]
