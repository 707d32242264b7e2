"""Test-only CRDT entities on the services of ``proto/crdtsdk/model.proto``.

The proto is compiled (with ``cloudstate.protoc``) into a per-process temporary directory on first
import, so parallel test workers never share generated files.

* ``model`` (``crdtsdk.CrdtModel``): the CRDT type is the entity id's prefix (``GCounter-1``);
  ``Process`` runs the request's actions in order and replies with the state; ``ProcessStreamed``
  is a streamed command (see the proto).
* ``two`` (``crdtsdk.CrdtTwo``): the target of forwards and side effects; no state.
"""

from __future__ import annotations

import atexit
import importlib
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from cloudstate import (
    CrdtClock,
    CrdtCommandContext,
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
from cloudstate.crdt import Crdt
from cloudstate.protoc import run

PROTO_ROOT = Path(__file__).resolve().parent / "proto"


def _compile() -> None:
    out = tempfile.mkdtemp(prefix="crdtsdk-protos-")
    atexit.register(shutil.rmtree, out, True)
    if run([f"-I{PROTO_ROOT}", f"--python_out={out}", "crdtsdk/model.proto"]) != 0:
        raise RuntimeError("protoc failed on tests/crdt_sdk/proto/crdtsdk/model.proto")
    sys.path.insert(0, out)


if "crdtsdk.model_pb2" not in sys.modules:
    _compile()
pb: Any = importlib.import_module("crdtsdk.model_pb2")

FILE = pb.DESCRIPTOR
MODEL = FILE.services_by_name["CrdtModel"]
TWO = FILE.services_by_name["CrdtTwo"]
TWO_CALL = TWO.methods_by_name["Call"]
Request = pb.Request
StreamedRequest = pb.StreamedRequest
Response = pb.Response
State = pb.State

TYPES: dict[str, type[Crdt]] = {
    cls.__name__: cls for cls in (GCounter, PNCounter, GSet, ORSet, LWWRegister, Flag, ORMap, Vote)
}


def new_crdt(name: str) -> Crdt:
    """A new CRDT of the type named by ``name``'s prefix (``"ORSet-1"`` -> ``ORSet()``)."""
    type_name = name.split("-")[0]
    if type_name == "LWWRegister":
        return LWWRegister("")
    return TYPES[type_name]()


# -- crdtsdk.CrdtModel ---------------------------------------------------------------------------

model = CrdtEntity(MODEL, [FILE], new_crdt, persistence_id="crdt-sdk-model")


@model.command_handler("Process")
def process(crdt: Crdt, request: Any, ctx: CrdtCommandContext) -> Any:
    for action in request.actions:
        which = action.WhichOneof("action")
        if which == "update":
            update(crdt, action.update)
            ctx.write_consistency = WriteConsistency(action.update.write_consistency)
        elif which == "delete":
            ctx.delete()
        elif which == "forward":
            ctx.forward(TWO_CALL, Request(id=action.forward.id))
        elif which == "effect":
            effect = action.effect
            ctx.effect(TWO_CALL, Request(id=effect.id), synchronous=effect.synchronous)
        elif which == "fail":
            ctx.fail(action.fail.message)
    return Response(state=state_of(crdt))


@model.command_handler("ProcessStreamed")
def process_streamed(crdt: Crdt, request: Any, ctx: CrdtCommandContext) -> Any:
    if ctx.streamed:
        ctx.on_change(on_change)
        if request.HasField("cancel_update"):
            ctx.on_cancel(lambda state: update(state, request.cancel_update))
    if request.HasField("initial_update"):
        update(crdt, request.initial_update)
    return None if request.empty else Response(state=state_of(crdt))


def on_change(crdt: Crdt, request: Any, ctx: SubscriptionContext) -> Any:
    for effect in request.effects:
        ctx.effect(TWO_CALL, Request(id=effect.id), synchronous=effect.synchronous)
    state = state_of(crdt)
    if request.HasField("end_state") and state == request.end_state:
        ctx.end_stream()
    return None if request.empty else Response(state=state)


def update(crdt: Any, request: Any) -> None:
    """Apply an ``Update`` to the CRDT it is meant for."""
    which = request.WhichOneof("update")
    change = getattr(request, which)
    if which == "gcounter":
        crdt.increment(change.increment)
    elif which == "pncounter":
        crdt.increment(change.change)
    elif which == "gset":
        crdt.add(change.add)
    elif which == "orset":
        action = change.WhichOneof("action")
        if action == "add":
            crdt.add(change.add)
        elif action == "remove":
            crdt.discard(change.remove)
        else:
            crdt.clear()
    elif which == "lwwregister":
        clock = CrdtClock(change.clock.clock_type)
        crdt.set(change.value, clock=clock, custom_clock_value=change.clock.custom_clock_value)
    elif which == "flag":
        crdt.enable()
    elif which == "ormap":
        action = change.WhichOneof("action")
        if action == "add":
            crdt.get_or_create(change.add, lambda: new_crdt(change.add))
        elif action == "update":
            key = change.update.key
            update(crdt.get_or_create(key, lambda: new_crdt(key)), change.update.update)
        elif action == "remove":
            crdt.pop(change.remove, None)
        else:
            crdt.clear()
    elif which == "vote":
        crdt.vote(change.self_vote)


def state_of(crdt: Any) -> Any:
    """The ``State`` message showing a CRDT's value (elements sorted, entries sorted by key)."""
    if isinstance(crdt, GCounter):
        return State(gcounter={"value": crdt.value})
    if isinstance(crdt, PNCounter):
        return State(pncounter={"value": crdt.value})
    if isinstance(crdt, GSet):
        return State(gset={"elements": sorted(crdt)})
    if isinstance(crdt, ORSet):
        return State(orset={"elements": sorted(crdt)})
    if isinstance(crdt, LWWRegister):
        return State(lwwregister={"value": crdt.value})
    if isinstance(crdt, Flag):
        return State(flag={"value": crdt.enabled})
    if isinstance(crdt, ORMap):
        entries = [{"key": key, "value": state_of(crdt[key])} for key in sorted(crdt)]
        return State(ormap={"entries": entries})
    if isinstance(crdt, Vote):
        return State(
            vote={
                "self_vote": crdt.self_vote,
                "votes_for": crdt.votes_for,
                "total_voters": crdt.total_voters,
            }
        )
    return State()


# -- crdtsdk.CrdtTwo -----------------------------------------------------------------------------

two = CrdtEntity(TWO, [FILE])


@two.command_handler("Call")
def call(request: Any, ctx: CrdtCommandContext) -> Any:
    if any(action.HasField("delete") for action in request.actions):
        ctx.delete()
    return Response()


# -- crdtsdk.CrdtProbe ---------------------------------------------------------------------------

PROBE = FILE.services_by_name["CrdtProbe"]
probe = CrdtEntity(PROBE, [FILE])


@probe.command_handler("Create")
def create(request: Request, ctx: CrdtCommandContext) -> Any:
    """Create the CRDT named by the id (if there is none yet), then run the actions."""
    if ctx.state is None:
        ctx.state = new_crdt(request.id)
    for action in request.actions:
        update(ctx.state, action.update)
    return Response(state=state_of(ctx.state))


@probe.command_handler("CreateTwice")
def create_twice(ctx: CrdtCommandContext) -> None:
    ctx.set_state(GCounter())
    ctx.set_state(GCounter())


@probe.command_handler("Raise")
def raise_(request: Request) -> None:
    raise ValueError(f"boom {request.id}")


@probe.command_handler("NotStreamed")
def not_streamed(ctx: CrdtCommandContext) -> None:
    ctx.on_change(lambda: None)


@probe.command_handler("WatchMutating")
def watch_mutating(ctx: CrdtCommandContext) -> None:
    ctx.on_change(lambda counter: counter.increment(1))


@probe.command_handler("WatchFailing")
def watch_failing(ctx: CrdtCommandContext) -> None:
    def changed(counter: GCounter, sub: SubscriptionContext) -> Any:
        if counter.value >= 2:
            sub.fail("too many")
        return Response(state=state_of(counter))

    ctx.on_change(changed)


@probe.command_handler("WatchForward")
def watch_forward(request: Request, ctx: CrdtCommandContext) -> None:
    @ctx.on_change
    def changed(sub: SubscriptionContext) -> None:
        sub.forward(TWO_CALL, Request(id=request.id))


@probe.command_handler("WatchAsync")
async def watch_async(crdt: Crdt, ctx: CrdtCommandContext) -> Any:
    async def changed(crdt: Crdt) -> Any:
        return Response(state=state_of(crdt))

    ctx.on_change(changed)
    return Response(state=state_of(crdt))


@probe.command_handler("EndAtOnce")
def end_at_once(crdt: Crdt, ctx: CrdtCommandContext) -> Any:
    ctx.on_change(lambda: Response())
    ctx.end_stream()
    return Response(state=state_of(crdt))


@probe.command_handler("CancelDeletes")
def cancel_deletes(request: Request, ctx: CrdtCommandContext) -> None:
    def cancelled(ctx: StreamCancelledContext) -> None:
        ctx.effect(TWO_CALL, Request(id=request.id))
        ctx.write_consistency = WriteConsistency.ALL
        ctx.delete()

    ctx.on_cancel(cancelled)


@probe.command_handler("WatchMetadata")
def watch_metadata(ctx: CrdtCommandContext) -> None:
    @ctx.on_change
    def changed(sub: SubscriptionContext) -> Any:
        seen = f"{sub.command_name} {sub.command_id} {sub.metadata.get('user', '?')}"
        return Response(state=State(lwwregister={"value": seen}))
