"""Deliberately broken variants of the TCK model user function, to prove the TCK catches them.

``python -m tests.tck.mutant_model MUTANT`` serves the mutant on ``$HOST:$PORT``. Two kinds:

* code mutants — the model written with the SDK, with a bug (:data:`CODE_MUTANTS`);
* SDK mutants — the whole model, served by a patched workflow SDK (:data:`SDK_MUTANTS`);
* wire mutants — the correct model behind an in-process relay that tampers with what it sends
  or receives on the event-sourced and CRDT streams (:data:`WIRE_MUTANTS`), for bugs our SDK
  makes impossible to write.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc

from cloudstate.action import Action
from cloudstate.action_context import ActionContext
from cloudstate.cloudstate import CloudState
from cloudstate.crdt import Crdt, CrdtCommandContext, CrdtEntity
from cloudstate.event_sourced_context import EventSourcedCommandContext
from cloudstate.event_sourced_entity import EventSourcedEntity
from cloudstate.protocol import (
    crdt_pb2,
    crdt_pb2_grpc,
    entity_pb2,
    entity_pb2_grpc,
    event_sourced_pb2,
    event_sourced_pb2_grpc,
)
from cloudstate.registry import EntityDefinition
from cloudstate.tck.crdt_messages import CRDT_TWO
from cloudstate.tck.durable_messages import DURABLE_CALLS
from cloudstate.tck.messages import ES_TWO, any_message, side_effect
from cloudstate.tck.model import action as model_action
from cloudstate.tck.model import action_pb2 as apb
from cloudstate.tck.model import crdt as crdt_model
from cloudstate.tck.model import crdt_pb2 as cpb
from cloudstate.tck.model import durable as durable_model
from cloudstate.tck.model import event_sourced, value_entity
from cloudstate.tck.model import eventsourced_pb2 as pb
from cloudstate.tck.model import valueentity_pb2 as vpb
from cloudstate.tck.model.server import model_entities
from cloudstate.value_entity import ValueEntity
from cloudstate.value_entity_context import ValueEntityCommandContext

_EOF: Any = grpc.aio.EOF  # type: ignore[attr-defined]


def _event_sourced_model(
    process: Callable[[pb.Request, EventSourcedCommandContext], pb.Response],
) -> EventSourcedEntity:
    """The event-sourced model with another ``Process``."""
    entity = EventSourcedEntity(
        event_sourced.MODEL,
        [pb.DESCRIPTOR],
        lambda entity_id: "",
        persistence_id="event-sourced-tck-model",
        snapshot_every=5,
    )

    def persisted(state: str, event: pb.Persisted) -> str:
        return state + event.value

    def snapshot(state: str) -> pb.Persisted:
        return pb.Persisted(value=state)

    def restore(state: str, snapshot: pb.Persisted) -> str:
        return str(snapshot.value)

    entity.event_handler(pb.Persisted)(persisted)
    entity.snapshot(snapshot)
    entity.snapshot_handler(restore)
    entity.command_handler("Process")(process)
    return entity


def _drop_last_event() -> EventSourcedEntity:
    """The model, except that Process emits every value of a request but the last one (when it
    has several)."""

    def process(request: pb.Request, ctx: EventSourcedCommandContext) -> pb.Response:
        emitted = [a.emit.value for a in request.actions if a.WhichOneof("action") == "emit"]
        for value in emitted[:-1] if len(emitted) > 1 else emitted:
            ctx.emit(pb.Persisted(value=value))
        return pb.Response(message=ctx.state)

    return _event_sourced_model(process)


def _forward_beats_failure() -> EventSourcedEntity:
    """The model, except that a command that forwards ignores its ``fail`` action."""

    def process(request: pb.Request, ctx: EventSourcedCommandContext) -> pb.Response:
        forwards = any(a.WhichOneof("action") == "forward" for a in request.actions)
        for action in request.actions:
            kind = action.WhichOneof("action")
            if kind == "emit":
                ctx.emit(pb.Persisted(value=action.emit.value))
            elif kind == "forward":
                ctx.forward(event_sourced.TWO_CALL, pb.Request(id=action.forward.id))
            elif kind == "effect":
                effect = action.effect
                ctx.effect(
                    event_sourced.TWO_CALL, pb.Request(id=effect.id), synchronous=effect.synchronous
                )
            elif kind == "fail" and not forwards:
                ctx.fail(action.fail.message)
        return pb.Response(message=ctx.state)

    return _event_sourced_model(process)


def _two_fails() -> EventSourcedEntity:
    """``EventSourcedTwo``, except that ``Call`` fails."""
    entity = EventSourcedEntity(
        event_sourced.TWO, [pb.DESCRIPTOR], lambda entity_id: "", persistence_id="EventSourcedTwo"
    )

    def call(request: pb.Request, ctx: EventSourcedCommandContext) -> pb.Response:
        ctx.fail("broken")

    entity.command_handler("Call")(call)
    return entity


def _first_update_wins() -> ValueEntity:
    """The value-entity model, except that several updates in one command keep the first."""
    entity = ValueEntity(
        value_entity.MODEL,
        [vpb.DESCRIPTOR],
        lambda entity_id: vpb.Persisted(),
        persistence_id="value-entity-tck-model",
    )

    def process(request: vpb.Request, ctx: ValueEntityCommandContext) -> vpb.Response:
        updated = False
        for action in request.actions:
            if action.WhichOneof("action") == "update" and not updated:
                ctx.update_state(vpb.Persisted(value=action.update.value))
                updated = True
        state = ctx.state
        return vpb.Response(message=state.value if state is not None else "")

    entity.command_handler("Process")(process)
    return entity


def _reversed_streamed_out() -> Action:
    """The action model, except that streamed-out responses come in reverse order."""
    action = Action(model_action.MODEL, [apb.DESCRIPTOR])

    def unary(request: apb.Request, ctx: ActionContext) -> Any:
        return model_action.respond(request.groups, ctx)

    async def streamed_in(requests: AsyncIterator[apb.Request], ctx: ActionContext) -> Any:
        return model_action.respond([g async for r in requests for g in r.groups], ctx)

    def streamed_out(request: apb.Request, ctx: ActionContext) -> Iterator[Any]:
        for group in reversed(request.groups):
            yield model_action.respond([group], ctx)

    async def streamed(
        requests: AsyncIterator[apb.Request], ctx: ActionContext
    ) -> AsyncIterator[Any]:
        async for request in requests:
            for group in request.groups:
                yield model_action.respond([group], ctx)

    action.unary("ProcessUnary")(unary)
    action.streamed_in("ProcessStreamedIn")(streamed_in)
    action.streamed_out("ProcessStreamedOut")(streamed_out)
    action.streamed("ProcessStreamed")(streamed)
    return action


def _orset_ignores_removes() -> CrdtEntity:
    """The CRDT model's Process, except that ORSet removes are ignored."""
    entity = CrdtEntity(
        crdt_model.MODEL, [cpb.DESCRIPTOR], crdt_model.new_crdt, persistence_id="crdt-tck-model"
    )

    def process(crdt: Crdt, request: cpb.Request, ctx: CrdtCommandContext) -> cpb.Response:
        for action in request.actions:
            change = action.update
            if change.WhichOneof("update") == "orset" and change.orset.HasField("remove"):
                continue
            if action.HasField("update"):
                crdt_model.apply(crdt, change)
        return cpb.Response(state=crdt_model.state_of(crdt))

    entity.command_handler("Process")(process)
    return entity


