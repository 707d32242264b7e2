"""Test-only actions and an event-sourced counter on ``proto/acttest/model.proto``.

The proto is compiled (with ``cloudstate.protoc``) into a per-process temporary directory on first
import, so parallel test workers and the user-function subprocess never share generated files.

* ``tck`` (``acttest.TckModel``) and ``two`` (``acttest.Two``): the conformance kit's action model
  (groups of reply / forward / fail / effect steps), written with the SDK.
* ``recorder`` (``acttest.Recorder``): keeps notes in memory (to observe side effects and the
  metadata they carried); a note starting with "fail" is refused.
* ``relay``, ``relay2``, ``relay3``: forward chains (``Hops``), a forward loop and an
  asynchronous side-effect loop.
* ``counter`` (``acttest.Counter``): event sourced; its commands add note side effects and may
  forward to ``Relay.Call``. ``register`` (``acttest.Register``) and ``tally``
  (``acttest.Tally``): the same as a value entity and as a CRDT (GCounter).
* ``streams`` (``acttest.Streams``): the streamed shapes, counting open and cancelled streams.
* ``echo`` (``acttest.Echo``): replies with its request (the proxy-overhead benchmark).
"""

from __future__ import annotations

import asyncio
import atexit
import importlib
import shutil
import sys
import tempfile
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from cloudstate import (
    NO_REPLY,
    Action,
    ActionContext,
    CrdtCommandContext,
    CrdtEntity,
    EventSourcedCommandContext,
    EventSourcedEntity,
    GCounter,
    ValueEntity,
    ValueEntityCommandContext,
    service,
)
from cloudstate.protoc import run

PROTO_ROOT = Path(__file__).resolve().parent / "proto"


def _compile() -> None:
    out = tempfile.mkdtemp(prefix="acttest-protos-")
    atexit.register(shutil.rmtree, out, True)
    if run([f"-I{PROTO_ROOT}", f"--python_out={out}", "acttest/model.proto"]) != 0:
        raise RuntimeError("protoc failed on tests/actions/proto/acttest/model.proto")
    sys.path.insert(0, out)


if "acttest.model_pb2" not in sys.modules:
    _compile()
pb: Any = importlib.import_module("acttest.model_pb2")
FILE = pb.DESCRIPTOR


def _service(name: str) -> Any:
    return FILE.services_by_name[name]


Two = service(_service("Two"))
Recorder = service(_service("Recorder"))
Relay = service(_service("Relay"))

# -- the conformance-kit model --------------------------------------------------------------------

tck = Action(_service("TckModel"), [FILE])
two = Action(_service("Two"), [FILE])


def _fold(groups: Any, ctx: ActionContext) -> Any:
    """One response for ``groups``: reply / forward / fail replace each other, effects add up."""
    outcome: Any = NO_REPLY
    for group in groups:
        for step in group.steps:
            kind = step.WhichOneof("step")
            if kind == "reply":
                outcome = pb.Response(message=step.reply.message)
            elif kind == "forward":
                outcome = ("forward", step.forward.id)
            elif kind == "fail":
                outcome = ctx.failure(step.fail.message)
            elif kind == "effect":
                ctx.effect(
                    Two.Call,
                    pb.OtherRequest(id=step.effect.id),
                    synchronous=step.effect.synchronous,
                )
    if isinstance(outcome, tuple):
        return ctx.forward(Two.Call, pb.OtherRequest(id=outcome[1]))
    return outcome


@tck.unary("ProcessUnary")
def process_unary(request: Any, ctx: ActionContext) -> Any:
    return _fold(request.groups, ctx)


@tck.streamed_in("ProcessStreamedIn")
async def process_streamed_in(requests: AsyncIterator[Any], ctx: ActionContext) -> Any:
    groups = [group async for request in requests for group in request.groups]
    return _fold(groups, ctx)


@tck.streamed_out("ProcessStreamedOut")
def process_streamed_out(request: Any, ctx: ActionContext) -> Iterator[Any]:
    for group in request.groups:
        yield _fold([group], ctx)


@tck.streamed("ProcessStreamed")
def process_streamed(request: Any, ctx: ActionContext) -> Iterator[Any]:
    """Called once per client message (a plain generator: per-message mode)."""
    for group in request.groups:
        yield _fold([group], ctx)


@two.unary("Call")
def two_call(request: Any) -> Any:
    return pb.Response()


# -- recorder, relays ----------------------------------------------------------------------------

NOTES: dict[str, list[str]] = defaultdict(list)

recorder = Action(_service("Recorder"), [FILE])


@recorder.unary("Record")
def record(note: Any, ctx: ActionContext) -> Any:
    if note.text.startswith("fail"):
        ctx.fail(f"the recorder refuses {note.text!r}")
    NOTES[note.key].append(f"{note.text}|{ctx.metadata.get('x-trace', '')}")
    return pb.Response(message=note.text)


@recorder.unary("Read")
def read(query: Any) -> Any:
    return pb.Notes(entries=NOTES.get(query.key, []))


relay = Action(_service("Relay"), [FILE])
relay2 = Action(_service("Relay2"), [FILE])
relay3 = Action(_service("Relay3"), [FILE])


