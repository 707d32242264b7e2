"""The SDK's side of the lifecycle: migrations (registration checks, applied to actions'
requests) and ``ctx.delete_entity()`` (sent only to a proxy listing the extension)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from google.protobuf import any_pb2, empty_pb2, wrappers_pb2

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lifecycletest import notes_pb2

from cloudstate import Action
from cloudstate.action_servicer import ActionServicer
from cloudstate.any_support import AnySupport, pack_message
from cloudstate.durable import DURABLE_CALLS, LIFECYCLE, assume_proxy
from cloudstate.event_sourced.servicer import Instance
from cloudstate.protocol import action_pb2, entity_pb2
from tests.lifecycle import uf

OLD_NOTE = "type.googleapis.com/lifecycletest.v1.Note"


def test_migrate_checks_what_it_is_given() -> None:
    entity = uf.entity
    with pytest.raises(ValueError, match="type URL"):
        entity.migrate("NoteAdded", to=notes_pb2.NoteAdded)
    with pytest.raises(TypeError, match="message class"):
        entity.migrate(OLD_NOTE, to=dict)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="new name"):
        entity.migrate("type.googleapis.com/lifecycletest.NoteAdded", to=notes_pb2.NoteAdded)


async def test_an_action_receives_an_old_event_migrated() -> None:
    received: list[str] = []
    action = Action(uf.FILE.services_by_name["NotesLog"], [uf.FILE])

    @action.unary("OnAdded")
    def on_added(event: notes_pb2.NoteAdded) -> empty_pb2.Empty:
        received.append(event.text)
        return empty_pb2.Empty()

    action.migrate(
        OLD_NOTE,
        to=notes_pb2.NoteAdded,
        transform=lambda old: notes_pb2.NoteAdded(
            text=wrappers_pb2.StringValue.FromString(old).value.upper()
        ),
    )
    old = any_pb2.Any(
        type_url=OLD_NOTE, value=wrappers_pb2.StringValue(value="hello").SerializeToString()
    )
    servicer = ActionServicer([action])
    for payload in (old, pack_message(notes_pb2.NoteAdded(text="new"))):
        command = action_pb2.ActionCommand(
            service_name="lifecycletest.NotesLog", name="OnAdded", payload=payload
        )
        response = await servicer.handleUnary(command, None)  # type: ignore[arg-type]
        assert response.WhichOneof("response") == "reply", response
    assert received == ["HELLO", "new"]


async def test_delete_entity_is_sent_only_to_a_proxy_with_the_extension() -> None:
    instance = Instance(uf.entity, "nb", [], AnySupport([uf.FILE]))
    command = entity_pb2.Command(
        entity_id="nb", id=1, name="Delete", payload=pack_message(notes_pb2.NotebookId())
    )
    with assume_proxy((DURABLE_CALLS,)):
        refused = await instance.handle_command(command)
    assert not refused.delete_entity
    assert refused.client_action.failure.grpc_status_code == 12  # UNIMPLEMENTED
    assert LIFECYCLE in refused.client_action.failure.description
    with assume_proxy((LIFECYCLE,)):
        reply = await instance.handle_command(command)
    assert reply.delete_entity and not reply.HasField("snapshot")
