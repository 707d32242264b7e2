"""Topics on the embedded topic log: publishing replies (``eventing.out.topic``) and reading a
topic for a consumer (``eventing.in.topic``).

The broker is the proxy's own store (``Store.append_topic`` / ``Store.read_topic``): a topic is an
append-only, durable log with commit-ordered offsets, shared by every proxy on that store.

Publishing: after a method with ``option (cloudstate.eventing).out.topic = "orders"`` returned a
reply, the reply (as an ``Any``) is appended to the topic with CloudEvent attributes. The reply's
own ``ce-*`` metadata wins; missing attributes are synthesized (a random id, source = the
service name, type and content type from the payload's type URL, time = now). The call only
succeeds once the message is durable. Example::

    publisher = TopicPublisher(model, store)
    router.publish_reply = publisher.publish   # the router calls it after every reply
"""

from __future__ import annotations

import datetime
import logging
import uuid
from collections.abc import Callable, Sequence

import grpc
from google.protobuf import any_pb2

from cloudstate.protocol import entity_pb2
from cloudstate.proxy.errors import ProxyError
from cloudstate.proxy.eventing.event_log import Delivery
from cloudstate.proxy.eventing.subscriptions import method_eventing
from cloudstate.proxy.model import MethodModel, UserFunctionModel
from cloudstate.proxy.router import RouterReply
from cloudstate.proxy.stores.base import Payload, Store, TopicMessage

log = logging.getLogger(__name__)

JSON_PREFIX = "json.cloudstate.io/"
STRING_URL = "p.cloudstate.io/string"
BYTES_URL = "p.cloudstate.io/bytes"
PROTOBUF_PREFIX = "type.googleapis.com/"
ANY_TYPE = "google.protobuf.Any"


def content_type_of(type_url: str) -> tuple[str, str]:
    """The CloudEvent ``type`` and content type of a payload, from its type URL (spec 1.7)::

    >>> content_type_of("json.cloudstate.io/Order")
    ('Order', 'application/json')
    """
    if type_url.startswith(JSON_PREFIX):
        return type_url[len(JSON_PREFIX) :], "application/json"
    if type_url == STRING_URL:
        return "string", "text/plain; charset=utf-8"
    if type_url == BYTES_URL:
        return "bytes", "application/octet-stream"
    return type_url.rsplit("/", 1)[-1], "application/protobuf"


def out_topics(model: UserFunctionModel) -> dict[tuple[str, str], str]:
    """``(service, method) -> topic`` for every method with ``(cloudstate.eventing).out.topic``."""
    found: dict[tuple[str, str], str] = {}
    for service in model.services.values():
        for method in service.methods.values():
            eventing = method_eventing(model, method)
            if eventing is None or not eventing.HasField("out"):
                continue
            if eventing.out.WhichOneof("destination") == "topic" and eventing.out.topic:
                found[(service.name, method.name)] = eventing.out.topic
    return found


def reply_payload(method: MethodModel, reply: RouterReply) -> Payload:
    """The reply as an ``Any``: a method returning ``google.protobuf.Any`` replies with one
    (JSON, primitives, any message); otherwise it is the method's output type."""
    if method.output_type.full_name == ANY_TYPE:
        inner = any_pb2.Any.FromString(reply.payload)
        return Payload(inner.type_url, inner.value)
    return Payload(PROTOBUF_PREFIX + method.output_type.full_name, reply.payload)


def _now() -> str:
    now = datetime.datetime.now(tz=datetime.UTC)
    return now.isoformat(timespec="microseconds").replace("+00:00", "Z")


def topic_message(method: MethodModel, reply: RouterReply, subject: str = "") -> TopicMessage:
    """The message a reply of ``method`` publishes: its payload and CloudEvent attributes
    (``subject``: the ``ce-subject`` unless the reply's metadata sets one; an entity's id)."""
    payload = reply_payload(method, reply)
    given: dict[str, str] = {}
    if reply.metadata is not None:
        for entry in reply.metadata.entries:
            if entry.WhichOneof("value") == "string_value":
                given[entry.key.lower()] = entry.string_value
    ce_type, content_type = content_type_of(payload.type_url)
    return TopicMessage(
        payload,
        id=given.get("ce-id") or str(uuid.uuid4()),
        source=given.get("ce-source") or method.service.name,
        type=given.get("ce-type") or ce_type,
        subject=given.get("ce-subject", subject),
        time=given.get("ce-time") or _now(),
        content_type=given.get("content-type") or content_type,
    )


