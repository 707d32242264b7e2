"""Value entities: one actor per active entity, owning one ``ValueEntity.handle`` stream.

The queue, the one-at-a-time loop, passivation and restarts are the shared machinery of
:mod:`cloudstate.proxy.entities.actor`. What is specific to a value entity:

1. **Activation** — load the stored value once, open the stream and send ``init``. Its ``state``
   is always present; ``state.value`` is set only if the entity has a stored value.
2. **Replies** — a reply's ``state_action`` (``update`` or ``delete``) is written to the store,
   conditional on the version loaded at activation (or written since), and is durable *before*
   the outcome is handed back. A reply without a state action changes nothing.
3. **Failures change nothing** — a reply whose client action is a failure reaches the client as
   an error and any state action sent with it is ignored. ``restart`` in the failure is honoured
   (the user function says its in-memory state is no longer trustworthy): the stream is replaced
   and the next command starts from the stored value.
4. **Several nodes** — the write is conditional on the version this actor loaded or wrote; a
   reply that writes nothing is released only if the stored value still has that version.
   Otherwise the command re-runs on a fresh stream initialised with the latest value.
5. **Time-to-live** — with ``option (cloudstate.entity_ttl)`` every write of a value sets its
   expiry (the write's time plus the TTL). An expired value reads as absent: a command reaching
   an actor whose value expired runs on a fresh stream initialised with no value, and a reply
   computed from a value that expired meanwhile is discarded and the command runs again.
6. **Protocol violations** — an ``update`` without a value or a state action that is neither
   update nor delete (empty, or a kind this proxy does not know) is reported to the user
   function, fails the command with INTERNAL, writes nothing and restarts the entity.
"""

from __future__ import annotations

import datetime
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

import grpc

from cloudstate.protocol import entity_pb2, value_entity_pb2, value_entity_pb2_grpc
from cloudstate.proxy.durable.tasks import split_side_effects
from cloudstate.proxy.entities.actor import EntityActor, EntityManager, EntitySettings, ReportError
from cloudstate.proxy.entities.base import Outcome, PendingCommand, failure_error
from cloudstate.proxy.errors import ProtocolError, StoreUnavailable
from cloudstate.proxy.model import ServiceModel
from cloudstate.proxy.stores.base import Payload, Store, StoreError, TopicMessage

if TYPE_CHECKING:
    from cloudstate.proxy.eventing.topics import TopicPublisher

__all__ = ["ValueEntityActor", "ValueEntityHandler"]

log = logging.getLogger(__name__)

StreamIn = value_entity_pb2.ValueEntityStreamIn


class ValueEntityHandler(EntityManager["ValueEntityActor"]):
    """Routes commands of one value-entity service to its entity actors.

    Example (what the proxy does for every discovered value-entity service)::

        handler = ValueEntityHandler(service, channel, store, EntitySettings(), report_error)
        outcome = await handler.handle(method, "alice", request_bytes, None)
        await handler.close()
    """

    def __init__(
        self,
        service: ServiceModel,
        channel: grpc.aio.Channel,
        store: Store,
        settings: EntitySettings,
        report_error: ReportError,
    ) -> None:
        super().__init__(service, channel, store, settings, report_error)
        self.stub = value_entity_pb2_grpc.ValueEntityStub(channel)
        #: Set by eventing when methods publish (``out.topic``): replies go to their topic in the
        #: same transaction as the new state (the outbox).
        self.outbox: TopicPublisher | None = None
        #: Set by eventing when something consumes this type's state changes
        #: (``in.value_entity``): every change is appended to this topic in the same transaction
        #: as the new state; ``on_changed`` is then called with the topic.
        self.change_topic: str | None = None
        self.on_changed: Callable[[str], None] | None = None

    def _new_actor(self, entity_id: str) -> ValueEntityActor:
        return ValueEntityActor(self, entity_id)


