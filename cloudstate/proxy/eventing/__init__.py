"""Eventing: methods that consume event logs and topics, and the topic log itself; see
docs/eventing.md."""

from cloudstate.proxy.eventing.event_log import ConsumerStatus, EventLogConsumer
from cloudstate.proxy.eventing.manager import EventingManager
from cloudstate.proxy.eventing.subscriptions import Subscription, event_subscriptions

__all__ = [
    "ConsumerStatus",
    "EventLogConsumer",
    "EventingManager",
    "Subscription",
    "event_subscriptions",
]
