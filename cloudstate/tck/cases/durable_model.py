"""Language support: durable side effects and timers (the protocol extension
``cloudstate.durable-calls/1``, docs/protocol-durable-calls.md), driven directly through
``EventSourced.handle`` and ``ActionProtocol.handleUnary`` on the durable model
(``cloudstate/tck/model/durable.proto``).

New: the original TCK had no such extension. Each case first calls ``discover`` itself with a
``ProxyInfo`` that lists the extension (or, for the "without the extension" cases, one that does
not), and calls it again at the end with the ``ProxyInfo`` the run had before, so that the cases
can run in any order and next to a proxy run.

``SideEffect.durable`` is compared exactly, presence included: a durable effect with the proxy's
default attempts is ``durable {}``, present but empty. A cancellation is compared on its
``durable`` field only (the spec lets its call fields be empty or not).
"""

from __future__ import annotations

from collections.abc import Callable

from google.protobuf import duration_pb2
from google.protobuf.message import Message

from cloudstate.protocol import durable_pb2, entity_pb2, entity_pb2_grpc, event_sourced_pb2
from cloudstate.tck.cases.discovery import check_entity
from cloudstate.tck.context import TckContext
from cloudstate.tck.durable_messages import (
    ACTION,
    ACTION_TYPE,
    AT,
    DURABLE_CALLS,
    EVENT_SOURCED,
    MODEL,
    TWO,
    action_reply,
    calls_of_cancellations_ignored,
    cancel_timer,
    cancellation,
    durable,
    durable_to_two,
    effect,
    emit,
    fail,
    ordinary_to_two,
    request,
    start_timer,
)
from cloudstate.tck.framework import LANGUAGE_SUPPORT, CaseFunction, case
from cloudstate.tck.messages import action_command, any_message, es_failure, es_reply
from cloudstate.tck.model import durable_pb2 as dm
from cloudstate.tck.relay import WORKFLOWS_EXTENSION, WORKFLOWS_TYPE
from cloudstate.tck.session import tck_proxy_info

GROUP = "durable calls model"


# -- discovery with and without the extension -----------------------------------------------------


async def discover_listing(t: TckContext, extensions: list[str]) -> None:
    """Call ``discover`` with a ``ProxyInfo`` listing ``extensions`` (and
    ``cloudstate.workflows/1`` when the user function serves workflows); at the end of the case,
    call it again as the run had (the proxy's ``ProxyInfo`` in a proxy run, else the TCK's)."""
    stub = entity_pb2_grpc.EntityDiscoveryStub(t.user_function)
    # A user function serving workflows refuses a proxy without their extension, which is not
    # what these cases are about: list it too for such a user function.
    if any(e.entity_type == WORKFLOWS_TYPE for e in t.spec.entities):
        extensions = [*extensions, WORKFLOWS_EXTENSION]
    await t.within(stub.discover(tck_proxy_info(extensions)), "discover")
    before = t.session.proxy_info or tck_proxy_info()

    async def restore() -> None:
        await stub.discover(before, timeout=t.timeout)

    t.on_cleanup(restore)


def ds_case(
    name: str, *services: str, description: str | None = None
) -> Callable[[CaseFunction], CaseFunction]:
    """A case of this group; ``services`` default to the model entity and its target."""
    return case(
        LANGUAGE_SUPPORT,
        GROUP,
        name,
        requires=services or (MODEL, TWO),
        original=None,
        description=description,
    )


@ds_case("durable calls model discovery", MODEL, ACTION, TWO)
async def discovery(t: TckContext) -> None:
    """``DurableTckModel`` is reported as an event-sourced entity with persistence id
    ``durable-tck-model``; ``DurableTckAction`` and ``DurableTwo`` as actions."""
    check_entity(t, MODEL, EVENT_SOURCED, "durable-tck-model")
    check_entity(t, ACTION, ACTION_TYPE)
    check_entity(t, TWO, ACTION_TYPE)


