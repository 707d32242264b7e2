"""Finds the view services of the user function, serves their queries and runs their consumers.

Example (what :class:`~cloudstate.proxy.server.Proxy` does)::

    views = ViewManager(model, store)
    views.prepare(handlers)       # DiscoveryError for a bad view; wraps the view services' handlers
    eventing.exclude_services = views.services   # their sources are consumed here, not there
    await eventing.start()
    await views.start(router, eventing)
    for status in await views.status():           # committed offset vs head, per view consumer
        ...
    await views.stop()
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from cloudstate.proxy.entities.base import EntityHandler
from cloudstate.proxy.eventing.event_log import ConsumerStatus
from cloudstate.proxy.eventing.ownership import OwnedConsumer
from cloudstate.proxy.eventing.subscriptions import (
    EVENT_LOG,
    TOPIC,
    VALUE_ENTITY,
    change_topic,
    event_subscriptions,
)
from cloudstate.proxy.eventing.topics import TopicSource
from cloudstate.proxy.model import UserFunctionModel
from cloudstate.proxy.router import Router
from cloudstate.proxy.stores.base import Store
from cloudstate.proxy.views.consumer import ViewConsumer
from cloudstate.proxy.views.handler import ViewHandler
from cloudstate.proxy.views.model import ViewService, discover_views

log = logging.getLogger(__name__)


class ViewManager:
    """Every view of one proxy."""

    def __init__(self, model: UserFunctionModel, store: Store, **consumer_options: Any) -> None:
        self.model = model
        self.store = store
        self.consumer_options = consumer_options
        self.views: dict[str, ViewService] = {}
        self.consumers: list[ViewConsumer] = []
        self.owners: list[OwnedConsumer] = []
        self._by_source: dict[str, list[ViewConsumer]] = {}
        self._unhook: list[Callable[[], None]] = []

    @property
    def services(self) -> set[str]:
        return set(self.views)

    def prepare(self, handlers: dict[str, EntityHandler]) -> None:
        """Read and check the view options; put a :class:`ViewHandler` in front of each view
        service's handler (so the router sends queries to it)."""
        self.views = discover_views(self.model)
        for name, view in self.views.items():
            handlers[name] = ViewHandler(handlers[name], view, self.store)
            log.info(
                "view %s: tables %s, queries %s",
                name,
                ", ".join(sorted(view.layouts)),
                ", ".join(sorted(view.queries)) or "none",
            )

    async def start(self, router: Router, hooks: Any = None) -> None:
        """Start one consumer per (view service, source); ``hooks`` (the EventingManager) tells
        us when this proxy journals events or publishes to a topic."""
        # Before any await: topic retention (started by the eventing manager) must count our
        # offsets before it first trims.
        retention = getattr(hooks, "retention", None)
        for subscription in event_subscriptions(self.model):
            view = self.views.get(subscription.service)
            if view is None:
                continue
            handler = router.handlers[subscription.service]
            assert isinstance(handler, ViewHandler)
            options = dict(self.consumer_options)
            key = f"{subscription.kind}:{subscription.source}"
            if subscription.kind in (TOPIC, VALUE_ENTITY):
                topic = subscription.source
                if subscription.kind == VALUE_ENTITY:
                    topic = change_topic(topic)
                options["source"] = TopicSource(self.store, topic)
                key = f"{TOPIC}:{topic}"
            consumer = ViewConsumer(
                view, subscription, self.store, router, handler.inner, **options
            )
            if retention is not None and subscription.kind != EVENT_LOG:
                retention.readers.setdefault(key.split(":", 1)[1], []).append(consumer.consumer_id)
            self.consumers.append(consumer)
            self._by_source.setdefault(key, []).append(consumer)
        if hooks is not None:
            self._hook(hooks)
        self.owners = [OwnedConsumer(consumer, self.store) for consumer in self.consumers]
        for owner in self.owners:
            owner.start()

    def _hook(self, eventing: Any) -> None:
        """Chain our wake-ups onto the eventing manager's (appends and topic publishes)."""
        previous_notify = eventing.notify
        previous_topic = eventing.notify_topic

        def notify(persistence_id: str) -> None:
            previous_notify(persistence_id)
            self.notify(f"{EVENT_LOG}:{persistence_id}")

        def notify_topic(topic: str) -> None:
            previous_topic(topic)
            self.notify(f"{TOPIC}:{topic}")

        for handler in eventing.handlers.values():
            inner = getattr(handler, "inner", handler)
            if hasattr(inner, "on_appended"):
                inner.on_appended = notify
            if getattr(inner, "on_changed", None) is not None:  # value entities' change feeds
                inner.on_changed = notify_topic
        if eventing.publisher is not None:
            eventing.publisher.on_published = notify_topic

        def unhook() -> None:
            if eventing.publisher is not None:
                eventing.publisher.on_published = previous_topic
            for handler in eventing.handlers.values():
                inner = getattr(handler, "inner", handler)
                if getattr(inner, "on_appended", None) is notify:
                    inner.on_appended = previous_notify
                if getattr(inner, "on_changed", None) is notify_topic:
                    inner.on_changed = previous_topic

        self._unhook.append(unhook)

    def notify(self, source: str) -> None:
        for consumer in self._by_source.get(source, ()):
            consumer.notify()

    async def status(self) -> list[ConsumerStatus]:
        """Each view consumer's committed offset, the head of its source and its lag; a
        running rebuild shows as one more consumer, ``<view consumer>~rebuild-g<generation>``
        (its progress: committed offset against the head)."""
        statuses = [await owner.status() for owner in self.owners]
        for consumer in self.consumers:
            rebuilding = await consumer.rebuild_status()
            if rebuilding is not None:
                statuses.append(rebuilding)
        return statuses

    async def rebuild(self, consumer_id: str) -> int:
        """Rebuild the tables of the view consumer ``consumer_id`` from the start of its source
        into a new generation; the current rows answer queries until the new ones are caught
        up, then the new ones replace them in one step. Returns the new generation. The node
        that runs the consumer starts the rebuild within a poll interval (at once here).

        Example::

            generation = await proxy.views.rebuild("view:shop.Products:...:event_log:carts:...")
        """
        for consumer in self.consumers:
            if consumer.consumer_id == consumer_id:
                break
        else:
            known = ", ".join(c.consumer_id for c in self.consumers) or "none"
            raise KeyError(f"no view consumer {consumer_id!r} in this proxy (its views: {known})")
        shared = [
            other.consumer_id
            for other in self.consumers
            if other is not consumer
            and set(other.tables) & set(consumer.tables)
            and other.view is consumer.view
        ]
        if shared:
            raise ValueError(
                f"the tables of {consumer_id} are also updated by {', '.join(shared)}: a rebuild "
                "of one source would lose the other's rows; rebuild a view whose tables have one "
                "source"
            )
        generation = await self.store.start_view_rebuild(consumer.table_ids())
        consumer.notify_rebuild()
        return generation

    async def stop(self) -> None:
        for unhook in self._unhook:
            unhook()
        self._unhook.clear()
        for owner in self.owners:
            await owner.stop()
