"""The CRDT test kit against the CRDT SDK's test model: deltas, deletes, streamed commands with
their later messages, replicated changes, cancellation, failures and bugs."""

from __future__ import annotations

import grpc
import pytest

from cloudstate.crdt import GCounter, WriteConsistency
from cloudstate.protocol import crdt_pb2
from cloudstate.testkit import CrdtTestKit, Forwarded, StreamedMessage, kit_for
from tests.crdt_sdk.model import Request, Response, State, StreamedRequest, model, probe


def increment(n: int, **extra: object) -> dict[str, object]:
    return {"update": {"gcounter": {"increment": n}, **extra}}


def counter_state(n: int) -> State:
    return State(gcounter={"value": n})


def test_updates_give_deltas_and_change_the_state() -> None:
    kit = CrdtTestKit(model, "GCounter-1")
    assert isinstance(kit.state, GCounter) and kit.state.value == 0
    result = kit.process(id="GCounter-1", actions=[increment(2), increment(3)])
    assert result.reply == Response(state=counter_state(5))
    assert result.delta == crdt_pb2.CrdtDelta(gcounter={"increment": 5})
    assert result.write_consistency == WriteConsistency.LOCAL
    assert kit.state.value == 5
    unchanged = kit.process(id="GCounter-1")
    assert unchanged.delta is None and unchanged.write_consistency is None


def test_failures_roll_back_and_delete_clears() -> None:
    kit = kit_for(model, "GCounter-1")
    assert isinstance(kit, CrdtTestKit)
    kit.process(id="GCounter-1", actions=[increment(1)])
    failed = kit.process(id="GCounter-1", actions=[increment(5), {"fail": {"message": "no"}}])
    assert failed.failure is not None and failed.failure.description == "no"
    assert failed.delta is None and kit.state.value == 1
    forwarded = kit.process(id="GCounter-1", actions=[{"forward": {"id": "x"}}])
    assert forwarded.forward == Forwarded("crdtsdk.CrdtTwo", "Call", Request(id="x"))
    deleted = kit.process(id="GCounter-1", actions=[{"delete": {}}])
    assert deleted.deleted and kit.state is None


def test_streamed_commands_replicated_changes_and_cancellation() -> None:
    kit = CrdtTestKit(model, "GCounter-1")
    watch = kit.process_streamed(
        id="GCounter-1",
        end_state=counter_state(10),
        cancel_update={"gcounter": {"increment": 100}},
    )
    assert watch.streamed and watch.reply == Response(state=counter_state(0))
    changed = kit.process(id="GCounter-1", actions=[increment(4)])
    assert changed.messages == [
        StreamedMessage(watch.command_id, reply=Response(state=counter_state(4)))
    ]
    from_elsewhere = kit.replicate(crdt_pb2.CrdtDelta(gcounter={"increment": 6}))
    assert from_elsewhere == [
        StreamedMessage(watch.command_id, reply=Response(state=counter_state(10)), end_stream=True)
    ]
    again = kit.process_streamed(id="GCounter-1", cancel_update={"gcounter": {"increment": 1}})
    cancelled = kit.cancel(again.command_id)
    assert cancelled.delta == crdt_pb2.CrdtDelta(gcounter={"increment": 1})
    assert kit.state.value == 11


def test_seeding_with_a_replicated_value_and_restarting_after_a_bug() -> None:
    kit = CrdtTestKit(probe, "p", delta=crdt_pb2.CrdtDelta(gcounter={"increment": 7}))
    assert kit.state.value == 7
    with pytest.raises(ValueError, match="boom p") as raised:
        kit.raise_(id="p")
    assert "restarts it from the replicated value" in raised.value.__notes__[0]
    assert kit.state.value == 7


def test_unknown_command_handler() -> None:
    result = CrdtTestKit(probe, "p").missing(id="p")
    assert result.failure is not None and result.failure.code == grpc.StatusCode.UNIMPLEMENTED


def test_streamed_request_type_is_checked() -> None:
    kit = CrdtTestKit(model, "GCounter-1")
    with pytest.raises(TypeError, match=r"takes crdtsdk\.StreamedRequest, not crdtsdk\.Request"):
        kit.process_streamed(Request(id="GCounter-1"))
    assert kit.process_streamed(StreamedRequest(id="GCounter-1", empty=True)).reply is None
