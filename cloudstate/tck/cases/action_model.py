"""Language support: the action model, driven directly through ``ActionProtocol``.

Counterparts of the original TCK's "verifying model test: action" (34 cases): discovery, 16
unary cases (reply / no reply / forward / failure, each without, with one, with one synchronous
and with several side effects), 9 streamed-in, 4 streamed-out and 4 duplex cases. Responses
carry no ``metadata`` unless the handler set some, and a failure keeps its side effects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cloudstate.protocol import action_pb2, entity_pb2
from cloudstate.tck.cases.discovery import check_entity
from cloudstate.tck.context import TckContext
from cloudstate.tck.framework import LANGUAGE_SUPPORT, case
from cloudstate.tck.messages import (
    ACTION_MODEL,
    ACTION_TWO,
    action_command,
    action_effect,
    action_effect_step,
    action_fail_step,
    action_forward_step,
    action_group,
    action_message,
    action_reply_step,
    action_request,
    action_response,
)
from cloudstate.tck.model import action_pb2 as act

GROUP = "action model"
ACTION = "cloudstate.action.ActionProtocol"


@case(
    LANGUAGE_SUPPORT,
    GROUP,
    "action entity discovery",
    requires=[ACTION_MODEL, ACTION_TWO],
    original="verify action entity discovery",
)
async def discovery(t: TckContext) -> None:
    """``ActionTckModel`` and ``ActionTwo`` are reported as actions."""
    check_entity(t, ACTION_MODEL, ACTION)
    check_entity(t, ACTION_TWO, ACTION)


# -- the outcomes and side effects the unary, streamed-out and duplex cases combine ---------------


@dataclass(frozen=True)
class Outcome:
    """One response: the steps that produce it and the response expected for them."""

    steps: tuple[act.ProcessStep, ...]
    effects: tuple[entity_pb2.SideEffect, ...]
    kind: str  # reply, no reply, forward, failure
    value: str

    def response(self) -> action_pb2.ActionResponse:
        return action_response(
            reply=self.value if self.kind == "reply" else None,
            forward_to=self.value if self.kind == "forward" else None,
            failure=self.value if self.kind == "failure" else None,
            side_effects=self.effects,
        )


def outcome(kind: str, value: str, effects: Sequence[tuple[str, bool]] = ()) -> Outcome:
    first: tuple[act.ProcessStep, ...] = ()
    if kind == "reply":
        first = (action_reply_step(value),)
    elif kind == "forward":
        first = (action_forward_step(value),)
    elif kind == "failure":
        first = (action_fail_step(value),)
    steps = first + tuple(action_effect_step(x, sync) for x, sync in effects)
    return Outcome(steps, tuple(action_effect(x, sync) for x, sync in effects), kind, value)


# (name suffix, side effects) and the value each of the four outcomes uses with them
EFFECT_VARIANTS: list[tuple[str, str, list[tuple[str, bool]]]] = [
    ("", "one", []),
    (" with side effect", "two", [("other", False)]),
    (" with synchronous side effect", "three", [("another", True)]),
    (" with multiple side effects", "four", [("a", False), ("b", False), ("c", False)]),
]
KINDS = [
    ("reply", "command reply"),
    ("no reply", "no reply"),
    ("forward", "forward"),
    ("failure", "failure"),
]


def _register_unary(
    kind: str, label: str, suffix: str, value: str, effects: list[tuple[str, bool]]
) -> None:
    name = f"unary {label}{suffix}"
    expected = outcome(kind, value if kind != "no reply" else "", effects)

    @case(
        LANGUAGE_SUPPORT,
        GROUP,
        name,
        requires=[ACTION_MODEL],
        original=f"verify {name}",
        description=(
            f"``handleUnary``: steps giving {kind}{suffix or ' and no side effect'} answer exactly "
            "that response (side effects in order, kept on failures; failures have command id 0)."
        ),
    )
    async def unary(t: TckContext) -> None:
        request = action_request(action_group(*expected.steps))
        response = await t.action_unary(action_command("ProcessUnary", request))
        t.check(
            response == expected.response(), f"handleUnary: {name}", expected.response(), response
        )


for _kind, _label in KINDS:
    for _suffix, _value, _effects in EFFECT_VARIANTS:
        _register_unary(_kind, _label, _suffix, _value, _effects)


# -- streamed in ----------------------------------------------------------------------------------

# The side effects spread over three messages in the "with side effects" cases.
SPREAD = [
    [action_effect_step("a")],
    [action_effect_step("b", True)],
    [action_effect_step("c"), action_effect_step("d")],
]
SPREAD_EFFECTS = [
    action_effect("a"),
    action_effect("b", True),
    action_effect("c"),
    action_effect("d"),
]


def _register_streamed_in(
    name: str, messages: list[list[act.ProcessStep]] | None, expected: action_pb2.ActionResponse
) -> None:
    full = f"streamed-in command {name}"

    @case(
        LANGUAGE_SUPPORT,
        GROUP,
        full,
        requires=[ACTION_MODEL],
        original=f"verify {full}",
        description=(
            "``handleStreamedIn``: the header (service and method, no payload), then one message "
            "per request, then the end of the stream; the groups of all messages fold into one "
            f"response ({name})."
        ),
    )
    async def streamed_in(t: TckContext) -> None:
        call = t.action_stream("handleStreamedIn")
        await call.send(action_command("ProcessStreamedIn"), "the header")
        for n, steps in enumerate(messages or [], start=1):
            await call.send(action_message(action_request(action_group(*steps))), f"message {n}")
        await call.done()
        response = await call.result()
        t.check(response == expected, f"handleStreamedIn: {name}", expected, response)


_register_streamed_in("reply", [[action_reply_step("one")]], action_response(reply="one"))
_register_streamed_in(
    "reply with side effects",
    [[action_reply_step("two"), *SPREAD[0]], SPREAD[1], SPREAD[2]],
    action_response(reply="two", side_effects=SPREAD_EFFECTS),
)
_register_streamed_in("no reply (no requests)", None, action_response())
_register_streamed_in("no reply", [[]], action_response())
_register_streamed_in(
    "no reply with side effects", SPREAD, action_response(side_effects=SPREAD_EFFECTS)
)
_register_streamed_in("forward", [[action_forward_step("one")]], action_response(forward_to="one"))
_register_streamed_in(
    "forward with side effects",
    [[action_forward_step("two"), *SPREAD[0]], SPREAD[1], SPREAD[2]],
    action_response(forward_to="two", side_effects=SPREAD_EFFECTS),
)
_register_streamed_in("failure", [[action_fail_step("one")]], action_response(failure="one"))
_register_streamed_in(
    "failure with side effects",
    [[action_fail_step("two"), *SPREAD[0]], SPREAD[1], SPREAD[2]],
    action_response(failure="two", side_effects=SPREAD_EFFECTS),
)


# -- streamed out and duplex ----------------------------------------------------------------------

NUMBERS = ["one", "two", "three", "four"]
STREAM_KINDS = [
    ("replies", "reply"),
    ("no replies", "no reply"),
    ("forwards", "forward"),
    ("failures", "failure"),
]


def four_outcomes(kind: str) -> list[Outcome]:
    """The four responses of a streamed case: each of the effect variants once."""
    return [
        outcome(kind, value if kind != "no reply" else "", effects)
        for (_, _, effects), value in zip(EFFECT_VARIANTS, NUMBERS, strict=True)
    ]


def _register_streamed_out(label: str, kind: str) -> None:
    name = f"streamed-out command {label} and side effects"

    @case(
        LANGUAGE_SUPPORT,
        GROUP,
        name,
        requires=[ACTION_MODEL],
        original=f"verify {name}",
        description=(
            "``handleStreamedOut``: one response per group, in order, then the end of the stream "
            f"({label}; after a failure the stream goes on)."
        ),
    )
    async def streamed_out(t: TckContext) -> None:
        outcomes = four_outcomes(kind)
        request = action_request(*(action_group(*o.steps) for o in outcomes))
        call = t.action_stream("handleStreamedOut", action_command("ProcessStreamedOut", request))
        for n, o in enumerate(outcomes, start=1):
            await call.expect(o.response(), f"response {n}")
        await call.expect_end()


def _register_duplex(label: str, kind: str) -> None:
    name = f"streamed command {label} and side effects"

    @case(
        LANGUAGE_SUPPORT,
        GROUP,
        name,
        requires=[ACTION_MODEL],
        original=f"verify {name}",
        description=(
            "``handleStreamed``: the header, then each request answered by one response per group "
            f"as it arrives (a request with two groups: two responses); {label}; the stream ends "
            "when the requests do."
        ),
    )
    async def duplex(t: TckContext) -> None:
        outcomes = four_outcomes(kind)
        extra = [
            outcome(kind, "five" if kind != "no reply" else ""),
            outcome(kind, "six" if kind != "no reply" else "", [("x", False)]),
        ]
        call = t.action_stream("handleStreamed")
        await call.send(action_command("ProcessStreamed"), "the header")
        for n, o in enumerate(outcomes, start=1):
            await call.send(action_message(action_request(action_group(*o.steps))), f"request {n}")
            await call.expect(o.response(), f"the response to request {n}")
        await call.send(
            action_message(action_request(*(action_group(*o.steps) for o in extra))),
            "request 5 (two groups)",
        )
        for n, o in enumerate(extra, start=1):
            await call.expect(o.response(), f"response {n} to request 5")
        await call.done()
        await call.expect_end()


for _label, _kind in STREAM_KINDS:
    _register_streamed_out(_label, _kind)
for _label, _kind in STREAM_KINDS:
    _register_duplex(_label, _kind)
