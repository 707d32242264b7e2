"""Actions: stateless functions on a gRPC service, in all four call shapes.

* :mod:`~cloudstate.action.entity` — :class:`Action` and its decorators;
* :mod:`~cloudstate.action.context` — :class:`ActionContext` and what a handler may return
  (:class:`Forward`, :class:`Failure`, :data:`NO_REPLY`);
* :mod:`~cloudstate.action.servicer` — the ``cloudstate.action.ActionProtocol`` protocol service.

Service code imports these names from :mod:`cloudstate` (``from cloudstate.action import Action``
works too); see docs/actions.md.
"""

from __future__ import annotations

from cloudstate.action.context import NO_REPLY, ActionContext, Failure, Forward
from cloudstate.action.entity import ACTION_ENTITY_TYPE, Action, ActionMethod, Shape
from cloudstate.action.servicer import add_action_servicer
from cloudstate.registry import EntityKind, register_kind

#: The action kind: its protocol service and servicer (:mod:`cloudstate.registry`).
ACTION = register_kind(EntityKind(ACTION_ENTITY_TYPE, add_action_servicer))

__all__ = [
    "ACTION",
    "ACTION_ENTITY_TYPE",
    "NO_REPLY",
    "Action",
    "ActionContext",
    "ActionMethod",
    "Failure",
    "Forward",
    "Shape",
]