class TopicPublisher:
    """Appends the replies of ``out.topic`` methods to their topics (see the module doc)."""

    def __init__(self, model: UserFunctionModel, store: Store) -> None:
        self.store = store
        self.topics = out_topics(model)
        self.published = 0
        #: Called with the topic after each publish (wakes this proxy's consumers of it).
        self.on_published: Callable[[str], None] | None = None

    def _message(
        self, method: MethodModel, topic: str, reply: RouterReply, subject: str = ""
    ) -> TopicMessage:
        try:
            return topic_message(method, reply, subject)
        except Exception as error:
            raise ProxyError(
                f"{method.service.name}.{method.name} publishes to topic {topic!r} but its "
                f"reply is not a valid google.protobuf.Any ({error}); reply with a packed "
                "message, JSON or a primitive"
            ) from error

    def outbox(
        self, method: MethodModel, reply: entity_pb2.Reply, entity_id: str
    ) -> list[tuple[str, TopicMessage]]:
        """The ``(topic, message)`` an entity's reply publishes (none if ``method`` has no
        ``out.topic``; ``ce-subject`` defaults to the entity id): the entity writes it in the
        same transaction as its state (the outbox), then calls :meth:`committed`. Raises
        ProxyError if the reply cannot be published."""
        topic = self.topics.get((method.service.name, method.name))
        if topic is None:
            return []
        metadata = reply.metadata if reply.HasField("metadata") else None
        message = self._message(
            method, topic, RouterReply(reply.payload.value, metadata), entity_id
        )
        return [(topic, message)]

    def committed(self, outbox: Sequence[tuple[str, TopicMessage]]) -> None:
        """An entity committed ``outbox`` with its state: count it and wake the consumers."""
        self.published += len(outbox)
        if self.on_published is not None:
            for topic in dict.fromkeys(topic for topic, _ in outbox):
                self.on_published(topic)

    async def publish(self, method: MethodModel, reply: RouterReply) -> None:
        """Publish the reply of an action (or a forwarded reply): after the call, on its own."""
        topic = self.topics.get((method.service.name, method.name))
        if topic is None:
            return
        message = self._message(method, topic, reply)
        try:
            await self.store.append_topic(topic, [message])
        except Exception as error:
            raise ProxyError(
                f"{method.service.name}.{method.name} succeeded but its reply could not be "
                f"published to topic {topic!r} ({error}); retry the call (it may be applied "
                "twice)",
                grpc.StatusCode.UNAVAILABLE,
            ) from error
        self.published += 1
        if self.on_published is not None:
            self.on_published(topic)


def topic_metadata(topic: str, message: TopicMessage) -> entity_pb2.Metadata:
    """The CloudEvent metadata a consumer of ``topic`` gets with ``message``."""
    entries = {
        "ce-id": message.id or str(message.offset),
        "ce-source": message.source or topic,
        "ce-specversion": "1.0",
        "ce-type": message.type or content_type_of(message.payload.type_url)[0],
        "ce-subject": message.subject,
        "ce-time": message.time,
        "Content-Type": message.content_type or content_type_of(message.payload.type_url)[1],
    }
    return entity_pb2.Metadata(
        entries=[entity_pb2.MetadataEntry(key=k, string_value=v) for k, v in entries.items() if v]
    )


class TopicSource:
    """The messages of one topic of the embedded topic log, for a consumer. Messages with one
    subject are delivered in order (those without a subject all in one sequence)."""

    def __init__(self, store: Store, topic: str) -> None:
        self.store = store
        self.topic = topic

    async def read(self, after_offset: int, limit: int) -> list[Delivery]:
        return [
            Delivery(
                message.subject,
                message.offset,
                message.payload,
                topic_metadata(self.topic, message),
                message.timestamp,
                f"message {message.id or message.offset} of topic {self.topic!r}",
            )
            async for message in self.store.read_topic(self.topic, after_offset, limit)
        ]

    async def head(self) -> int:
        return await self.store.highest_topic_offset(self.topic)

    async def pending_since(self, after_offset: int) -> float | None:
        async for message in self.store.read_topic(self.topic, after_offset, 1):
            return message.timestamp
        return None