async def expect_es(t: TckContext, entity_id: str, steps: list[dm.Step], expected: Message) -> None:
    stream = await t.event_sourced(MODEL, entity_id).start()
    await stream.command(request(entity_id, *steps))
    await stream.expect(expected, normalize=calls_of_cancellations_ignored)


@ds_case("durable side effect")
async def durable_side_effect(t: TckContext) -> None:
    """``durable_effect`` gives a side effect calling ``DurableTwo.Call`` whose ``durable`` is
    present and empty (no timer, no cancel, the proxy's default attempts), next to the events."""
    await discover_listing(t, [DURABLE_CALLS])
    eid = t.entity_id("durable")
    payload = any_message(dm.Response(message="A"))
    await expect_es(
        t,
        eid,
        [emit("A"), durable("d1")],
        es_reply(
            1,
            payload,
            events=[any_message(dm.Persisted(value="A"))],
            side_effects=[durable_to_two("d1", durable_pb2.DurableCall())],
        ),
    )


@ds_case("durable side effect with max attempts")
async def durable_side_effect_max_attempts(t: TckContext) -> None:
    """A durable effect's own attempt limit travels in ``durable.max_attempts``."""
    await discover_listing(t, [DURABLE_CALLS])
    eid = t.entity_id("durable")
    await expect_es(
        t,
        eid,
        [durable("d1", max_attempts=7)],
        es_reply(
            1,
            any_message(dm.Response()),
            side_effects=[durable_to_two("d1", durable_pb2.DurableCall(max_attempts=7))],
        ),
    )


@ds_case("timer started with a delay")
async def timer_with_delay(t: TckContext) -> None:
    """A timer started with a delay of 1.5 s (and 3 attempts) is ``durable {timer_name, delay
    {seconds: 1, nanos: 500000000}, max_attempts: 3}`` on a side effect calling its target; no
    ``at``."""
    await discover_listing(t, [DURABLE_CALLS])
    eid = t.entity_id("durable")
    name = f"expire-{eid}"
    call = durable_pb2.DurableCall(
        timer_name=name,
        delay=duration_pb2.Duration(seconds=1, nanos=500_000_000),
        max_attempts=3,
    )
    await expect_es(
        t,
        eid,
        [start_timer(name, "t1", delay_millis=1500, max_attempts=3)],
        es_reply(1, any_message(dm.Response()), side_effects=[durable_to_two("t1", call)]),
    )


@ds_case("timer started at a time")
async def timer_at_a_time(t: TckContext) -> None:
    """A timer started at 2100-01-01T00:00:00.25Z is ``durable {timer_name, at {seconds:
    4102444800, nanos: 250000000}}``; no ``delay``."""
    await discover_listing(t, [DURABLE_CALLS])
    eid = t.entity_id("durable")
    name = f"remind-{eid}"
    call = durable_pb2.DurableCall(timer_name=name, at=AT)
    await expect_es(
        t,
        eid,
        [start_timer(name, "t2", at=AT)],
        es_reply(1, any_message(dm.Response()), side_effects=[durable_to_two("t2", call)]),
    )


@ds_case("timer with a zero delay")
async def timer_zero_delay(t: TckContext) -> None:
    """A zero delay is a timer all the same (due at once): ``durable {timer_name}``, its
    ``delay`` zero (absent or an empty ``Duration``)."""
    await discover_listing(t, [DURABLE_CALLS])
    eid = t.entity_id("durable")
    name = f"now-{eid}"
    stream = await t.event_sourced(MODEL, eid).start()
    await stream.command(request(eid, start_timer(name, "t3", delay_millis=0)))
    answer = await stream.receive()
    effects = (
        list(answer.reply.side_effects)
        if isinstance(answer, event_sourced_pb2.EventSourcedStreamOut)
        else []
    )
    got = effects[0].durable if effects and effects[0].HasField("durable") else None
    t.check(
        got is not None
        and got.timer_name == name
        and not got.HasField("at")
        and got.delay == duration_pb2.Duration()
        and not got.cancel,
        "a timer started with a zero delay",
        durable_to_two("t3", durable_pb2.DurableCall(timer_name=name)),
        answer,
    )