def _hop(hops: Any, ctx: ActionContext) -> Any:
    if hops.services:
        target, rest = hops.services[0], list(hops.services[1:])
        if target.startswith("Counter:"):
            return ctx.forward(Counter.Add, pb.AddRequest(id=target.split(":", 1)[1], amount=1))
        return ctx.forward(
            f"acttest.{target}/Call",
            pb.Hops(services=rest, message=hops.message, note_key=hops.note_key),
        )
    if hops.note_key:
        ctx.effect(Recorder.Record, pb.Note(key=hops.note_key, text=hops.message), synchronous=True)
    return pb.Response(message=f"{hops.message} at {ctx.service_name}")


for _action in (relay, relay2, relay3):
    _action.unary("Call")(_hop)


@relay.unary("Loop")
def loop(request: Any, ctx: ActionContext) -> Any:
    NOTES[f"loop-{request.id}"].append(str(len(NOTES[f"loop-{request.id}"])))
    return ctx.forward(Relay.Loop, request)


@relay.unary("EffectLoop")
def effect_loop(request: Any, ctx: ActionContext) -> Any:
    NOTES[f"effect-loop-{request.id}"].append("x")
    ctx.effect(Relay.EffectLoop, request)
    return pb.Response(message="ok")


# -- the event-sourced counter ---------------------------------------------------------------------

counter = EventSourcedEntity(_service("Counter"), [FILE], lambda: 0, persistence_id="act-counter")
Counter = service(_service("Counter"))


@counter.event_handler(pb.Added)
def added(state: int, event: Any) -> int:
    return state + int(event.amount)


@counter.command_handler("Add")
def add(state: int, command: Any, ctx: EventSourcedCommandContext) -> Any:
    ctx.emit(pb.Added(amount=command.amount))
    for effect in command.effects:
        ctx.effect(Recorder.Record, effect.note, synchronous=effect.synchronous)
    if command.HasField("forward"):
        ctx.forward(Relay.Call, command.forward)
        return None
    return pb.Response(message=f"total {ctx.state}")


@counter.command_handler("Get")
def get(state: int) -> Any:
    return pb.Total(total=state)


# -- the value entity ----------------------------------------------------------------------------

register = ValueEntity(_service("Register"), [FILE], lambda: pb.Total(), persistence_id="act-reg")


@register.command_handler("Set")
def set_value(state: Any, command: Any, ctx: ValueEntityCommandContext) -> Any:
    ctx.update_state(pb.Total(total=command.amount))
    for effect in command.effects:
        ctx.effect(Recorder.Record, effect.note, synchronous=effect.synchronous)
    if command.HasField("forward"):
        ctx.forward(Relay.Call, command.forward)
        return None
    return pb.Response(message=f"value {command.amount}")


@register.command_handler("Get")
def get_value(state: Any) -> Any:
    return state


# -- the CRDT entity -------------------------------------------------------------------------------

tally = CrdtEntity(_service("Tally"), [FILE], GCounter, persistence_id="act-tally")


@tally.command_handler("Add")
def tally_add(counter: GCounter, command: Any, ctx: CrdtCommandContext) -> Any:
    counter.increment(command.amount)
    for effect in command.effects:
        ctx.effect(Recorder.Record, effect.note, synchronous=effect.synchronous)
    if command.HasField("forward"):
        ctx.forward(Relay.Call, command.forward)
        return None
    return pb.Response(message=f"tally {counter.value}")


@tally.command_handler("Get")
def tally_get(counter: GCounter) -> Any:
    return pb.Total(total=counter.value)


# -- streams --------------------------------------------------------------------------------------

streams = Action(_service("Streams"), [FILE])
OPEN = {"open": 0, "cancelled": 0}


@streams.streamed_out("Out")
async def out(request: Any) -> AsyncIterator[Any]:
    OPEN["open"] += 1
    finished = False
    try:
        for i in range(request.count):
            yield pb.Item(text=f"{request.prefix}{i}")
            if request.delay_ms:
                await asyncio.sleep(request.delay_ms / 1000)
        finished = True
    finally:
        OPEN["open"] -= 1
        if not finished:
            OPEN["cancelled"] += 1


@streams.streamed_out("OutSync")
def out_sync(request: Any) -> Iterator[Any]:
    for i in range(request.count):
        yield pb.Item(text=f"{request.prefix}{i}")


@streams.streamed_in("In")
async def collect(items: AsyncIterator[Any]) -> Any:
    texts = [item.text async for item in items]
    return pb.Summary(count=len(texts), joined=",".join(texts))


@streams.streamed("Both")
async def both(items: AsyncIterator[Any], ctx: ActionContext) -> AsyncIterator[Any]:
    OPEN["open"] += 1
    finished = False
    try:
        async for item in items:
            if item.text == "fail":
                ctx.fail("asked to fail")
            yield pb.Item(text=item.text.upper())
        finished = True
    finally:
        OPEN["open"] -= 1
        if not finished:
            OPEN["cancelled"] += 1


@streams.unary("Open")
def open_streams(request: Any) -> Any:
    return pb.OpenStreams(open=OPEN["open"], cancelled=OPEN["cancelled"])


# -- the benchmark's echo ------------------------------------------------------------------------

echo = Action(_service("Echo"), [FILE])


@echo.unary("Echo")
def echo_item(item: Any) -> Any:
    return item


ACTIONS = (tck, two, recorder, relay, relay2, relay3, streams, echo)
