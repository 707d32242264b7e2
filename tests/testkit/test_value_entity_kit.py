"""The value-entity test kit against the SDK's value-entity test model."""

from __future__ import annotations

import grpc
import pytest

from cloudstate.testkit import Forwarded, SideEffect, ValueEntityTestKit, kit_for
from tests.sdk.valueentity_model import Persisted, Request, RequestAction, Response, model, probe


def update(value: str) -> RequestAction:
    return RequestAction(update={"value": value})


def test_update_reply_and_state() -> None:
    kit = ValueEntityTestKit(model, "v1")
    assert kit.state == Persisted()  # init_state: nothing stored yet
    assert kit.stored is None
    result = kit.process(id="v1", actions=[update("one")])
    assert result.updated and not result.deleted
    assert result.new_state == Persisted(value="one")
    assert result.reply == Response(message="one")
    assert kit.state == kit.stored == Persisted(value="one")


def test_delete_then_init_state_again() -> None:
    kit = ValueEntityTestKit(model, "v1", state=Persisted(value="seeded"))
    assert kit.state == Persisted(value="seeded")
    result = kit.process(id="v1", actions=[RequestAction(delete={})])
    assert result.deleted and result.new_state is None
    assert kit.stored is None and kit.state == Persisted()


def test_a_failed_command_stores_nothing() -> None:
    kit = ValueEntityTestKit(model, "v1", state=Persisted(value="kept"))
    result = kit.process(
        id="v1", actions=[update("lost"), RequestAction(fail={"message": "no", "code": 9})]
    )
    assert result.failure is not None
    assert result.failure.code == grpc.StatusCode.FAILED_PRECONDITION
    assert not result.updated
    assert kit.state == Persisted(value="kept")


def test_forward_and_effect() -> None:
    kit = kit_for(model, "v1")
    assert isinstance(kit, ValueEntityTestKit)
    result = kit.process(
        id="v1",
        actions=[RequestAction(effect={"id": "e"}), RequestAction(forward={"id": "f"})],
    )
    assert result.forward == Forwarded("sdktest.ve.Two", "Call", Request(id="f"))
    assert result.effects == [SideEffect("sdktest.ve.Two", "Call", Request(id="e"))]


def test_mutating_without_update_changes_nothing() -> None:
    kit = ValueEntityTestKit(probe, "p")
    assert kit.mutate(id="p").reply == Response(message="x")
    assert kit.mutate(id="p").reply == Response(message="x")
    assert kit.stored is None


def test_json_state_async_handler_context_and_exceptions() -> None:
    kit = ValueEntityTestKit(probe, "p")
    kit.json_state(id="p")
    assert kit.json_state(id="p").new_state == {"count": 2}
    assert ValueEntityTestKit(probe).async_update().new_state == Persisted(value="a")
    assert kit.context(id="p", metadata={"x-test": "yes"}).reply.message.startswith("p|Context|")
    with pytest.raises(RuntimeError, match="probe exploded"):
        kit.raise_(id="p")
    with pytest.raises(TypeError, match="delete_state"):
        kit.update_none(id="p")