@ds_case("timer cancelled")
async def timer_cancelled(t: TckContext) -> None:
    """Cancelling a timer is a side effect whose ``durable`` is exactly ``{timer_name, cancel:
    true}``."""
    await discover_listing(t, [DURABLE_CALLS])
    eid = t.entity_id("durable")
    name = f"expire-{eid}"
    await expect_es(
        t,
        eid,
        [cancel_timer(name)],
        es_reply(1, any_message(dm.Response()), side_effects=[cancellation(name)]),
    )


@ds_case("ordinary and durable side effects keep their order and flags")
async def mixed_order(t: TckContext) -> None:
    """Ordinary effects (synchronous or not), durable effects, timer starts and cancellations
    share ``side_effects``, in the order the handler asked for them, each with its own flags."""
    await discover_listing(t, [DURABLE_CALLS])
    eid = t.entity_id("durable")
    name = f"expire-{eid}"
    await expect_es(
        t,
        eid,
        [
            effect("a", synchronous=True),
            durable("b"),
            start_timer(name, "c", delay_millis=60_000),
            effect("d"),
            cancel_timer(name),
            durable("e", max_attempts=2),
        ],
        es_reply(
            1,
            any_message(dm.Response()),
            side_effects=[
                ordinary_to_two("a", synchronous=True),
                durable_to_two("b", durable_pb2.DurableCall()),
                durable_to_two(
                    "c",
                    durable_pb2.DurableCall(
                        timer_name=name, delay=duration_pb2.Duration(seconds=60)
                    ),
                ),
                ordinary_to_two("d"),
                cancellation(name),
                durable_to_two("e", durable_pb2.DurableCall(max_attempts=2)),
            ],
        ),
    )


@ds_case("a failure drops durable effects and timers")
async def failure_drops(t: TckContext) -> None:
    """A command that fails after asking for durable effects, timers and cancellations sends
    none of them: the reply is the failure alone."""
    await discover_listing(t, [DURABLE_CALLS])
    eid = t.entity_id("durable")
    name = f"expire-{eid}"
    await expect_es(
        t,
        eid,
        [
            durable("a"),
            start_timer(name, "b", delay_millis=1000),
            cancel_timer(f"other-{eid}"),
            fail("refused"),
        ],
        es_failure(1, "refused"),
    )


@ds_case("action durable effects and timers", ACTION, TWO)
async def action_durable(t: TckContext) -> None:
    """An action's response carries durable effects, timers (delay and time) and cancellations in
    ``side_effects`` exactly as an entity's reply does."""
    await discover_listing(t, [DURABLE_CALLS])
    eid = t.entity_id("durable")
    name = f"expire-{eid}"
    command = action_command(
        "Process",
        request(
            eid,
            durable("a", max_attempts=4),
            start_timer(name, "b", delay_millis=250),
            start_timer(f"at-{eid}", "c", at=AT),
            cancel_timer(name),
            effect("d"),
        ),
        service=ACTION,
    )
    answer = await t.action_unary(command)
    expected = action_reply(
        durable_to_two("a", durable_pb2.DurableCall(max_attempts=4)),
        durable_to_two(
            "b",
            durable_pb2.DurableCall(
                timer_name=name, delay=duration_pb2.Duration(nanos=250_000_000)
            ),
        ),
        durable_to_two("c", durable_pb2.DurableCall(timer_name=f"at-{eid}", at=AT)),
        cancellation(name),
        ordinary_to_two("d"),
    )
    expected_n = calls_of_cancellations_ignored(expected)
    actual_n = calls_of_cancellations_ignored(answer)
    t.check(actual_n == expected_n, "handleUnary: durable effects and timers", expected_n, actual_n)


