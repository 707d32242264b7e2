"""Starts the consumers the user function declares and wakes them when events are journaled.

Example::

    eventing = EventingManager(model, router, store, handlers)
    await eventing.start()                 # DiscoveryError if the options contradict each other
    for status in await eventing.status():  # committed offset vs head, per consumer
        print(status.consumer_id, status.committed_offset, status.head_offset)
    await eventing.stop()
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from cloudstate.proxy.entities.base import EntityHandler
from cloudstate.proxy.eventing.event_log import ConsumerStatus, EventLogConsumer
from cloudstate.proxy.eventing.ownership import OwnedConsumer
from cloudstate.proxy.eventing.subscriptions import (
    EVENT_LOG,
    TOPIC,
    Subscription,
    event_subscriptions,
)
from cloudstate.proxy.eventing.topics import TopicPublisher, TopicSource
from cloudstate.proxy.model import EVENT_SOURCED, UserFunctionModel
from cloudstate.proxy.router import Router
from cloudstate.proxy.stores.base import Store

log = logging.getLogger(__name__)


class EventingManager:
    """Every eventing consumer of one proxy."""

    def __init__(
        self,
        model: UserFunctionModel,
        router: Router,
        store: Store,
        handlers: Mapping[str, EntityHandler],
        **consumer_options: Any,
    ) -> None:
        self.model = model
        self.router = router
        self.store = store
        self.handlers = handlers
        self.consumer_options = consumer_options
        self.subscriptions: list[Subscription] = []
        self.consumers: list[EventLogConsumer] = []
        #: One per consumer: runs it while this node owns it (always, on a single-node store).
        self.owners: list[OwnedConsumer] = []
        self._by_source: dict[str, list[EventLogConsumer]] = {}  # "kind:source" -> consumers
        self.publisher: TopicPublisher | None = None
        #: Services whose consumers run elsewhere (views: cloudstate/proxy/views/manager.py).
        self.exclude_services: set[str] = set()

    async def start(self) -> None:
        """Read the eventing options, start one consumer per (service, consumer group, source)
        and hook the event-sourced handlers' append notifications."""
        self.subscriptions = [
            s for s in event_subscriptions(self.model) if s.service not in self.exclude_services
        ]
        journaled = {
            service.persistence_id
            for service in self.model.services.values()
            if service.entity_type == EVENT_SOURCED
        }
        self.publisher = TopicPublisher(self.model, self.store)
        self.publisher.on_published = self.notify_topic
        if self.publisher.topics:
            self.router.publish_reply = self.publisher.publish
        for subscription in self.subscriptions:
            if subscription.kind == TOPIC:
                self._add(
                    EventLogConsumer(
                        subscription,
                        self.store,
                        self.router,
                        source=TopicSource(self.store, subscription.source),
                        **self.consumer_options,
                    )
                )
                continue
            if subscription.source not in journaled:
                log.warning(
                    "eventing: %s: no event-sourced service of this user function has persistence "
                    "id %r; its events are consumed if another writer journals them in this store",
                    subscription.describe(),
                    subscription.source,
                )
            self._add(
                EventLogConsumer(subscription, self.store, self.router, **self.consumer_options)
            )
        for handler in self.handlers.values():
            if hasattr(handler, "on_appended"):
                setattr(handler, "on_appended", self.notify)  # noqa: B010
            if self.publisher.topics and hasattr(handler, "outbox"):
                # Entities publish their replies in the transaction of their write (outbox).
                setattr(handler, "outbox", self.publisher)  # noqa: B010
        self.owners = [OwnedConsumer(consumer, self.store) for consumer in self.consumers]
        for owner in self.owners:
            owner.start()

    def _add(self, consumer: EventLogConsumer) -> None:
        self.consumers.append(consumer)
        key = consumer.subscription.kind + ":" + consumer.subscription.source
        self._by_source.setdefault(key, []).append(consumer)

    def notify(self, persistence_id: str) -> None:
        """Events of ``persistence_id`` were journaled: wake its consumers."""
        for consumer in self._by_source.get(f"{EVENT_LOG}:{persistence_id}", ()):
            consumer.notify()

    def notify_topic(self, topic: str) -> None:
        """Messages were published to ``topic`` by this proxy: wake its consumers."""
        for consumer in self._by_source.get(f"{TOPIC}:{topic}", ()):
            consumer.notify()

    async def status(self) -> list[ConsumerStatus]:
        """Each consumer's committed offset, the head of its log and its lag."""
        return [await owner.status() for owner in self.owners]

    async def stop(self) -> None:
        if self.publisher is not None and self.router.publish_reply == self.publisher.publish:
            self.router.publish_reply = None
        for handler in self.handlers.values():
            if getattr(handler, "on_appended", None) == self.notify:
                setattr(handler, "on_appended", None)  # noqa: B010 - not every handler has it
            if getattr(handler, "outbox", None) is self.publisher:
                setattr(handler, "outbox", None)  # noqa: B010 - not every handler has it
        for owner in self.owners:
            await owner.stop()
