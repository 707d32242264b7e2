"""Test-only entities on the services of ``proto/sdktest/model.proto``.

The proto is compiled (with ``cloudstate.protoc``) into a per-process temporary directory on first
import, so parallel test workers never share generated files.

* ``model`` (``sdktest.Model``): the state is a string, each emitted ``Persisted`` value is
  appended by an event handler that *returns* the new state; snapshot every 5 events. The
  ``Process`` command runs the request's steps (emit / forward / effect / fail) in order.
* ``two`` (``sdktest.Two``): the target of forwards and side effects; passivation 100 ms.
* ``probe`` (``sdktest.Probe``): one method per SDK behaviour under test (exceptions, context
  values, async handlers, JSON events, bad replies, a method without handler).
"""

from __future__ import annotations

import asyncio
import atexit
import importlib
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudstate import (
    CommandFailure,
    EventSourcedCommandContext,
    EventSourcedEntity,
    EventSourcedEventContext,
)
from cloudstate.protoc import run

PROTO_ROOT = Path(__file__).resolve().parent / "proto"


def _compile() -> None:
    out = tempfile.mkdtemp(prefix="sdktest-protos-")
    atexit.register(shutil.rmtree, out, True)
    if run([f"-I{PROTO_ROOT}", f"--python_out={out}", "sdktest/model.proto"]) != 0:
        raise RuntimeError("protoc failed on tests/sdk/proto/sdktest/model.proto")
    sys.path.insert(0, out)


if "sdktest.model_pb2" not in sys.modules:
    _compile()
model_pb2: Any = importlib.import_module("sdktest.model_pb2")

Request = model_pb2.Request
Response = model_pb2.Response
Persisted = model_pb2.Persisted
Step = model_pb2.Step
FILE = model_pb2.DESCRIPTOR
MODEL = FILE.services_by_name["Model"]
TWO = FILE.services_by_name["Two"]
PROBE = FILE.services_by_name["Probe"]
TWO_CALL = TWO.methods_by_name["Call"]


# -- sdktest.Model ---------------------------------------------------------------------------------


def model_init(entity_id: str) -> str:
    return ""


model = EventSourcedEntity(MODEL, [FILE], model_init, persistence_id="sdk-model", snapshot_every=5)


@model.event_handler(Persisted)
def persisted(state: str, event: Persisted) -> str:
    return state + event.value


@model.snapshot()
def model_snapshot(state: str) -> Persisted:
    return Persisted(value=state)


@model.snapshot_handler()
def model_restore(snapshot: Persisted) -> str:
    return str(snapshot.value)


@model.command_handler("Process")
def process(request: Request, ctx: EventSourcedCommandContext) -> Response:
    for step in request.steps:
        kind = step.WhichOneof("step")
        if kind == "emit":
            ctx.emit(Persisted(value=step.emit.value))
        elif kind == "forward":
            ctx.forward(TWO_CALL, Request(id=step.forward.id))
        elif kind == "effect":
            ctx.effect(
                "sdktest.Two",
                "Call",
                Request(id=step.effect.id),
                synchronous=step.effect.synchronous,
            )
        elif kind == "fail":
            ctx.fail(step.fail.message, step.fail.code or None)
    return Response(message=ctx.state)


# -- sdktest.Two -----------------------------------------------------------------------------------

two = EventSourcedEntity(TWO, [FILE], lambda entity_id: None, passivation_timeout=0.1)


@two.command_handler("Call")
def call() -> Response:
    return Response()


# -- sdktest.Probe ---------------------------------------------------------------------------------


@dataclass
class ProbeState:
    values: list[str] = field(default_factory=list)


def probe_init(entity_id: str) -> ProbeState:
    return ProbeState()


probe = EventSourcedEntity(PROBE, [FILE], probe_init)


def emitted_values(request: Request) -> list[str]:
    return [step.emit.value for step in request.steps if step.WhichOneof("step") == "emit"]


@probe.event_handler(Persisted)
async def probe_persisted(event: Persisted, state: ProbeState) -> None:
    await asyncio.sleep(0)
    state.values.append(event.value)


@probe.event_handler(dict)
def probe_json(state: ProbeState, event: dict[str, Any], ctx: EventSourcedEventContext) -> None:
    state.values.append(f"{event['value']}@{ctx.sequence}")


@probe.command_handler("Raise")
def raise_(request: Request) -> Response:
    raise RuntimeError(f"boom for {request.id}")


@probe.command_handler("Echo")
def echo(ctx: EventSourcedCommandContext, state: ProbeState) -> Response:
    metadata = ",".join(f"{key}={value!r}" for key, value in ctx.metadata.items())
    fields = [ctx.entity_id, ctx.command_name, str(ctx.command_id), str(ctx.sequence), metadata]
    return Response(message="|".join([*fields, ",".join(state.values)]))


@probe.command_handler("AsyncEmit")
async def async_emit(request: Request, ctx: EventSourcedCommandContext) -> Response:
    seen = []
    for value in emitted_values(request):
        await ctx.emit(Persisted(value=value))
        seen.append(len(ctx.state.values))  # the awaited emit has been applied
    return Response(message=f"{','.join(ctx.state.values)}/{seen}")


@probe.command_handler("EmitJson")
def emit_json(request: Request, ctx: EventSourcedCommandContext, state: ProbeState) -> Response:
    for value in emitted_values(request):
        ctx.emit({"value": value})
    return Response(message=",".join(state.values))


@probe.command_handler("SwallowFailure")
def swallow_failure(request: Request, ctx: EventSourcedCommandContext) -> Response:
    for value in emitted_values(request):
        ctx.emit(Persisted(value=value))
    try:
        ctx.fail("swallowed failure")
    except CommandFailure:
        pass
    return Response(message="should not be sent")


@probe.command_handler("WrongReply")
def wrong_reply() -> Persisted:
    return Persisted(value="not a Response")


@probe.command_handler("NoReply")
def no_reply(request: Request, ctx: EventSourcedCommandContext) -> None:
    for value in emitted_values(request):
        ctx.emit(Persisted(value=value))  # async event handler, not awaited: applied afterwards
