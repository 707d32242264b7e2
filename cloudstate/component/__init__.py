"""What every component kind shares, so a kind's package holds only what is its own.

* :mod:`~cloudstate.component.entity` — :class:`Component` and :class:`EntityComponent`, the
  base classes of the kinds' user-facing classes: service and descriptor checks, the discovery
  entry, handler registration, the state of a new instance;
* :mod:`~cloudstate.component.context` — :class:`CommandContext`, the base of the entity kinds'
  command contexts (``fail``, ``forward``, ``effect``, metadata);
* :mod:`~cloudstate.component.servicer` — the stream loop of an entity kind's protocol service
  (:class:`EntityStreamServicer`) and running a handler in its trace span;
* :mod:`~cloudstate.component.replies` — a handler's result as the protocol's reply.

The kinds: :mod:`cloudstate.event_sourced`, :mod:`cloudstate.value_entity`,
:mod:`cloudstate.crdt`, :mod:`cloudstate.action`, :mod:`cloudstate.view`. A new kind is one more
package like them, registering its :class:`~cloudstate.registry.EntityKind` (CONTRIBUTING.md).
"""

from __future__ import annotations

from cloudstate.component.context import CommandContext
from cloudstate.component.entity import Component, EntityComponent
from cloudstate.component.servicer import EntityStreamServicer, StreamError

__all__ = ["CommandContext", "Component", "EntityComponent", "EntityStreamServicer", "StreamError"]