# -- without the extension ------------------------------------------------------------------------


def refusal_problem(
    failure: entity_pb2.Failure | None, effects: list[entity_pb2.SideEffect]
) -> str:
    """What is wrong with the answer to a durable request made without the extension ('' if
    nothing): it must be a failure naming the extension, with no durable side effect."""
    if failure is None:
        return "the command did not fail"
    if DURABLE_CALLS not in failure.description:
        return f"the failure's description does not name the missing extension {DURABLE_CALLS}"
    if any(e.HasField("durable") for e in effects):
        return "a side effect with `durable` (field 100) was sent anyway"
    return ""


@ds_case(
    "without the extension an entity's durable request fails the command",
    description=(
        "After a ``discover`` whose ``ProxyInfo`` does not list ``cloudstate.durable-calls/1`` "
        "(it lists another extension), a command asking for a durable effect, a timer or a "
        "timer cancellation fails, with a description naming the extension, and sends no "
        "``SideEffect.durable``: a proxy without the extension would perform it at once. A "
        "command asking for none still succeeds."
    ),
)
async def entity_without_extension(t: TckContext) -> None:
    await discover_listing(t, ["example.com/another-extension/1"])
    eid = t.entity_id("durable")
    stream = await t.event_sourced(MODEL, eid).start()
    attempts = [
        ("a durable effect", durable("a")),
        ("a timer", start_timer(f"expire-{eid}", "b", delay_millis=1000)),
        ("a timer cancellation", cancel_timer(f"expire-{eid}")),
    ]
    for command_id, (what, step) in enumerate(attempts, start=1):
        await stream.command(request(eid, step))
        answer = await stream.receive()
        reply = (
            answer.reply
            if isinstance(answer, event_sourced_pb2.EventSourcedStreamOut)
            and answer.HasField("reply")
            else None
        )
        failure = (
            reply.client_action.failure
            if reply is not None and reply.client_action.HasField("failure")
            else None
        )
        problem = refusal_problem(failure, list(reply.side_effects) if reply else [])
        if failure is not None and failure.command_id != command_id:
            problem = f"the failure names command {failure.command_id}, not {command_id}"
        t.check(
            not problem and reply is not None and not reply.events,
            f"{what} without the extension: {problem or 'events were emitted'}",
            f"a failure of command {command_id} naming {DURABLE_CALLS}, no durable side effect",
            answer,
        )
    await stream.command(request(eid, emit("X"), effect("plain")))
    await stream.expect(
        es_reply(
            len(attempts) + 1,
            any_message(dm.Response(message="X")),
            events=[any_message(dm.Persisted(value="X"))],
            side_effects=[ordinary_to_two("plain")],
        ),
        "a command without durable requests after the refusals",
    )


@ds_case(
    "without the extension an action's durable request fails the call",
    ACTION,
    TWO,
    description=(
        "After a ``discover`` whose ``ProxyInfo`` lists no extension (but "
        "``cloudstate.workflows/1`` for a user function serving workflows), an action asking for a "
        "timer fails, with a description naming ``cloudstate.durable-calls/1``, and its response "
        "carries no ``SideEffect.durable``."
    ),
)
async def action_without_extension(t: TckContext) -> None:
    await discover_listing(t, [])
    eid = t.entity_id("durable")
    command = action_command(
        "Process",
        request(eid, effect("plain"), start_timer(f"expire-{eid}", "b", delay_millis=1000)),
        service=ACTION,
    )
    answer = await t.action_unary(command)
    failure = answer.failure if answer.HasField("failure") else None
    problem = refusal_problem(failure, list(answer.side_effects))
    t.check(
        not problem,
        f"a timer without the extension: {problem}",
        f"a failure naming {DURABLE_CALLS}, no durable side effect",
        answer,
    )
