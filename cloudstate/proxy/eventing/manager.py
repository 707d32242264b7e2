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
from cloudstate.proxy.eventing.nats import NatsBroker, NatsRelay, NatsTopicSource
from cloudstate.proxy.eventing.ownership import OwnedConsumer
from cloudstate.proxy.eventing.retention import TopicRetention, parse_age
from cloudstate.proxy.eventing.subscriptions import (
    EVENT_LOG,
    TOPIC,
    VALUE_ENTITY,
    Subscription,
    change_topic,
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
        #: The external broker (``--broker``); None: topics live in the embedded topic log only.
        self.broker: NatsBroker | None = None
        #: Relays of published topics to the broker, by topic.
        self.relays: dict[str, NatsRelay] = {}
        self._nats_sources: list[NatsTopicSource] = []
        #: Trims the embedded topic log (``--topic-retention``); off unless limits are set.
        self.retention = TopicRetention(store)
        #: Services whose consumers run elsewhere (views: cloudstate/proxy/views/manager.py).
        self.exclude_services: set[str] = set()

    def configure_topics(
        self,
        *,
        broker: str = "",
        broker_stream: str = "CLOUDSTATE",
        broker_subject_prefix: str = "cloudstate",
        retention: str = "",
        retention_messages: int = 0,
    ) -> None:
        """Before :meth:`start`: the external broker (``nats://...``, empty: none) and topic
        retention (``parse_age`` text, newest N). ValueError names a bad setting."""
        if broker:
            self.broker = NatsBroker(
                broker, stream=broker_stream, subject_prefix=broker_subject_prefix
            )
        if retention_messages < 0:
            raise ValueError(f"--topic-retention-messages must be >= 0, not {retention_messages}")
        self.retention.max_age = parse_age(retention)
        self.retention.max_messages = retention_messages

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
        published = sorted(set(self.publisher.topics.values()))
        broker = self.broker
        if broker is not None:
            consumed = [s.source for s in self.subscriptions if s.kind == TOPIC]
            await broker.connect([*published, *consumed])
        for topic in published:
            self.retention.readers[topic] = []
        self._feed_state_changes()
        for subscription in self.subscriptions:
            if subscription.kind == TOPIC:
                self._add(self._topic_consumer(subscription))
                continue
            if subscription.kind == VALUE_ENTITY:  # the entity type's change topic
                topic = change_topic(subscription.source)
                self.retention.readers.setdefault(topic, []).append(subscription.consumer_id)
                source = TopicSource(self.store, topic)
                self._add(
                    EventLogConsumer(
                        subscription,
                        self.store,
                        self.router,
                        source=source,
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
            if hasattr(handler, "journal_readers"):  # compaction spares what they have not read
                persistence_id = getattr(handler, "service").persistence_id  # noqa: B009
                setattr(  # noqa: B010
                    handler,
                    "journal_readers",
                    [
                        s.consumer_id
                        for s in self.subscriptions
                        if s.kind == EVENT_LOG and s.source == persistence_id
                    ],
                )
            if self.publisher.topics and hasattr(handler, "outbox"):
                # Entities publish their replies in the transaction of their write (outbox).
                setattr(handler, "outbox", self.publisher)  # noqa: B010
        self.owners = [OwnedConsumer(consumer, self.store) for consumer in self.consumers]
        if broker is not None:
            for topic in published:
                relay = NatsRelay(broker, self.store, topic)
                relay.on_relayed = self._wake_consumers
                self.relays[topic] = relay
                self.retention.readers[topic].append(relay.consumer_id)
                self.owners.append(OwnedConsumer(relay, self.store))
        for owner in self.owners:
            owner.start()
        self.retention.start()

    def _topic_consumer(self, subscription: Subscription) -> EventLogConsumer:
        """A consumer of a topic: from the external broker if there is one (its position under
        ``nats:<topic>:<group>``), else from the embedded topic log (which it holds back from
        retention)."""
        topic = subscription.source
        if self.broker is not None:
            source = NatsTopicSource(self.broker, topic, subscription.consumer_group)
            self._nats_sources.append(source)
            return EventLogConsumer(
                subscription,
                self.store,
                self.router,
                source=source,
                consumer_id=f"nats:{topic}:{subscription.consumer_group}",
                **self.consumer_options,
            )
        self.retention.readers.setdefault(topic, []).append(subscription.consumer_id)
        return EventLogConsumer(
            subscription,
            self.store,
            self.router,
            source=TopicSource(self.store, topic),
            **self.consumer_options,
        )

    def _feed_state_changes(self) -> None:
        """Value entity types whose state changes something consumes (here or in a view) write
        each change to their change topic, in the transaction of the change."""
        consumed = {s.source for s in event_subscriptions(self.model) if s.kind == VALUE_ENTITY}
        for name, handler in self.handlers.items():
            persistence_id = self.model.services[name].persistence_id
            if hasattr(handler, "change_topic") and persistence_id in consumed:
                setattr(handler, "change_topic", change_topic(persistence_id))  # noqa: B010
                setattr(handler, "on_changed", self.notify_topic)  # noqa: B010

    def _add(self, consumer: EventLogConsumer) -> None:
        self.consumers.append(consumer)
        key = consumer.subscription.kind + ":" + consumer.subscription.source
        if consumer.subscription.kind == VALUE_ENTITY:
            key = f"{TOPIC}:{change_topic(consumer.subscription.source)}"
        self._by_source.setdefault(key, []).append(consumer)

    def notify(self, persistence_id: str) -> None:
        """Events of ``persistence_id`` were journaled: wake its consumers."""
        for consumer in self._by_source.get(f"{EVENT_LOG}:{persistence_id}", ()):
            consumer.notify()

    def notify_topic(self, topic: str) -> None:
        """Messages were published to ``topic`` by this proxy: wake its relay and consumers."""
        relay = self.relays.get(topic)
        if relay is not None:
            relay.notify()
        self._wake_consumers(topic)

    def _wake_consumers(self, topic: str) -> None:
        for consumer in self._by_source.get(f"{TOPIC}:{topic}", ()):
            consumer.notify()

    async def status(self) -> list[ConsumerStatus]:
        """Each consumer's committed offset, the head of its log and its lag."""
        found: list[ConsumerStatus] = []
        for owner in self.owners:
            try:
                found.append(await owner.status())
            except Exception as error:  # e.g. the broker is unreachable: report the others
                log.debug("eventing: no status for %s: %s", owner.consumer_id, error)
        return found

    async def stop(self) -> None:
        if self.publisher is not None and self.router.publish_reply == self.publisher.publish:
            self.router.publish_reply = None
        for handler in self.handlers.values():
            if getattr(handler, "on_appended", None) == self.notify:
                setattr(handler, "on_appended", None)  # noqa: B010 - not every handler has it
            if getattr(handler, "outbox", None) is self.publisher:
                setattr(handler, "outbox", None)  # noqa: B010 - not every handler has it
        await self.retention.stop()
        for owner in self.owners:
            await owner.stop()
        for source in self._nats_sources:
            await source.close()
        if self.broker is not None:
            await self.broker.close()
