"""Topics on an external broker: NATS JetStream (``--broker nats://host:4222``).

The embedded topic log stays the **outbox** and the source of truth for what this proxy
publishes: entities and actions append to it exactly as without a broker. Two pieces connect it
to JetStream:

* :class:`NatsRelay` (one per published topic, run by one node at a time through the store's
  ownership, like eventing consumers) reads the topic from the store after its relay offset
  (``nats-relay:<topic>`` in the offsets table), publishes each message to the subject
  ``<prefix>.<topic>`` and moves the offset once JetStream acknowledged the batch. Each message
  carries ``Nats-Msg-Id`` = its ``ce-id``, so a batch re-sent after a crash is deduplicated by the
  stream (within its duplicate window, 2 minutes by default).
* :class:`NatsTopicSource` is what an ``in.topic`` consumer reads instead of the embedded log: a
  durable pull consumer on the topic's subject. The consumer loop is the embedded one
  (:class:`~cloudstate.proxy.eventing.event_log.EventLogConsumer`): the committed position (the
  stream sequence) is kept in the store under ``nats:<topic>:<consumer group>``, messages are
  acknowledged (AckAll) once the handlers of the batch succeeded and the position is committed.
  When a node takes a consumer over, it recreates the durable consumer at the stored position
  (the store is authoritative, so nothing waits for JetStream's ack timeout).

Message mapping: the payload bytes as they are (a protobuf message's bytes; JSON, text and bytes
payloads unwrapped from Cloudstate's ``Any`` encoding, so the body is the JSON document, the UTF-8
text or the raw bytes); CloudEvent attributes as ``ce-*`` headers,
``Content-Type``, and ``Cloudstate-Type-Url`` (the ``Any`` type URL, so a protobuf message keeps
its type). Messages published by other clients without ``Cloudstate-Type-Url`` get a type URL
from their content type (JSON -> ``json.cloudstate.io/<ce-type>``, text -> ``p.cloudstate.io/
string``, protobuf -> ``type.googleapis.com/<ce-type>``, anything else -> bytes).

Example::

    broker = NatsBroker("nats://127.0.0.1:4222")
    await broker.connect(["orders"])        # creates the stream CLOUDSTATE if missing
    relay = NatsRelay(broker, store, "orders")
    source = NatsTopicSource(broker, "orders", "evtest.OrderLog")
    await broker.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from google.protobuf import wrappers_pb2
from google.protobuf.message import DecodeError

from cloudstate.protocol import entity_pb2
from cloudstate.proxy.errors import DiscoveryError
from cloudstate.proxy.eventing.event_log import ConsumerStatus, Delivery, retry_forever
from cloudstate.proxy.eventing.topics import (
    BYTES_URL,
    JSON_PREFIX,
    PROTOBUF_PREFIX,
    STRING_URL,
    content_type_of,
)
from cloudstate.proxy.stores.base import Payload, Store, TopicMessage

log = logging.getLogger(__name__)

TYPE_URL_HEADER = "Cloudstate-Type-Url"
MSG_ID_HEADER = "Nats-Msg-Id"
#: Connection attempts (one second apart) before the proxy gives up starting.
_START_ATTEMPTS = 3
#: Seconds a status query (head, oldest pending) may take (metrics scrapes call them).
_STATUS_TIMEOUT = 2.0
#: Topic names usable as subject tokens (dots separate tokens; wildcards and spaces are not).
_TOPIC = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")
_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9_\-]")


def _import_nats() -> Any:
    try:
        import nats
    except ImportError as error:  # pragma: no cover - depends on the installed extras
        raise DiscoveryError(
            "--broker nats://... needs the NATS client: pip install nats-py (the nats extra)"
        ) from error
    return nats


def wire_payload(payload: Payload) -> bytes:
    """The bytes sent to NATS: a protobuf message's bytes; for JSON, text and bytes payloads the
    JSON document, the UTF-8 text or the bytes themselves (not Cloudstate's wrapper encoding),
    so that any NATS client reads them as their Content-Type says."""
    try:
        if payload.type_url.startswith(JSON_PREFIX) or payload.type_url == BYTES_URL:
            return bytes(wrappers_pb2.BytesValue.FromString(payload.value).value)
        if payload.type_url == STRING_URL:
            return str(wrappers_pb2.StringValue.FromString(payload.value).value).encode()
    except DecodeError:  # not what the type URL says: pass it on untouched
        pass
    return payload.value


def any_payload(type_url: str, data: bytes) -> Payload:
    """The ``Any`` of a received message: the inverse of :func:`wire_payload`."""
    if type_url.startswith(JSON_PREFIX) or type_url == BYTES_URL:
        return Payload(type_url, wrappers_pb2.BytesValue(value=data).SerializeToString())
    if type_url == STRING_URL:
        text = data.decode("utf-8", errors="replace")
        return Payload(type_url, wrappers_pb2.StringValue(value=text).SerializeToString())
    return Payload(type_url, data)


def message_headers(message: TopicMessage) -> dict[str, str]:
    """The NATS headers of a topic message: its CloudEvent attributes and type URL."""
    ce_type, content_type = content_type_of(message.payload.type_url)
    headers = {
        MSG_ID_HEADER: message.id or f"offset-{message.offset}",
        "ce-id": message.id or str(message.offset),
        "ce-source": message.source,
        "ce-specversion": "1.0",
        "ce-type": message.type or ce_type,
        "ce-subject": message.subject,
        "ce-time": message.time,
        "Content-Type": message.content_type or content_type,
        TYPE_URL_HEADER: message.payload.type_url,
    }
    return {key: value for key, value in headers.items() if value}


def type_url_of(headers: dict[str, str]) -> str:
    """The ``Any`` type URL of a received message (see the module doc)."""
    given = headers.get(TYPE_URL_HEADER)
    if given:
        return given
    content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
    ce_type = headers.get("ce-type", "")
    if content_type == "application/json":
        return JSON_PREFIX + (ce_type or "object")
    if content_type.startswith("text/"):
        return STRING_URL
    if content_type in ("application/protobuf", "application/x-protobuf") and ce_type:
        return PROTOBUF_PREFIX + ce_type
    return BYTES_URL


class NatsBroker:
    """One connection to a NATS server with JetStream, and the naming of streams and subjects.

    ``stream`` is the JetStream stream holding every topic (created with the subjects
    ``<subject_prefix>.>`` if missing); topic ``orders`` is the subject ``<subject_prefix>.orders``.
    """

    def __init__(
        self, url: str, *, stream: str = "CLOUDSTATE", subject_prefix: str = "cloudstate"
    ) -> None:
        if not url.startswith(("nats://", "tls://")):
            raise ValueError(f"unsupported broker URL {url!r}: use nats://host:port")
        if not _TOPIC.match(subject_prefix):
            raise ValueError(f"bad subject prefix {subject_prefix!r}: tokens of A-Z a-z 0-9 _ -")
        if not stream or _NOT_IN_NAME.search(stream):
            raise ValueError(f"bad stream name {stream!r}: use A-Z a-z 0-9 _ -")
        self.url = url
        self.stream = stream
        self.subject_prefix = subject_prefix
        self.nc: Any = None
        self.js: Any = None

    def subject(self, topic: str) -> str:
        return f"{self.subject_prefix}.{topic}"

    @staticmethod
    def check_topic(topic: str) -> None:
        if not _TOPIC.match(topic):
            raise DiscoveryError(
                f"topic {topic!r} cannot be a NATS subject: use letters, digits, '_' and '-' "
                "(dots separate subject tokens)"
            )

    async def connect(self, topics: Iterable[str]) -> None:
        """Connect, check the topic names and make sure the stream exists."""
        for topic in topics:
            self.check_topic(topic)
        nats = _import_nats()
        try:
            self.nc = await nats.connect(
                self.url,
                connect_timeout=5,
                # A few attempts at start-up, then fail (the proxy does not start)...
                max_reconnect_attempts=_START_ATTEMPTS,
                reconnect_time_wait=1,
                error_cb=self._on_error,
                disconnected_cb=self._on_disconnected,
                reconnected_cb=self._on_reconnected,
            )
        except Exception as error:
            raise DiscoveryError(
                f"cannot connect to the broker {self.url} ({_START_ATTEMPTS} attempts, "
                f"{error!r}): is nats-server -js running there?"
            ) from error
        # ... but once connected, reconnect forever: the outbox holds what waits meanwhile.
        self.nc.options["max_reconnect_attempts"] = -1
        self.js = self.nc.jetstream()
        from nats.js.errors import NotFoundError

        try:
            await self.js.stream_info(self.stream)
        except NotFoundError:
            await self.js.add_stream(name=self.stream, subjects=[f"{self.subject_prefix}.>"])
            log.info(
                "broker: created the JetStream stream %s (subjects %s.>)",
                self.stream,
                self.subject_prefix,
            )
        except Exception as error:
            await self.close()
            raise DiscoveryError(
                f"the broker {self.url} has no JetStream (start nats-server with -js): {error}"
            ) from error

    async def close(self) -> None:
        nc, self.nc = self.nc, None
        if nc is not None:
            with contextlib.suppress(Exception):
                await nc.close()

    async def head(self, topic: str) -> int:
        """The stream sequence of the topic's latest message, 0 if none."""
        from nats.js.errors import NotFoundError

        self._check_connected()
        try:
            last = await asyncio.wait_for(
                self.js.get_last_msg(self.stream, self.subject(topic)), _STATUS_TIMEOUT
            )
        except NotFoundError:
            return 0
        return int(last.seq or 0)

    async def stored_at(self, topic: str, after_sequence: int) -> float | None:
        """When the topic's first message after ``after_sequence`` was stored, None if none."""
        from nats.js.errors import NotFoundError

        self._check_connected()
        try:
            message = await asyncio.wait_for(
                self.js.get_msg(
                    self.stream, seq=after_sequence + 1, subject=self.subject(topic), next=True
                ),
                _STATUS_TIMEOUT,
            )
        except NotFoundError:
            return None
        return message.time.timestamp() if message.time is not None else time.time()

    def _check_connected(self) -> None:
        """Status queries fail at once while disconnected (a metrics scrape must not wait)."""
        if self.nc is None or not self.nc.is_connected:
            raise ConnectionError(f"not connected to the broker {self.url}")

    @staticmethod
    async def _on_error(error: Exception) -> None:
        log.warning("broker: %s", error)

    async def _on_disconnected(self) -> None:
        log.warning("broker: disconnected from %s; reconnecting", self.url)

    async def _on_reconnected(self) -> None:
        log.info("broker: reconnected to %s", self.url)


class NatsRelay:
    """Forwards one topic of the embedded topic log to JetStream (see the module doc). Runs
    under :class:`~cloudstate.proxy.eventing.ownership.OwnedConsumer` (one node at a time)."""

    def __init__(
        self,
        broker: NatsBroker,
        store: Store,
        topic: str,
        *,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        min_backoff: float = 0.1,
        max_backoff: float = 30.0,
    ) -> None:
        self.broker = broker
        self.store = store
        self.topic = topic
        self.batch_size = max(1, batch_size)
        self.poll_interval = poll_interval
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.committed_offset = 0
        self.relayed = 0
        self.failures = 0
        self.last_error: str | None = None
        #: Called with the topic after a batch reached JetStream (wakes local consumers).
        self.on_relayed: Callable[[str], None] | None = None
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def consumer_id(self) -> str:
        return f"nats-relay:{self.topic}"

    def describe(self) -> str:
        return f"NATS relay of topic {self.topic!r} -> {self.broker.subject(self.topic)}"

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"nats relay {self.topic}")

    def notify(self) -> None:
        self._wakeup.set()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def status(self) -> ConsumerStatus:
        head = await self.store.highest_topic_offset(self.topic)
        pending_since = None
        async for message in self.store.read_topic(self.topic, self.committed_offset, 1):
            pending_since = message.timestamp
        return ConsumerStatus(
            self.consumer_id,
            self.topic,
            self.committed_offset,
            head,
            pending_since,
            self.relayed,
            self.failures,
            self.last_error,
        )

    async def _run(self) -> None:
        self.committed_offset = await self._retrying(
            "load the relay offset", lambda: self.store.load_offset(self.consumer_id)
        )
        log.info("broker: %s starts after offset %d", self.describe(), self.committed_offset)
        while True:
            self._wakeup.clear()
            batch = await self._retrying("read the topic", self._read)
            if not batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self.poll_interval)
                continue
            await self._retrying("publish to JetStream", functools.partial(self._publish, batch))
            last = batch[-1].offset
            await self._retrying(
                "commit the relay offset",
                functools.partial(self.store.save_offset, self.consumer_id, last),
            )
            self.committed_offset = last
            self.relayed += len(batch)
            if self.on_relayed is not None:
                self.on_relayed(self.topic)

    async def _read(self) -> list[TopicMessage]:
        return [
            message
            async for message in self.store.read_topic(
                self.topic, self.committed_offset, self.batch_size
            )
        ]

    async def _publish(self, batch: list[TopicMessage]) -> None:
        """Publish in order, then wait for every acknowledgement (pipelined)."""
        js = self.broker.js
        subject = self.broker.subject(self.topic)
        acks = [
            await js.publish_async(
                subject, wire_payload(message.payload), headers=message_headers(message)
            )
            for message in batch
        ]
        await asyncio.wait_for(asyncio.gather(*acks), 30)

    async def _retrying(self, what: str, operation: Callable[[], Any]) -> Any:
        def failed(error: Exception, attempt: int, delay: float) -> None:
            self.failures += 1
            self.last_error = f"{self.describe()}: cannot {what}: {error!r}"
            log.warning("broker: %s; retrying in %.1fs", self.last_error, delay)

        return await retry_forever(operation, self.min_backoff, self.max_backoff, failed)


