"""The lifecycle tests' user function (SDK): ``python tests/lifecycle/uf.py``, on ``$PORT``.

* ``lifecycletest.Notebook`` (event sourced, persistence id ``notes``, a snapshot every 3
  events): ``Add`` emits ``NoteAdded``; ``Delete`` deletes the notebook (``ctx.delete_entity()``);
  ``List`` answers the notes.
* ``lifecycletest.NotesLog`` (action): consumes the ``notes`` event log and appends one JSON line
  per event to ``$RECORD_FILE``: ``{"event": "added", "text": ...}`` or
  ``{"event": "deleted", "entity_id": ..., "deleted_by": ...}``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from google.protobuf.empty_pb2 import Empty
from lifecycletest import notes_pb2

from cloudstate import Action, CloudState, EventSourcedCommandContext, EventSourcedEntity
from cloudstate.lifecycle_pb2 import EntityDeleted

FILE = notes_pb2.DESCRIPTOR


def init(entity_id: str) -> list[str]:
    return []


entity = EventSourcedEntity(
    FILE.services_by_name["Notebook"], [FILE], init, persistence_id="notes", snapshot_every=3
)


@entity.snapshot()
def snapshot(state: list[str]) -> notes_pb2.Notes:
    return notes_pb2.Notes(texts=state)


@entity.snapshot_handler()
def restore(state: list[str], notes: notes_pb2.Notes) -> list[str]:
    return list(notes.texts)


@entity.event_handler(notes_pb2.NoteAdded)
def added(state: list[str], event: notes_pb2.NoteAdded) -> None:
    state.append(event.text)


@entity.command_handler("Add")
def add(command: notes_pb2.AddNote, ctx: EventSourcedCommandContext) -> Empty:
    ctx.emit(notes_pb2.NoteAdded(text=command.text))
    return Empty()


@entity.command_handler("Delete")
def delete(ctx: EventSourcedCommandContext) -> Empty:
    ctx.delete_entity()
    return Empty()


@entity.command_handler("List")
def list_notes(state: list[str]) -> notes_pb2.Notes:
    return notes_pb2.Notes(texts=state)


log_action = Action(FILE.services_by_name["NotesLog"], [FILE])


def record(line: dict[str, str]) -> None:
    with open(os.environ["RECORD_FILE"], "a") as out:
        out.write(json.dumps(line) + "\n")


@log_action.unary("OnAdded")
def on_added(event: notes_pb2.NoteAdded) -> Empty:
    record({"event": "added", "text": event.text})
    return Empty()


@log_action.unary("OnDeleted")
def on_deleted(event: EntityDeleted) -> Empty:
    record({"event": "deleted", "entity_id": event.entity_id, "deleted_by": event.deleted_by})
    return Empty()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    CloudState().register_event_sourced_entity(entity).register_action(log_action).start()
