"""Testing Cloudstate entities: in-process unit tests and in-process end-to-end services.

Unit tests drive one entity instance without proxy or network (:class:`EventSourcedTestKit`,
:class:`ValueEntityTestKit`, :class:`CrdtTestKit`, :class:`ActionTestKit`,
:class:`WorkflowTestKit`; :func:`kit_for`
picks the kit for any entity)::

    from cloudstate.testkit import EventSourcedTestKit

    kit = EventSourcedTestKit(shopping_cart_entity, "alice")
    result = kit.add_item(user_id="alice", product_id="apple", name="Apple", quantity=3)
    assert result.events and kit.state.cart["apple"].quantity == 3

End-to-end tests run the user function and a proxy in-process (:class:`LocalService`, or the
``cloudstate_service`` / ``cloudstate_client`` pytest fixtures) and call the services through a
typed :class:`~cloudstate.client.ServiceClient`. See ``docs/testing.md``.
"""

from __future__ import annotations

from cloudstate.testkit.action import ActionTestKit
from cloudstate.testkit.base import EntityTestKit, kit_for, register_kind
from cloudstate.testkit.crdt import CrdtTestKit
from cloudstate.testkit.event_sourced import EventSourcedTestKit
from cloudstate.testkit.results import (
    CommandResult,
    CrdtResult,
    EventSourcedResult,
    Failed,
    Forwarded,
    SideEffect,
    StreamedMessage,
    TimerStarted,
    ValueEntityResult,
)
from cloudstate.testkit.service import LocalService
from cloudstate.testkit.value_entity import ValueEntityTestKit
from cloudstate.testkit.view import ViewTestKit
from cloudstate.testkit.workflow import WorkflowResult, WorkflowTestKit

__all__ = [
    "ActionTestKit",
    "CommandResult",
    "CrdtResult",
    "CrdtTestKit",
    "EntityTestKit",
    "EventSourcedResult",
    "EventSourcedTestKit",
    "Failed",
    "Forwarded",
    "LocalService",
    "SideEffect",
    "StreamedMessage",
    "TimerStarted",
    "ValueEntityResult",
    "ValueEntityTestKit",
    "ViewTestKit",
    "WorkflowResult",
    "WorkflowTestKit",
    "kit_for",
    "register_kind",
]

#: The earlier names of :class:`Failed` and :class:`Forwarded` (they read like the SDK's own
#: ``cloudstate.Forward`` and ``cloudstate.action.Failure``), kept importable for existing tests.
Failure = Failed
Forward = Forwarded