class NatsTopicSource:
    """The messages of one topic on JetStream, for one consumer group (see the module doc)."""

    def __init__(
        self, broker: NatsBroker, topic: str, consumer_group: str, *, fetch_wait: float = 1.0
    ) -> None:
        self.broker = broker
        self.topic = topic
        self.durable = _NOT_IN_NAME.sub("_", f"{consumer_group}--{topic}")
        self.fetch_wait = fetch_wait
        self._subscription: Any = None
        self._expected_after = -1  # the after_offset of the next read, if nothing restarted
        self._unacked: dict[int, Any] = {}  # stream sequence -> message, until committed

    async def _subscribe(self, after_sequence: int) -> Any:
        """(Re)create the durable consumer right after ``after_sequence`` (the store's offset)."""
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
        from nats.js.errors import NotFoundError

        js = self.broker.js
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
        with contextlib.suppress(NotFoundError):
            await js.delete_consumer(self.broker.stream, self.durable)
        config = ConsumerConfig(
            durable_name=self.durable,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=after_sequence + 1,
            ack_policy=AckPolicy.ALL,
            ack_wait=300.0,  # handlers are retried in place; this only bounds a stuck node
            filter_subject=self.broker.subject(self.topic),
        )
        await js.add_consumer(self.broker.stream, config=config)
        self._subscription = await js.pull_subscribe_bind(
            durable=self.durable, stream=self.broker.stream
        )
        self._unacked.clear()
        return self._subscription

    async def read(self, after_offset: int, limit: int) -> list[Delivery]:
        if self._subscription is None or after_offset != self._expected_after:
            # First read, or the consumer restarted from the stored offset (or another node
            # moved it): the durable consumer starts over from there.
            await self._subscribe(after_offset)
            self._expected_after = after_offset
        from nats.errors import TimeoutError as FetchTimeout

        try:
            messages = await self._subscription.fetch(limit, timeout=self.fetch_wait)
        except (FetchTimeout, TimeoutError):  # nothing new within fetch_wait
            return []
        deliveries: list[Delivery] = []
        for message in messages:
            sequence = int(message.metadata.sequence.stream)
            if sequence <= after_offset:  # a redelivery of something already committed
                continue
            self._unacked[sequence] = message
            deliveries.append(self._delivery(sequence, message))
        if deliveries:
            self._expected_after = deliveries[-1].offset
        return deliveries

    def _delivery(self, sequence: int, message: Any) -> Delivery:
        headers = {str(k): str(v) for k, v in (message.headers or {}).items()}
        type_url = type_url_of(headers)
        default_type, default_content = content_type_of(type_url)
        entries = {
            "ce-id": headers.get("ce-id") or str(sequence),
            "ce-source": headers.get("ce-source") or self.topic,
            "ce-specversion": headers.get("ce-specversion") or "1.0",
            "ce-type": headers.get("ce-type") or default_type,
            "ce-subject": headers.get("ce-subject", ""),
            "ce-time": headers.get("ce-time", ""),
            "Content-Type": headers.get("Content-Type") or default_content,
        }
        metadata = entity_pb2.Metadata(
            entries=[
                entity_pb2.MetadataEntry(key=k, string_value=v) for k, v in entries.items() if v
            ]
        )
        stamp = message.metadata.timestamp
        return Delivery(
            entries["ce-subject"],
            sequence,
            any_payload(type_url, bytes(message.data or b"")),
            metadata,
            stamp.timestamp() if stamp is not None else time.time(),
            f"message {entries['ce-id']} of topic {self.topic!r} (stream sequence {sequence})",
        )

    async def committed(self, offset: int) -> None:
        """The consumer committed ``offset``: acknowledge it and everything before (AckAll)."""
        message = self._unacked.get(offset)
        for sequence in [s for s in self._unacked if s <= offset]:
            del self._unacked[sequence]
        if message is not None:
            with contextlib.suppress(Exception):  # the store offset is authoritative anyway
                await message.ack()

    async def head(self) -> int:
        return await self.broker.head(self.topic)

    async def pending_since(self, after_offset: int) -> float | None:
        return await self.broker.stored_at(self.topic, after_offset)

    async def close(self) -> None:
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