def _with_model_entity(factory: Callable[[], EntityDefinition]) -> list[EntityDefinition]:
    replaced = factory()
    return [
        replaced if e.service_descriptor is replaced.service_descriptor else e
        for e in model_entities()
    ]


CODE_MUTANTS: dict[str, Callable[[], list[EntityDefinition]]] = {
    "drop-last-event": lambda: _with_model_entity(_drop_last_event),
    "no-snapshots": lambda: _with_model_entity(
        lambda: event_sourced.model_entity(snapshot_every=0)
    ),
    "first-update-wins": lambda: _with_model_entity(_first_update_wins),
    "orset-ignores-removes": lambda: _with_model_entity(_orset_ignores_removes),
    "reversed-streamed-out": lambda: _with_model_entity(_reversed_streamed_out),
    "snapshot-every-4": lambda: _with_model_entity(
        lambda: event_sourced.model_entity(snapshot_every=4)
    ),
    "forward-beats-failure": lambda: _with_model_entity(_forward_beats_failure),
    "two-fails": lambda: _with_model_entity(_two_fails),
}


# -- SDK mutants: the workflow SDK patched, then the whole model served ----------------------


def _attempt_always_1() -> None:
    """Steps always see attempt 1, whatever the proxy sent."""
    from cloudstate.workflow.context import StepContext

    StepContext.attempt = property(lambda self: 1)  # type: ignore[assignment,method-assign]


def _go_to_drops_input() -> None:
    """``go_to`` makes the transition without its input."""
    from cloudstate.workflow.context import WorkflowContext

    original = WorkflowContext.go_to

    def go_to(self: Any, step: str, input: Any = None) -> None:
        original(self, step)

    WorkflowContext.go_to = go_to  # type: ignore[method-assign]


