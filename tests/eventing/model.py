"""The eventing test user function: a ``Ledger`` event-sourced entity (persistence id ``ledger``)
and a ``Projection`` action consuming its event log.

The projection appends one JSON line per delivered event to ``$PROJECTION_FILE``:
``{"pid": ..., "kind": "entry"|"other", "subject": ..., "n": ..., "meta": {...}}``. While the file
``$PROJECTION_FILE.hold`` exists, it refuses (fails) the entries of the ledger named in it whose
``n`` is above 50, appending a line to ``$PROJECTION_FILE.refused`` each time. While the file
``$PROJECTION_FILE.poison`` holds ``<ledger> <n>``, that one entry is refused (a poison event);
delete the file and the handler is "fixed".

``python -m tests.eventing.model`` (from the repository root) listens on ``$HOST:$PORT``.
"""

from __future__ import annotations

import atexit
import contextlib
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

from cloudstate import (
    Action,
    ActionContext,
    CloudState,
    EventSourcedCommandContext,
    EventSourcedEntity,
)
from cloudstate.protoc import run

PROTO_ROOT = Path(__file__).resolve().parent / "proto"


def _compile() -> None:
    out = tempfile.mkdtemp(prefix="evtest-protos-")
    atexit.register(shutil.rmtree, out, True)
    if run([f"-I{PROTO_ROOT}", f"--python_out={out}", "evtest/ledger.proto"]) != 0:
        raise RuntimeError("protoc failed on tests/eventing/proto/evtest/ledger.proto")
    sys.path.insert(0, out)


if "evtest.ledger_pb2" not in sys.modules:
    _compile()
pb: Any = importlib.import_module("evtest.ledger_pb2")
FILE = pb.DESCRIPTOR


def ledger() -> EventSourcedEntity:
    """``Ledger``: its state is the count of entries."""
    entity = EventSourcedEntity(
        FILE.services_by_name["Ledger"], [FILE], lambda: 0, persistence_id="ledger"
    )

    def append(state: int, request: Any, ctx: EventSourcedCommandContext) -> Any:
        for i in range(1, request.count + 1):
            ctx.emit(pb.Entry(ledger_id=request.ledger_id, n=state + i))
        if request.marker:
            ctx.emit(pb.Marker(text=request.marker))
        return empty_pb2.Empty()

    def entry_added(state: int, event: Any) -> int:
        return int(event.n)

    def marked(state: int, event: Any) -> int:
        return state

    entity.command_handler("Append")(append)
    entity.event_handler(pb.Entry)(entry_added)
    entity.event_handler(pb.Marker)(marked)
    return entity


def projection(path: Path) -> Action:
    action = Action(FILE.services_by_name["Projection"], [FILE])
    hold = Path(f"{path}.hold")
    refused = Path(f"{path}.refused")

    def record(kind: str, n: int, ctx: ActionContext) -> None:
        meta = {k.lower(): str(v) for k, v in ctx.metadata.items()}
        line: dict[str, Any] = {"pid": os.getpid(), "kind": kind, "subject": meta.get("ce-subject")}
        line.update(n=n, at=time.time(), meta=meta)
        with open(path, "a") as f:
            f.write(json.dumps(line) + "\n")

    poison = Path(f"{path}.poison")

    def poisoned(entry: Any) -> bool:
        with contextlib.suppress(FileNotFoundError):
            return poison.read_text().split() == [entry.ledger_id, str(entry.n)]
        return False

    def on_entry(entry: Any, ctx: ActionContext) -> Any:
        if poisoned(entry):
            with open(refused, "a") as f:
                f.write(f"{entry.ledger_id} {entry.n}\n")
            raise RuntimeError(f"poison {entry.ledger_id} #{entry.n}")
        if entry.n > 50 and hold.exists() and hold.read_text().strip() == entry.ledger_id:
            with open(refused, "a") as f:
                f.write(f"{entry.ledger_id} {entry.n}\n")
            raise RuntimeError(f"holding {entry.ledger_id} #{entry.n}")
        record("entry", entry.n, ctx)
        return empty_pb2.Empty()

    def on_other(event: Any, ctx: ActionContext) -> Any:
        record("other", 0, ctx)
        return empty_pb2.Empty()

    action.unary("OnEntry")(on_entry)
    action.unary("OnOther")(on_other)
    return action


def build(path: Path) -> CloudState:
    server = CloudState(service_name="eventing-tests")
    server.register_event_sourced_entity(ledger())
    return server.register_action(projection(path))


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    build(Path(os.environ["PROJECTION_FILE"])).start()
