"""The topic test user function: ``Shop`` publishes its replies to the topic ``orders``
(protobuf, JSON, text, bytes), ``Relay`` consumes the ``Counter`` entity's event log and publishes
an ``Order`` per event to ``orders``, and ``OrderLog`` consumes that topic.

``OrderLog`` appends one JSON line per delivered message to ``$TOPIC_FILE``:
``{"pid": ..., "kind": "order"|"other", "value": ..., "meta": {...}}``.

``python -m tests.eventing.topic_model`` (from the repository root) listens on ``$HOST:$PORT``.
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
import time
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

PROTO_ROOT = Path(__file__).resolve().parent / "proto"


def _compile() -> None:
    out = tempfile.mkdtemp(prefix="evtest-topic-protos-")
    atexit.register(shutil.rmtree, out, True)
    if run([f"-I{PROTO_ROOT}", f"--python_out={out}", "evtest/topics.proto"]) != 0:
        raise RuntimeError("protoc failed on tests/eventing/proto/evtest/topics.proto")
    sys.path.insert(0, out)


if "evtest.topics_pb2" not in sys.modules:
    _compile()
pb: Any = importlib.import_module("evtest.topics_pb2")
FILE = pb.DESCRIPTOR


def shop() -> Action:
    action = Action(FILE.services_by_name["Shop"], [FILE])

    def place_order(order: Any, ctx: ActionContext) -> Any:
        return order

    def publish_any(request: Any, ctx: ActionContext) -> Any:
        if request.kind == "json":
            return Json({"text": request.text}, "shop.Note")
        if request.kind == "text":
            return request.text
        return request.text.encode() + b"\x00\xff"

    action.unary("PlaceOrder")(place_order)
    action.unary("PublishAny")(publish_any)
    return action


def counter() -> EventSourcedEntity:
    entity = EventSourcedEntity(
        FILE.services_by_name["Counter"], [FILE], lambda: 0, persistence_id="counter"
    )

    def add(state: int, request: Any, ctx: EventSourcedCommandContext) -> Any:
        for i in range(1, request.count + 1):
            ctx.emit(pb.Added(counter_id=request.counter_id, n=state + i))
        return empty_pb2.Empty()

    def added(state: int, event: Any) -> int:
        return int(event.n)

    entity.command_handler("Add")(add)
    entity.event_handler(pb.Added)(added)
    return entity


def relay() -> Action:
    action = Action(FILE.services_by_name["Relay"], [FILE])

    def on_added(event: Any, ctx: ActionContext) -> Any:
        return pb.Order(id=f"{event.counter_id}-{event.n}", quantity=event.n)

    action.unary("OnAdded")(on_added)
    return action


def order_log(path: Path) -> Action:
    action = Action(FILE.services_by_name["OrderLog"], [FILE])

    def record(kind: str, value: Any, ctx: ActionContext) -> None:
        meta = {k.lower(): str(v) for k, v in ctx.metadata.items()}
        line = {"pid": os.getpid(), "kind": kind, "value": value, "meta": meta, "at": time.time()}
        with open(path, "a") as f:
            f.write(json.dumps(line) + "\n")

    def on_order(order: Any, ctx: ActionContext) -> Any:
        record("order", {"id": order.id, "quantity": order.quantity}, ctx)
        return empty_pb2.Empty()

    def on_other(value: Any, ctx: ActionContext) -> Any:
        if isinstance(value, bytes):
            value = {"bytes": base64.b64encode(value).decode()}
        record("other", value, ctx)
        return empty_pb2.Empty()

    action.unary("OnOrder")(on_order)
    action.unary("OnOther")(on_other)
    return action


def build(path: Path) -> CloudState:
    server = CloudState(service_name="topic-tests")
    server.register_action(shop())
    server.register_event_sourced_entity(counter())
    server.register_action(relay())
    return server.register_action(order_log(path))


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    build(Path(os.environ["TOPIC_FILE"])).start()