def _workflows_without_extension() -> None:
    """Discovery announces workflows to a proxy that does not list their extension."""
    from cloudstate.discovery import EntityDiscoveryServicer

    EntityDiscoveryServicer.missing_extensions = lambda self, request: ""  # type: ignore[method-assign]


SDK_MUTANTS: dict[str, Callable[[], None]] = {
    "workflow-attempt-always-1": _attempt_always_1,
    "workflow-go-to-drops-input": _go_to_drops_input,
    "workflow-extension-ignored": _workflows_without_extension,
}


# -- wire mutants: tamper with what the event-sourced and CRDT streams carry ---------------------

#: Rewrites one message of a stream (``None`` drops it).
Tamper = Callable[[Any], Any]


@dataclass(frozen=True)
class Wire:
    """What the relay changes on the ``kind`` streams (``"event-sourced"`` or ``"crdt"``):
    ``out`` what the user function sends; ``into`` what the proxy sends (a factory: one tamper
    per stream, which may remember what it saw)."""

    kind: str
    out: Tamper | None = None
    into: Callable[[], Tamper] | None = None
    #: Rewrites the ProxyInfo of discover calls before the model sees it.
    proxy_info: Callable[[entity_pb2.ProxyInfo], entity_pb2.ProxyInfo] | None = None


def _reverse_events(
    out: event_sourced_pb2.EventSourcedStreamOut,
) -> event_sourced_pb2.EventSourcedStreamOut:
    events = list(out.reply.events)
    del out.reply.events[:]
    out.reply.events.extend(reversed(events))
    return out


def _effects_on_failure(
    out: event_sourced_pb2.EventSourcedStreamOut,
) -> event_sourced_pb2.EventSourcedStreamOut:
    if out.reply.client_action.HasField("failure"):
        out.reply.side_effects.append(side_effect(ES_TWO, "Call", pb.Request(id="leaked")))
    return out


def _events_on_failure(
    out: event_sourced_pb2.EventSourcedStreamOut,
) -> event_sourced_pb2.EventSourcedStreamOut:
    if out.reply.client_action.HasField("failure"):
        out.reply.events.append(any_message(pb.Persisted(value="leaked")))
    return out


def _empty_reply_metadata(
    out: event_sourced_pb2.EventSourcedStreamOut,
) -> event_sourced_pb2.EventSourcedStreamOut:
    if out.reply.client_action.HasField("reply"):
        out.reply.client_action.reply.metadata.SetInParent()
    return out


def _one_synchronous_flag(
    out: event_sourced_pb2.EventSourcedStreamOut,
) -> event_sourced_pb2.EventSourcedStreamOut:
    """Every side effect of a reply takes the first one's ``synchronous`` flag."""
    effects = out.reply.side_effects
    for effect in effects[1:]:
        effect.synchronous = effects[0].synchronous
    return out


def _replay_ignores_event_sequence() -> Tamper:
    """Replayed events do not advance the sequence: each arrives numbered as the snapshot in
    ``init`` (as if the language support took the sequence from the snapshot alone)."""
    snapshot_sequence = 0

    def tamper(message: event_sourced_pb2.EventSourcedStreamIn) -> Any:
        nonlocal snapshot_sequence
        if message.HasField("init"):
            snapshot_sequence = message.init.snapshot.snapshot_sequence
        elif message.HasField("event"):
            message.event.sequence = snapshot_sequence
        return message

    return tamper


def _ignore_replicated_delete() -> Tamper:
    """A ``CrdtDelete`` from the proxy never reaches the entity (its value survives)."""
    return lambda message: None if message.HasField("delete") else message


def _nested_vote_totals(out: crdt_pb2.CrdtStreamOut) -> crdt_pb2.CrdtStreamOut:
    """A Vote inside an ORMap delta also carries totals (which only a proxy may send)."""
    delta = out.reply.state_action.update
    for entry in [*delta.ormap.updated, *delta.ormap.added]:
        if entry.delta.HasField("vote"):
            entry.delta.vote.total_voters = 1
    return out


def _crdt_effects_on_failure(out: crdt_pb2.CrdtStreamOut) -> crdt_pb2.CrdtStreamOut:
    if out.reply.client_action.HasField("failure"):
        out.reply.side_effects.append(side_effect(CRDT_TWO, "Call", cpb.Request(id="leaked")))
    return out


def _drop_durable(
    out: event_sourced_pb2.EventSourcedStreamOut,
) -> event_sourced_pb2.EventSourcedStreamOut:
    """Durable effects and timers go out as ordinary side effects (field 100 dropped)."""
    for effect in out.reply.side_effects:
        effect.ClearField("durable")
    return out


