"""Cloudstate for Python: stateful serverless services.

The SDK (entities, contexts, the :class:`~cloudstate.cloudstate.CloudState` server) lives in this
package; the proxy in :mod:`cloudstate.proxy`. The SDK names below are imported lazily, so
importing :mod:`cloudstate` (e.g. for the proxy) does not load the SDK::

    from cloudstate import CloudState, EventSourcedEntity, EventSourcedCommandContext
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.3.0"

_EXPORTS = {
    "Action": "cloudstate.action",
    "ActionContext": "cloudstate.action_context",
    "NO_REPLY": "cloudstate.action_context",
    "ServiceRef": "cloudstate.targets",
    "service": "cloudstate.targets",
    "CloudState": "cloudstate.cloudstate",
    "CloudStateServer": "cloudstate.cloudstate",
    "ServerTls": "cloudstate.cloudstate",
    "EventSourcedEntity": "cloudstate.event_sourced_entity",
    "EventSourcedCommandContext": "cloudstate.event_sourced_context",
    "EventSourcedEventContext": "cloudstate.event_sourced_context",
    "EventSourcedContext": "cloudstate.event_sourced_context",
    "Metadata": "cloudstate.metadata",
    "CommandFailure": "cloudstate.errors",
    "CloudStateError": "cloudstate.errors",
    "UnknownTypeError": "cloudstate.errors",
    "ValueEntity": "cloudstate.value_entity",
    "ValueEntityCommandContext": "cloudstate.value_entity_context",
    "CrdtEntity": "cloudstate.crdt",
    "CrdtCommandContext": "cloudstate.crdt",
    "AnySupport": "cloudstate.any_support",
    "Json": "cloudstate.any_support",
    "View": "cloudstate.view",
}

__all__ = [
    "NO_REPLY",
    "Action",
    "ActionContext",
    "AnySupport",
    "CloudState",
    "CloudStateError",
    "CloudStateServer",
    "CommandFailure",
    "CrdtCommandContext",
    "CrdtEntity",
    "EventSourcedCommandContext",
    "EventSourcedContext",
    "EventSourcedEntity",
    "EventSourcedEventContext",
    "Json",
    "Metadata",
    "ServerTls",
    "ServiceRef",
    "UnknownTypeError",
    "ValueEntity",
    "ValueEntityCommandContext",
    "View",
    "__version__",
    "service",
]

if TYPE_CHECKING:
    from cloudstate.action import Action
    from cloudstate.action_context import NO_REPLY, ActionContext
    from cloudstate.any_support import AnySupport, Json
    from cloudstate.cloudstate import CloudState, CloudStateServer, ServerTls
    from cloudstate.crdt import CrdtCommandContext, CrdtEntity
    from cloudstate.errors import CloudStateError, CommandFailure, UnknownTypeError
    from cloudstate.event_sourced_context import (
        EventSourcedCommandContext,
        EventSourcedContext,
        EventSourcedEventContext,
    )
    from cloudstate.event_sourced_entity import EventSourcedEntity
    from cloudstate.metadata import Metadata
    from cloudstate.targets import ServiceRef, service
    from cloudstate.value_entity import ValueEntity
    from cloudstate.value_entity_context import ValueEntityCommandContext
    from cloudstate.view import View


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cloudstate' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
