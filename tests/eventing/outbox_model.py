"""The outbox test user function: ``Account`` (event sourced) and ``Notes`` (value entity) publish
their replies to the topics ``deposits`` and ``notes`` with their writes; ``Audit`` consumes both.

``Audit`` appends one JSON line per delivered message to ``$OUTBOX_FILE``:
``{"topic": ..., "kind": "deposited"|"note"|"other", "value": ..., "meta": {...}}``.

``python -m tests.eventing.outbox_model`` (from the repository root) listens on ``$HOST:$PORT``.
"""

from __future__ import annotations

import atexit
import base64
import importlib
import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from google.protobuf import empty_pb2

from cloudstate.action import Action
from cloudstate.action_context import ActionContext
from cloudstate.any_support import Json
from cloudstate.cloudstate import CloudState
from cloudstate.event_sourced_context import EventSourcedCommandContext
from cloudstate.event_sourced_entity import EventSourcedEntity
from cloudstate.protoc import run
from cloudstate.value_entity import ValueEntity
from cloudstate.value_entity_context import ValueEntityCommandContext

PROTO_ROOT = Path(__file__).resolve().parent / "proto"


def _compile() -> None:
    out = tempfile.mkdtemp(prefix="evtest-outbox-protos-")
    atexit.register(shutil.rmtree, out, True)
    if run([f"-I{PROTO_ROOT}", f"--python_out={out}", "evtest/outbox.proto"]) != 0:
        raise RuntimeError("protoc failed on tests/eventing/proto/evtest/outbox.proto")
    sys.path.insert(0, out)


if "evtest.outbox_pb2" not in sys.modules:
    _compile()
pb: Any = importlib.import_module("evtest.outbox_pb2")
FILE = pb.DESCRIPTOR


def account() -> EventSourcedEntity:
    entity = EventSourcedEntity(
        FILE.services_by_name["Account"], [FILE], lambda: 0, persistence_id="accounts"
    )

    def deposit(balance: int, request: Any, ctx: EventSourcedCommandContext) -> Any:
        event = pb.Deposited(
            account_id=request.account_id, amount=request.amount, balance=balance + request.amount
        )
        ctx.emit(event)
        return event

    def deposited(balance: int, event: Any) -> int:
        return int(event.balance)

    entity.command_handler("Deposit")(deposit)
    entity.event_handler(pb.Deposited)(deposited)
    return entity


def notes() -> ValueEntity:
    entity = ValueEntity(
        FILE.services_by_name["Notes"], [FILE], lambda: pb.Note(), persistence_id="notes"
    )

    def set_note(state: Any, request: Any, ctx: ValueEntityCommandContext) -> Any:
        note = pb.Note(note_id=request.note_id, text=request.text)
        ctx.update_state(note)
        if request.kind == "json":
            return Json({"note": request.text}, "audit.Note")
        if request.kind == "text":
            return request.text
        if request.kind == "bytes":
            return request.text.encode() + b"\x00\xff"
        return note

    entity.command_handler("Set")(set_note)
    return entity


def audit(path: Path) -> Action:
    action = Action(FILE.services_by_name["Audit"], [FILE])

    def record(topic: str, kind: str, value: Any, ctx: ActionContext) -> Any:
        meta = {k.lower(): str(v) for k, v in ctx.metadata.items()}
        line = {"topic": topic, "kind": kind, "value": value, "meta": meta}
        with open(path, "a") as f:
            f.write(json.dumps(line) + "\n")
        return empty_pb2.Empty()

    def on_deposited(event: Any, ctx: ActionContext) -> Any:
        value = {"account": event.account_id, "amount": event.amount, "balance": event.balance}
        return record("deposits", "deposited", value, ctx)

    def on_note(note: Any, ctx: ActionContext) -> Any:
        return record("notes", "note", {"id": note.note_id, "text": note.text}, ctx)

    def on_other(value: Any, ctx: ActionContext) -> Any:
        if isinstance(value, bytes):
            value = {"bytes": base64.b64encode(value).decode()}
        return record("notes", "other", value, ctx)

    action.unary("OnDeposited")(on_deposited)
    action.unary("OnNote")(on_note)
    action.unary("OnOtherNote")(on_other)
    return action


def build(path: Path) -> CloudState:
    server = CloudState(service_name="outbox-tests")
    server.register_event_sourced_entity(account())
    server.register_value_entity(notes())
    return server.register_action(audit(path))


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    build(Path(os.environ["OUTBOX_FILE"])).start()
