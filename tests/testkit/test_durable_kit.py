"""The test kits and durable calls: results show durable effects, timers started and timers
cancelled; the kit keeps the timers its successful commands left pending and fires them
(``kit.fire_timer``), into its own entity or another kit, as the proxy would deliver them.

The entity and action under test are the TCK's durable model (``cloudstate/tck/model/durable.py``):
their requests list steps (emit, ordinary / durable effect, start / cancel a timer, fail).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cloudstate import ActionContext, CrdtCommandContext, CrdtEntity, GCounter, ValueEntity
from cloudstate.action import Action
from cloudstate.tck.durable_messages import (
    cancel_timer,
    durable,
    effect,
    emit,
    fail,
    start_timer,
)
from cloudstate.tck.model import crdt_pb2, valueentity_pb2
from cloudstate.tck.model import durable as durable_model
from cloudstate.tck.model import durable_pb2 as dm
from cloudstate.testkit import (
    ActionTestKit,
    CrdtTestKit,
    EventSourcedTestKit,
    SideEffect,
    TimerStarted,
    ValueEntityTestKit,
)

TWO = "cloudstate.tck.model.durable.DurableTwo"
AT = datetime(2100, 1, 1, 0, 0, 0, 250_000, tzinfo=UTC)
AT_PROTO = dm.StartTimer(at={"seconds": int(AT.timestamp()), "nanos": 250_000_000}).at


def entity_kit(entity_id: str = "e1") -> EventSourcedTestKit:
    return EventSourcedTestKit(durable_model.model_entity(), entity_id)


def recording_two() -> tuple[Action, list[tuple[dm.Target, dict[str, str]]]]:
    """``DurableTwo`` that records every call's message and metadata."""
    calls: list[tuple[dm.Target, dict[str, str]]] = []
    two = Action(durable_model.TWO, [durable_model.FILE])

    @two.unary("Call")
    def call(target: dm.Target, ctx: ActionContext) -> dm.Response:
        calls.append((target, {key: str(value) for key, value in ctx.metadata.items()}))
        return dm.Response(message=f"called {target.id}")

    return two, calls


def test_results_show_durable_effects_timers_and_cancellations() -> None:
    kit = entity_kit()
    result = kit.process(
        id="e1",
        steps=[
            emit("a"),
            effect("plain", synchronous=True),
            durable("d", max_attempts=5),
            start_timer("in-a-minute", "t1", delay_millis=60_000, max_attempts=2),
            start_timer("at-new-year", "t2", at=AT_PROTO),
            cancel_timer("older"),
        ],
    )
    assert result.effects == [
        SideEffect(TWO, "Call", dm.Target(id="plain"), synchronous=True),
        SideEffect(TWO, "Call", dm.Target(id="d"), durable=True, max_attempts=5),
    ]
    assert result.timers == [
        TimerStarted(
            "in-a-minute",
            TWO,
            "Call",
            dm.Target(id="t1"),
            delay=timedelta(minutes=1),
            max_attempts=2,
        ),
        TimerStarted("at-new-year", TWO, "Call", dm.Target(id="t2"), at=AT),
    ]
    assert result.cancelled_timers == ["older"]
    assert list(kit.pending_timers) == ["in-a-minute", "at-new-year"]
    shown = str(result)
    assert "durable=True" in shown and "in-a-minute" in shown and "cancelled_timers" in shown


def test_pending_timers_follow_starts_restarts_cancels_and_failures() -> None:
    kit = entity_kit()
    kit.process(id="e1", steps=[start_timer("a", "x", delay_millis=1), start_timer("b", "x")])
    kit.process(id="e1", steps=[start_timer("a", "y", delay_millis=5)])  # restarted: replaced
    assert list(kit.pending_timers) == ["b", "a"]
    assert kit.pending_timers["a"].message == dm.Target(id="y")
    failed = kit.process(id="e1", steps=[cancel_timer("a"), start_timer("c", "x"), fail("no")])
    assert failed.failure is not None and failed.timers == [] and failed.cancelled_timers == []
    assert list(kit.pending_timers) == ["b", "a"]  # a failed command changes no timer
    kit.process(id="e1", steps=[start_timer("d", "x"), cancel_timer("d"), cancel_timer("b")])
    assert list(kit.pending_timers) == ["a"]


