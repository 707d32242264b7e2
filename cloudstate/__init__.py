"""Cloudstate for Python: stateful serverless services.

Everything a service's code uses is imported from here, and everything its tests use from
:mod:`cloudstate.testkit` (``tests/api/test_exports.py`` pins both lists)::

    from cloudstate import CloudState, EventSourcedCommandContext, EventSourcedEntity

    entity = EventSourcedEntity(_SHOPPINGCART, [shoppingcart_pb2.DESCRIPTOR], ShoppingCartState)
    CloudState().register_event_sourced_entity(entity).start()

The names are imported lazily from the SDK's packages (one per component kind:
:mod:`cloudstate.event_sourced`, :mod:`cloudstate.value_entity`, :mod:`cloudstate.crdt`,
:mod:`cloudstate.action`, :mod:`cloudstate.view`, :mod:`cloudstate.workflow`; the server in
:mod:`cloudstate.server`), so
importing :mod:`cloudstate` loads no SDK module: the proxy (:mod:`cloudstate.proxy`), which takes
``__version__`` from here, does not load the SDK. docs/architecture.md shows the whole package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.3.0"

_EXPORTS = {
    "Action": "cloudstate.action",
    "ActionContext": "cloudstate.action",
    "Forward": "cloudstate.action",
    "NO_REPLY": "cloudstate.action",
    "ServiceRef": "cloudstate.targets",
    "service": "cloudstate.targets",
    "CloudState": "cloudstate.server",
    "CloudStateServer": "cloudstate.server",
    "ServerTls": "cloudstate.server",
    "EventSourcedEntity": "cloudstate.event_sourced",
    "EventSourcedCommandContext": "cloudstate.event_sourced",
    "EventSourcedEventContext": "cloudstate.event_sourced",
    "EventSourcedContext": "cloudstate.event_sourced",
    "Metadata": "cloudstate.metadata",
    "CommandFailure": "cloudstate.errors",
    "CloudStateError": "cloudstate.errors",
    "UnknownTypeError": "cloudstate.errors",
    "ValueEntity": "cloudstate.value_entity",
    "ValueEntityCommandContext": "cloudstate.value_entity",
    "CrdtEntity": "cloudstate.crdt",
    "CrdtCommandContext": "cloudstate.crdt",
    "CrdtContext": "cloudstate.crdt",
    "CrdtClock": "cloudstate.crdt",
    "StreamCancelledContext": "cloudstate.crdt",
    "SubscriptionContext": "cloudstate.crdt",
    "WriteConsistency": "cloudstate.crdt",
    "Flag": "cloudstate.crdt",
    "GCounter": "cloudstate.crdt",
    "GSet": "cloudstate.crdt",
    "LWWRegister": "cloudstate.crdt",
    "ORMap": "cloudstate.crdt",
    "ORSet": "cloudstate.crdt",
    "PNCounter": "cloudstate.crdt",
    "Vote": "cloudstate.crdt",
    "ServiceClient": "cloudstate.client",
    "AnySupport": "cloudstate.any_support",
    "Json": "cloudstate.any_support",
    "View": "cloudstate.view",
    "Recovery": "cloudstate.workflow",
    "StepContext": "cloudstate.workflow",
    "Workflow": "cloudstate.workflow",
    "WorkflowCommandContext": "cloudstate.workflow",
    "WorkflowStatus": "cloudstate.workflow",
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
    "CrdtClock",
    "CrdtCommandContext",
    "CrdtContext",
    "CrdtEntity",
    "EventSourcedCommandContext",
    "EventSourcedContext",
    "EventSourcedEntity",
    "EventSourcedEventContext",
    "Flag",
    "Forward",
    "GCounter",
    "GSet",
    "Json",
    "LWWRegister",
    "Metadata",
    "ORMap",
    "ORSet",
    "PNCounter",
    "Recovery",
    "ServerTls",
    "ServiceClient",
    "ServiceRef",
    "StepContext",
    "StreamCancelledContext",
    "SubscriptionContext",
    "UnknownTypeError",
    "ValueEntity",
    "ValueEntityCommandContext",
    "View",
    "Vote",
    "Workflow",
    "WorkflowCommandContext",
    "WorkflowStatus",
    "WriteConsistency",
    "__version__",
    "service",
]

if TYPE_CHECKING:
    from cloudstate.action import NO_REPLY, Action, ActionContext, Forward
    from cloudstate.any_support import AnySupport, Json
    from cloudstate.client import ServiceClient
    from cloudstate.crdt import (
        CrdtClock,
        CrdtCommandContext,
        CrdtContext,
        CrdtEntity,
        Flag,
        GCounter,
        GSet,
        LWWRegister,
        ORMap,
        ORSet,
        PNCounter,
        StreamCancelledContext,
        SubscriptionContext,
        Vote,
        WriteConsistency,
    )
    from cloudstate.errors import CloudStateError, CommandFailure, UnknownTypeError
    from cloudstate.event_sourced import (
        EventSourcedCommandContext,
        EventSourcedContext,
        EventSourcedEntity,
        EventSourcedEventContext,
    )
    from cloudstate.metadata import Metadata
    from cloudstate.server import CloudState, CloudStateServer, ServerTls
    from cloudstate.targets import ServiceRef, service
    from cloudstate.value_entity import ValueEntity, ValueEntityCommandContext
    from cloudstate.view import View
    from cloudstate.workflow import (
        Recovery,
        StepContext,
        Workflow,
        WorkflowCommandContext,
        WorkflowStatus,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cloudstate' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
