"""Test-only value entities on the services of ``proto/sdktest/valueentity.proto``.

The proto is compiled (with ``cloudstate.protoc``) into a per-process temporary directory on first
import, like ``tests/sdk/model.py``.

* ``model`` (``sdktest.ve.Model``): the state is a ``Persisted``; ``Process`` runs the request's
  actions (update / delete / forward / effect / fail) in order and answers the resulting value.
* ``two`` (``sdktest.ve.Two``): the target of forwards and side effects.
* ``configured`` (``sdktest.ve.Configured``): passivation 100 ms, persistence id set.
* ``probe`` (``sdktest.ve.Probe``): one method per SDK behaviour under test.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from cloudstate import ValueEntity, ValueEntityCommandContext
from cloudstate.protoc import run

PROTO_ROOT = Path(__file__).resolve().parent / "proto"


def _compile() -> None:
    out = tempfile.mkdtemp(prefix="sdktest-ve-protos-")
    atexit.register(shutil.rmtree, out, True)
    if run([f"-I{PROTO_ROOT}", f"--python_out={out}", "sdktest/valueentity.proto"]) != 0:
        raise RuntimeError("protoc failed on tests/sdk/proto/sdktest/valueentity.proto")
    sys.path.insert(0, out)


try:
    ve_pb2: Any = importlib.import_module("sdktest.valueentity_pb2")
except ImportError:
    _compile()
    importlib.invalidate_caches()
    ve_pb2 = importlib.import_module("sdktest.valueentity_pb2")

Request = ve_pb2.Request
RequestAction = ve_pb2.RequestAction
Response = ve_pb2.Response
Persisted = ve_pb2.Persisted
FILE = ve_pb2.DESCRIPTOR
MODEL = FILE.services_by_name["Model"]
TWO = FILE.services_by_name["Two"]
CONFIGURED = FILE.services_by_name["Configured"]
PROBE = FILE.services_by_name["Probe"]
TWO_CALL = TWO.methods_by_name["Call"]


# -- sdktest.ve.Model ------------------------------------------------------------------------------


def model_init(entity_id: str) -> Persisted:
    return Persisted()


model = ValueEntity(MODEL, [FILE], model_init, persistence_id="ve-model")


@model.command_handler("Process")
def process(request: Request, ctx: ValueEntityCommandContext) -> Response:
    for action in request.actions:
        kind = action.WhichOneof("action")
        if kind == "update":
            ctx.update_state(Persisted(value=action.update.value))
        elif kind == "delete":
            ctx.delete_state()
        elif kind == "forward":
            ctx.forward(TWO_CALL, Request(id=action.forward.id))
        elif kind == "effect":
            ctx.effect(
                "sdktest.ve.Two",
                "Call",
                Request(id=action.effect.id),
                synchronous=action.effect.synchronous,
            )
        elif kind == "fail":
            ctx.fail(action.fail.message, action.fail.code or None)
    return Response(message=ctx.state.value if ctx.state is not None else "")


# -- sdktest.ve.Two and sdktest.ve.Configured ------------------------------------------------------

two = ValueEntity(TWO, [FILE], lambda entity_id: None)


@two.command_handler("Call")
def call() -> Response:
    return Response()


configured = ValueEntity(CONFIGURED, [FILE], lambda: None, "ve-configured", passivation_timeout=0.1)


@configured.command_handler("Call")
def configured_call() -> Response:
    return Response()


# -- sdktest.ve.Probe ------------------------------------------------------------------------------

probe = ValueEntity(PROBE, [FILE], model_init)


@probe.command_handler("Mutate")
def mutate(state: Persisted) -> Response:
    """Changes the state object in place without ctx.update_state: nothing is stored."""
    state.value += "x"
    return Response(message=state.value)


@probe.command_handler("Raise")
def raise_error(state: Persisted) -> Response:
    raise RuntimeError("probe exploded")


@probe.command_handler("AsyncUpdate")
async def async_update(state: Persisted, ctx: ValueEntityCommandContext) -> Response:
    await asyncio.sleep(0)
    ctx.update_state(Persisted(value=state.value + "a"))
    return Response(message=ctx.state.value)


@probe.command_handler("JsonState")
def json_state(state: Any, ctx: ValueEntityCommandContext) -> Response:
    count = state["count"] if isinstance(state, dict) else 0
    ctx.update_state({"count": count + 1})
    return Response(message=str(count + 1))


@probe.command_handler("UpdateNone")
def update_none(ctx: ValueEntityCommandContext) -> Response:
    ctx.update_state(None)
    return Response()


@probe.command_handler("WrongReply")
def wrong_reply() -> Persisted:
    return Persisted(value="not a Response")


@probe.command_handler("Context")
def context(ctx: ValueEntityCommandContext) -> Response:
    header = ctx.metadata.get("x-test", "-")
    return Response(message=f"{ctx.entity_id}|{ctx.command_name}|{ctx.command_id}|{header!s}")