def _assume_durable_calls(info: entity_pb2.ProxyInfo) -> entity_pb2.ProxyInfo:
    """The model believes every proxy lists the durable-calls extension."""
    if DURABLE_CALLS not in info.extensions:
        info.extensions.append(DURABLE_CALLS)
    return info


WIRE_MUTANTS: dict[str, Wire] = {
    "durable-field-dropped": Wire("event-sourced", out=_drop_durable),
    "extension-assumed": Wire("event-sourced", proxy_info=_assume_durable_calls),
    "reverse-events": Wire("event-sourced", out=_reverse_events),
    "side-effects-on-failure": Wire("event-sourced", out=_effects_on_failure),
    "events-on-failure": Wire("event-sourced", out=_events_on_failure),
    "empty-reply-metadata": Wire("event-sourced", out=_empty_reply_metadata),
    "one-synchronous-flag": Wire("event-sourced", out=_one_synchronous_flag),
    "replay-ignores-event-sequence": Wire("event-sourced", into=_replay_ignores_event_sequence),
    "ignore-replicated-delete": Wire("crdt", into=_ignore_replicated_delete),
    "nested-vote-totals": Wire("crdt", out=_nested_vote_totals),
    "crdt-side-effects-on-failure": Wire("crdt", out=_crdt_effects_on_failure),
}


class _Tampering:
    """Serves ``handle`` of an entity protocol by relaying each stream to the real model."""

    def __init__(self, stub: Any, out: Tamper | None, into: Callable[[], Tamper] | None) -> None:
        self.stub = stub
        self.out = out
        self.into = into

    async def handle(self, requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
        call = self.stub.handle()
        into = self.into() if self.into is not None else None

        async def pump() -> None:
            async for message in requests:
                if into is not None and (message := into(message)) is None:
                    continue
                await call.write(message)
            await call.done_writing()

        task = asyncio.create_task(pump())
        try:
            while (message := await call.read()) is not _EOF:
                yield self.out(message) if self.out is not None else message
        finally:
            task.cancel()


class _Discovery(entity_pb2_grpc.EntityDiscoveryServicer):  # type: ignore[misc]
    def __init__(
        self,
        channel: grpc.aio.Channel,
        tamper: Callable[[entity_pb2.ProxyInfo], entity_pb2.ProxyInfo] | None = None,
    ) -> None:
        self.stub = entity_pb2_grpc.EntityDiscoveryStub(channel)
        self.tamper = tamper

    async def discover(self, request: Any, context: Any) -> entity_pb2.EntitySpec:
        if self.tamper is not None:
            request = self.tamper(request)
        return await self.stub.discover(request)

    async def reportError(self, request: Any, context: Any) -> Any:
        return await self.stub.reportError(request)


async def _serve_wire_mutant(wire: Wire, host: str, port: int) -> None:
    """The event-sourced and CRDT model services behind the relay; ``wire.kind`` streams are
    tampered with, the others pass unchanged."""
    model = CloudState(service_name="mutant")
    for entity in [*event_sourced.entities(), *crdt_model.entities(), *durable_model.entities()]:
        model.register_entity(entity)
    served = await model.serve_async(host="127.0.0.1", port=0)
    channel = grpc.aio.insecure_channel(served.address)

    def relay(kind: str, stub: Any) -> _Tampering:
        if kind == wire.kind:
            return _Tampering(stub, wire.out, wire.into)
        return _Tampering(stub, None, None)

    server = grpc.aio.server()
    entity_pb2_grpc.add_EntityDiscoveryServicer_to_server(
        _Discovery(channel, wire.proxy_info), server
    )
    event_sourced_pb2_grpc.add_EventSourcedServicer_to_server(
        relay("event-sourced", event_sourced_pb2_grpc.EventSourcedStub(channel)), server
    )
    crdt_pb2_grpc.add_CrdtServicer_to_server(relay("crdt", crdt_pb2_grpc.CrdtStub(channel)), server)
    server.add_insecure_port(f"{host}:{port}")
    await server.start()
    await server.wait_for_termination()


def main() -> None:
    name = sys.argv[1]
    host, port = os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"])
    if name in CODE_MUTANTS or name in SDK_MUTANTS:
        if name in SDK_MUTANTS:
            SDK_MUTANTS[name]()
        server = CloudState(host, port)
        entities = CODE_MUTANTS[name]() if name in CODE_MUTANTS else model_entities()
        for entity in entities:
            server.register_entity(entity)
        server.start()
    else:
        asyncio.run(_serve_wire_mutant(WIRE_MUTANTS[name], host, port))


if __name__ == "__main__":
    main()