def test_fire_timer_delivers_to_another_kit_with_the_proxys_metadata() -> None:
    kit = entity_kit()
    two, calls = recording_two()
    target = ActionTestKit(two)
    kit.process(id="e1", steps=[start_timer("expire-e1", "x1", delay_millis=10)])
    fired = kit.fire_timer("expire-e1", on=target)
    assert fired.reply == dm.Response(message="called x1")
    ((message, metadata),) = calls
    assert message == dm.Target(id="x1")
    assert metadata["cloudstate-timer"] == "expire-e1"
    assert metadata["cloudstate-attempt"] == "1"
    assert metadata["idempotency-key"].startswith("timer:expire-e1#")
    assert kit.pending_timers == {}
    with pytest.raises(LookupError, match="no timer 'expire-e1' is pending"):
        kit.fire_timer("expire-e1", on=target)


def test_fire_timer_refuses_a_kit_that_does_not_serve_the_target() -> None:
    kit = entity_kit()
    kit.process(id="e1", steps=[start_timer("t", "x", delay_millis=10)])
    with pytest.raises(ValueError, match=r"calls cloudstate\.tck\.model\.durable\.DurableTwo"):
        kit.fire_timer("t")  # this kit drives DurableTckModel
    assert list(kit.pending_timers) == ["t"]  # still pending


def test_an_action_kit_keeps_timers_of_successful_responses_only() -> None:
    action = ActionTestKit(durable_model.model_action())
    result = action.process(id="a", steps=[durable("d"), start_timer("t", "x", delay_millis=1)])
    assert result.effects == [SideEffect(TWO, "Call", dm.Target(id="d"), durable=True)]
    assert [t.name for t in result.timers] == ["t"]
    failed = action.process(id="a", steps=[start_timer("u", "x", delay_millis=1), fail("no")])
    assert failed.failure is not None
    assert list(action.pending_timers) == ["t"]
    two, calls = recording_two()
    action.fire_timer("t", on=ActionTestKit(two))
    assert calls[0][0] == dm.Target(id="x")


def test_value_entity_and_crdt_kits_show_timers_too() -> None:
    value = ValueEntity(
        durable_model.FILE.services_by_name["DurableTckModel"],
        [durable_model.FILE, valueentity_pb2.DESCRIPTOR],
        lambda entity_id: "",
        persistence_id="durable-value",
    )

    @value.command_handler("Process")
    def process(request: dm.Request, ctx: Any) -> dm.Response:
        ctx.timers.start("v", durable_model.TWO_CALL, dm.Target(id="x"), delay=1.5)
        return dm.Response()

    result = ValueEntityTestKit(value, "v1").process(id="v1")
    assert result.timers[0].delay == timedelta(seconds=1.5)

    counter = CrdtEntity(
        durable_model.FILE.services_by_name["DurableTckModel"],
        [durable_model.FILE, crdt_pb2.DESCRIPTOR],
        lambda entity_id: GCounter(),
    )

    @counter.command_handler("Process")
    def count(request: dm.Request, ctx: CrdtCommandContext) -> dm.Response:
        ctx.state.increment(1)
        ctx.timers.cancel("c")
        ctx.effect(durable_model.TWO_CALL, dm.Target(id="y"), durable=True)
        return dm.Response()

    counted = CrdtTestKit(counter, "c1").process(id="c1")
    assert counted.cancelled_timers == ["c"]
    assert counted.effects == [SideEffect(TWO, "Call", dm.Target(id="y"), durable=True)]