class ValueEntityActor(EntityActor[ValueEntityHandler]):
    """The actor of one active value entity. Created by :class:`ValueEntityHandler`."""

    def __init__(self, manager: ValueEntityHandler, entity_id: str) -> None:
        super().__init__(manager, entity_id)
        # The stored version this actor last read or wrote: the condition of its next write.
        self._version = 0
        self._has_value = False  # whether the state the user function holds is a value or none
        self._expires_at: float | None = None  # when the value it holds expires (None: never)

    async def _activate(self) -> None:
        try:
            stored = await self.manager.store.load_value(self.persistence_id, self.entity_id)
        except StoreError as e:
            raise StoreUnavailable(f"cannot load {self._describe()}: {e}") from e
        init = value_entity_pb2.ValueEntityInit(
            service_name=self.manager.service.name, entity_id=self.entity_id
        )
        init.state.SetInParent()  # always present, even when there is no value
        self._version = 0
        self._has_value = stored is not None
        self._expires_at = None if stored is None else stored.expires_at
        if stored is not None:
            init.state.value.type_url = stored.payload.type_url
            init.state.value.value = stored.payload.value
            self._version = stored.version
        await self._open_stream(self.manager.stub.handle, _messages(StreamIn(init=init)), "load")

    def _expired(self) -> bool:
        return self._expires_at is not None and self._expires_at <= time.time()

    def _command_in(self, command: entity_pb2.Command) -> value_entity_pb2.ValueEntityStreamIn:
        return StreamIn(command=command)

    async def _is_current(self) -> bool:
        stored = await self.manager.store.load_value(self.persistence_id, self.entity_id)
        if stored is None:
            return not self._has_value  # none here and none stored: the same state
        return self._has_value and stored.version == self._version

    async def _apply_reply(
        self, command: PendingCommand, reply: value_entity_pb2.ValueEntityReply
    ) -> bool:
        action = reply.client_action
        name = command.method.name
        failed = action.WhichOneof("action") == "failure"
        if self._expired():  # computed from a value that has expired since: not an answer
            return self._retry_on_latest(command, "its value expired")
        # Several nodes: an answer that writes nothing must come from the latest state.
        if (failed or not reply.HasField("state_action")) and not await self._confirm_current(
            command
        ):
            return False
        if failed:
            # A failed command changes nothing: a state action sent with it is ignored.
            # Idempotency: a failure is an answer too, recorded before it is released.
            if await self._record_alone(command, action):
                command.fail(failure_error(action.failure, self.manager.settings.failure_status))
            if action.failure.restart:
                self._call.cancel()
                return False
            return True
        publisher = self.manager.outbox
        outbox = self._reply_outbox(publisher, command, action)
        if outbox is None:  # nothing is written; the entity restarts from the store
            return False
        side_effects, calls = split_side_effects(reply.side_effects)
        # A value's next version is not known before its write: keys get a random part.
        tasks = await self._durable_changes(command, calls, None)
        if tasks is None:  # an invalid durable call: nothing is written, the entity restarts
            return False
        if reply.HasField("state_action"):
            state_action = reply.state_action
            kind = state_action.WhichOneof("action")
            value: Payload | None
            if kind == "update" and state_action.update.HasField("value"):
                update = state_action.update.value
                value = Payload(update.type_url, update.value)
            elif kind == "delete":
                value = None
            else:
                problem = (
                    f"the user function replied to {name} of {self._describe()} with "
                    + (
                        "a state update that has no value"
                        if kind == "update"
                        else "a state action that is neither update nor delete"
                    )
                    + "; nothing was written and the entity was restarted. Fix the user "
                    "function: an update must carry the new state, use delete to remove it"
                )
                log.error("%s", problem)
                await self.manager.report_error(problem)
                command.fail(ProtocolError(problem))
                self._call.cancel()
                return False
            change_topic = self.manager.change_topic
            if change_topic is not None:
                outbox.append(
                    (change_topic, state_change(self.persistence_id, self.entity_id, value))
                )
            # The outbox, the durable calls and the key's record, in the value's transaction.
            extra = self._write_arguments(command, action, outbox, tasks)
            ttl = self.manager.service.entity_ttl
            expires_at = None if ttl is None or value is None else time.time() + ttl
            try:
                self._version = await self.manager.store.save_value(
                    self.persistence_id,
                    self.entity_id,
                    value,
                    expected_version=self._version,
                    expires_at=expires_at,
                    **extra,
                )
            except StoreError as e:
                return self._write_failed(command, e, "the new state")
            self._written(extra)
            self._has_value = value is not None
            self._expires_at = expires_at
        elif not await self._write_alone(command, outbox, tasks):
            return False  # a reply that writes no state still publishes and records, and failed
        if publisher is not None and outbox:
            publisher.committed(outbox)
        if self.manager.change_topic is not None and self.manager.on_changed is not None:
            self.manager.on_changed(self.manager.change_topic)
        if tasks and self.manager.durable is not None:
            self.manager.durable.written(tasks)
        if not reply.HasField("state_action") and not await self._record_alone(command, action):
            return True  # answered with the key's record stored first, or failed
        command.succeed(Outcome(action, side_effects, published=bool(outbox)))
        return True


#: The payload of a state change that deleted the value.
DELETED = Payload("type.googleapis.com/google.protobuf.Empty", b"")


def state_change(persistence_id: str, entity_id: str, value: Payload | None) -> TopicMessage:
    """The change-feed message of one write: the new state (or :data:`DELETED`), its subject the
    entity id."""
    payload = DELETED if value is None else value
    return TopicMessage(
        payload,
        id=str(uuid.uuid4()),
        source=persistence_id,
        type=payload.type_url.rsplit("/", 1)[-1],
        subject=entity_id,
        time=datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z"),
        content_type="application/protobuf",
    )


async def _messages(
    *messages: value_entity_pb2.ValueEntityStreamIn,
) -> AsyncIterator[value_entity_pb2.ValueEntityStreamIn]:
    for message in messages:
        yield message
