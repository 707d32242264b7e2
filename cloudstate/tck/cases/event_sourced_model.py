"""Language support: the event-sourced model, driven directly through ``EventSourced.handle``.

Counterparts of the original TCK's "verifying model test: event-sourced entity" (21 cases), then
four it lacked. ``Process`` requests carry actions (emit / forward / effect / fail); the state is
the string of emitted values; a snapshot is expected whenever an event's sequence number is a
multiple of 5.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cloudstate.tck.cases.discovery import check_entity
from cloudstate.tck.context import TckContext
from cloudstate.tck.framework import LANGUAGE_SUPPORT, CaseFunction, case
from cloudstate.tck.messages import (
    ES_CONFIGURED,
    ES_MODEL,
    ES_TWO,
    es_effect,
    es_emit,
    es_fail,
    es_failure,
    es_forward,
    es_persisted,
    es_reply,
    es_request,
    es_response,
    forward,
    side_effect,
)
from cloudstate.tck.model import eventsourced_pb2 as es
from cloudstate.tck.protocol import END_OF_STREAM, compare

GROUP = "event sourced model"
EVENT_SOURCED = "cloudstate.eventsourced.EventSourced"


def emits(entity_id: str, *values: str) -> es.Request:
    return es_request(entity_id, *(es_emit(v) for v in values))


def to_two(entity_id: str) -> es.Request:
    return es.Request(id=entity_id)


def ls_case(name: str, *services: str) -> Callable[[CaseFunction], CaseFunction]:
    """A case of this group; ``services`` default to the main model service."""
    return case(
        LANGUAGE_SUPPORT, GROUP, name, requires=services or (ES_MODEL,), original=f"verify {name}"
    )


@ls_case("event sourced entity discovery", ES_MODEL, ES_TWO)
async def discovery(t: TckContext) -> None:
    """``EventSourcedTckModel`` (persistence id ``event-sourced-tck-model``) and
    ``EventSourcedTwo`` are reported as event-sourced entities."""
    check_entity(t, ES_MODEL, EVENT_SOURCED, "event-sourced-tck-model")
    check_entity(t, ES_TWO, EVENT_SOURCED)


@ls_case("event sourced configured entity", ES_CONFIGURED)
async def configured_entity(t: TckContext) -> None:
    """``EventSourcedConfigured``: persistence id ``event-sourced-configured`` and a passivation
    timeout of 100 ms."""
    check_entity(t, ES_CONFIGURED, EVENT_SOURCED, "event-sourced-configured", passivation_ms=100)


@ls_case("initial empty state")
async def initial_empty_state(t: TckContext) -> None:
    """A new entity replies with the empty state and ends its stream when the proxy does."""
    eid = t.entity_id()
    s = await t.event_sourced(ES_MODEL, eid).start()
    await s.command(es_request(eid))
    await s.expect(es_reply(1, es_response("")))
    await s.close()


@ls_case("single emitted event")
async def single_emitted_event(t: TckContext) -> None:
    """An emitted event is returned in the reply and applied to the state at once."""
    eid = t.entity_id()
    s = await t.event_sourced(ES_MODEL, eid).start()
    await s.command(emits(eid, "A"))
    await s.expect(es_reply(1, es_response("A"), events=[es_persisted("A")]))
    await s.command(es_request(eid))
    await s.expect(es_reply(2, es_response("A")))
    await s.close()


@ls_case("multiple emitted events")
async def multiple_emitted_events(t: TckContext) -> None:
    """Several events of one command come back in emission order."""
    eid = t.entity_id()
    s = await t.event_sourced(ES_MODEL, eid).start()
    await s.command(emits(eid, "A", "B", "C"))
    events = [es_persisted(v) for v in "ABC"]
    await s.expect(es_reply(1, es_response("ABC"), events=events))
    await s.command(es_request(eid))
    await s.expect(es_reply(2, es_response("ABC")))
    await s.close()


@ls_case("multiple emitted events and snapshots")
async def multiple_emitted_events_and_snapshots(t: TckContext) -> None:
    """A snapshot (the state after all of the command's events) accompanies every reply whose
    events cross a multiple of 5 (snapshot every 5 events), and only those."""
    eid = t.entity_id()
    s = await t.event_sourced(ES_MODEL, eid).start()
    for n, value in enumerate("ABCD", start=1):
        await s.command(emits(eid, value))
        await s.expect(es_reply(n, es_response("ABCD"[:n]), events=[es_persisted(value)]))
    await s.command(emits(eid, "E"))
    await s.expect(
        es_reply(
            5, es_response("ABCDE"), events=[es_persisted("E")], snapshot=es_persisted("ABCDE")
        )
    )
    await s.command(emits(eid, "F", "G", "H"))
    await s.expect(es_reply(6, es_response("ABCDEFGH"), events=[es_persisted(v) for v in "FGH"]))
    await s.command(emits(eid, "I", "J"))
    await s.expect(
        es_reply(
            7,
            es_response("ABCDEFGHIJ"),
            events=[es_persisted("I"), es_persisted("J")],
            snapshot=es_persisted("ABCDEFGHIJ"),
        )
    )
    await s.command(emits(eid, "K"))
    await s.expect(es_reply(8, es_response("ABCDEFGHIJK"), events=[es_persisted("K")]))
    await s.command(es_request(eid))
    await s.expect(es_reply(9, es_response("ABCDEFGHIJK")))
    await s.close()


@ls_case("initial snapshot")
async def initial_snapshot(t: TckContext) -> None:
    """The state starts from the snapshot in ``init``."""
    eid = t.entity_id()
    s = await t.event_sourced(ES_MODEL, eid).start(snapshot=(5, es_persisted("ABCDE")))
    await s.command(es_request(eid))
    await s.expect(es_reply(1, es_response("ABCDE")))
    await s.close()


@ls_case("initial snapshot and events")
async def initial_snapshot_and_events(t: TckContext) -> None:
    """Events replayed after the snapshot are applied on top of it."""
    eid = t.entity_id()
    s = await t.event_sourced(ES_MODEL, eid).start(
        snapshot=(5, es_persisted("ABCDE")), events=[(6, es_persisted("F")), (7, es_persisted("G"))]
    )
    await s.command(es_request(eid))
    await s.expect(es_reply(1, es_response("ABCDEFG")))
    await s.close()


@ls_case("rehydration after passivation")
async def rehydration_after_passivation(t: TckContext) -> None:
    """After the stream is closed, a new stream with the snapshot and later events restores the
    state (command ids count from 1 again)."""
    eid = t.entity_id()
    s = await t.event_sourced(ES_MODEL, eid).start()
    await s.command(emits(eid, "A", "B", "C"))
    await s.expect(es_reply(1, es_response("ABC"), events=[es_persisted(v) for v in "ABC"]))
    await s.command(emits(eid, "D", "E"))
    await s.expect(
        es_reply(
            2,
            es_response("ABCDE"),
            events=[es_persisted("D"), es_persisted("E")],
            snapshot=es_persisted("ABCDE"),
        )
    )
    await s.command(emits(eid, "F"))
    await s.expect(es_reply(3, es_response("ABCDEF"), events=[es_persisted("F")]))
    await s.command(emits(eid, "G"))
    await s.expect(es_reply(4, es_response("ABCDEFG"), events=[es_persisted("G")]))
    await s.close()
    s2 = await t.event_sourced(ES_MODEL, eid).start(
        snapshot=(5, es_persisted("ABCDE")), events=[(6, es_persisted("F")), (7, es_persisted("G"))]
    )
    await s2.command(es_request(eid))
    await s2.expect(es_reply(1, es_response("ABCDEFG")))
    await s2.close()


@ls_case("forward to second service", ES_MODEL, ES_TWO)
async def forward_to_second_service(t: TckContext) -> None:
    """A forward replaces the reply; the state is unchanged."""
    eid = t.entity_id()
    s = await t.event_sourced(ES_MODEL, eid).start()
    await s.command(emits(eid, "A", "B", "C"))
    await s.expect(es_reply(1, es_response("ABC"), events=[es_persisted(v) for v in "ABC"]))
    await s.command(es_request(eid, es_forward(eid)))
    await s.expect(es_reply(2, forward_to=forward(ES_TWO, "Call", to_two(eid))))
    await s.command(es_request(eid))
    await s.expect(es_reply(3, es_response("ABC")))
    await s.close()


@ls_case("forward with emitted events", ES_MODEL, ES_TWO)
async def forward_with_emitted_events(t: TckContext) -> None:
    """Events emitted by a forwarding command are kept."""
    eid = t.entity_id()
    s = await t.event_sourced(ES_MODEL, eid).start()
    await s.command(es_request(eid, es_emit("A"), es_forward(eid)))
    await s.expect(
        es_reply(1, forward_to=forward(ES_TWO, "Call", to_two(eid)), events=[es_persisted("A")])
    )
    await s.close()


@ls_case("forward with emitted events and snapshot", ES_MODEL, ES_TWO)
async def forward_with_emitted_events_and_snapshot(t: TckContext) -> None:
    """A forwarding command that crosses the snapshot threshold carries the snapshot."""
    eid = t.entity_id()
    s = await t.event_sourced(ES_MODEL, eid).start()
    await s.command(emits(eid, "A", "B", "C"))
    await s.expect(es_reply(1, es_response("ABC"), events=[es_persisted(v) for v in "ABC"]))
    await s.command(es_request(eid, es_emit("D"), es_emit("E"), es_forward(eid)))
    await s.expect(
        es_reply(
            2,
            forward_to=forward(ES_TWO, "Call", to_two(eid)),
            events=[es_persisted("D"), es_persisted("E")],
            snapshot=es_persisted("ABCDE"),
        )
    )
    await s.close()


@ls_case("reply with side effect to second service", ES_MODEL, ES_TWO)
async def reply_with_side_effect(t: TckContext) -> None:
    """A side effect travels with the reply (asynchronous unless asked otherwise)."""
    eid = t.entity_id()
    s = await t.event_sourced(ES_MODEL, eid).start()
    await s.command(emits(eid, "A", "B", "C"))
    await s.expect(es_reply(1, es_response("ABC"), events=[es_persisted(v) for v in "ABC"]))
    await s.command(es_request(eid, es_effect(eid)))
    await s.expect(
        es_reply(2, es_response("ABC"), side_effects=[side_effect(ES_TWO, "Call", to_two(eid))])
    )
    await s.command(es_request(eid))
    await s.expect(es_reply(3, es_response("ABC")))
    await s.close()


@ls_case("synchronous side effect to second service", ES_MODEL, ES_TWO)
async def synchronous_side_effect(t: TckContext) -> None:
    """A synchronous side effect is flagged ``synchronous``."""
    eid = t.entity_id()
    s = await t.event_sourced(ES_MODEL, eid).start()
    await s.command(es_request(eid, es_effect(eid, synchronous=True)))
    await s.expect(
        es_reply(1, es_response(""), side_effects=[side_effect(ES_TWO, "Call", to_two(eid), True)])
    )
    await s.close()


@ls_case("forward and side effect to second service", ES_MODEL, ES_TWO)
async def forward_and_side_effect(t: TckContext) -> None:
    """A forwarding command keeps its side effects."""
    eid = t.entity_id()
    s = await t.event_sourced(ES_MODEL, eid).start()
    await s.command(es_request(eid, es_effect(eid), es_forward(eid)))
    await s.expect(
        es_reply(
            1,
            forward_to=forward(ES_TWO, "Call", to_two(eid)),
            side_effects=[side_effect(ES_TWO, "Call", to_two(eid))],
        )
    )
    await s.close()


@ls_case("reply with multiple side effects", ES_MODEL, ES_TWO)
async def reply_with_multiple_side_effects(t: TckContext) -> None:
    """Side effects come back in the order they were added."""
    eid = t.entity_id()
    s = await t.event_sourced(ES_MODEL, eid).start()
    await s.command(es_request(eid, *(es_effect(x) for x in ("1", "2", "3"))))
    effects = [side_effect(ES_TWO, "Call", to_two(x)) for x in ("1", "2", "3")]
    await s.expect(es_reply(1, es_response(""), side_effects=effects))
    await s.close()


@ls_case("reply with multiple side effects, events, and snapshot", ES_MODEL, ES_TWO)
async def reply_with_side_effects_events_and_snapshot(t: TckContext) -> None:
    """Events, snapshot and side effects all travel in one reply."""
    eid = t.entity_id()
    s = await t.event_sourced(ES_MODEL, eid).start()
    actions = [es_emit(v) for v in "ABCDE"] + [es_effect(x) for x in ("1", "2", "3")]
    await s.command(es_request(eid, *actions))
    await s.expect(
        es_reply(
            1,
            es_response("ABCDE"),
            events=[es_persisted(v) for v in "ABCDE"],
            snapshot=es_persisted("ABCDE"),
            side_effects=[side_effect(ES_TWO, "Call", to_two(x)) for x in ("1", "2", "3")],
        )
    )
    await s.close()


@ls_case("failure action")
async def failure_action(t: TckContext) -> None:
    """A failed command's reply carries only the failure, with the command id."""
    eid = t.entity_id()
    s = await t.event_sourced(ES_MODEL, eid).start()
    await s.command(es_request(eid, es_fail("expected failure")))
    await s.expect(es_failure(1, "expected failure"))
    await s.close()


@ls_case("connection after failure action")
async def connection_after_failure_action(t: TckContext) -> None:
    """The stream stays usable after a failed command, with the state unchanged."""
    eid = t.entity_id()
    s = await t.event_sourced(ES_MODEL, eid).start()
    await s.command(emits(eid, "A"))
    await s.expect(es_reply(1, es_response("A"), events=[es_persisted("A")]))
    await s.command(es_request(eid, es_fail("expected failure")))
    await s.expect(es_failure(2, "expected failure"))
    await s.command(es_request(eid))
    await s.expect(es_reply(3, es_response("A")))
    await s.close()


@ls_case("failure actions do not retain emitted events (may request entity restart)")
async def failure_does_not_retain_events(t: TckContext) -> None:
    """Events emitted before a failure are never returned. The user function either discards
    them in-process (``restart`` false: the stream goes on, and the failed command does not
    advance the sequence) or asks for a restart (``restart`` true: the TCK replays the persisted
    events into a new stream, as a proxy would)."""
    eid = t.entity_id()
    s = await t.event_sourced(ES_MODEL, eid).start()
    await s.command(emits(eid, "A", "B", "C"))
    await s.expect(es_reply(1, es_response("ABC"), events=[es_persisted(v) for v in "ABC"]))
    await s.command(es_request(eid, es_emit("4"), es_emit("5"), es_fail("failure 1")))
    reply: Any = await s.receive()
    restart = bool(
        reply is not None and reply.HasField("reply") and reply.reply.client_action.failure.restart
    )
    compare(
        "the reply to a failing command (restart may be true or false)",
        es_failure(2, "failure 1", restart),
        END_OF_STREAM if reply is None else reply,
    )
    replayed = [(n, es_persisted(v)) for n, v in enumerate("ABC", start=1)]
    if restart:
        await s.close()
        s = await t.event_sourced(ES_MODEL, eid).start(events=replayed)
        await s.command(emits(eid, "D"))
        await s.expect(es_reply(1, es_response("ABCD"), events=[es_persisted("D")]))
        await s.command(es_request(eid, es_emit("6"), es_fail("failure 2"), es_emit("7")))
        await s.expect(es_failure(2, "failure 2", restart=True))
        await s.close()
        s = await t.event_sourced(ES_MODEL, eid).start(events=[*replayed, (4, es_persisted("D"))])
        first = 1
    else:
        await s.command(emits(eid, "D"))
        await s.expect(es_reply(3, es_response("ABCD"), events=[es_persisted("D")]))
        await s.command(es_request(eid, es_emit("6"), es_fail("failure 2"), es_emit("7")))
        await s.expect(es_failure(4, "failure 2"))
        first = 5
    await s.command(emits(eid, "E"))
    await s.expect(
        es_reply(
            first, es_response("ABCDE"), events=[es_persisted("E")], snapshot=es_persisted("ABCDE")
        ),
        "the fifth persisted event must trigger the snapshot (failed commands do not count)",
    )
    await s.close()


@ls_case("failure actions do not allow side effects", ES_MODEL, ES_TWO)
async def failure_does_not_allow_side_effects(t: TckContext) -> None:
    """Side effects added before a failure are dropped."""
    eid = t.entity_id()
    s = await t.event_sourced(ES_MODEL, eid).start()
    await s.command(es_request(eid, es_effect(eid), es_fail("expected failure")))
    await s.expect(es_failure(1, "expected failure"))
    await s.close()


# -- beyond the original ---------------------------------------------------------------------------


def new_case(name: str, *services: str) -> Callable[[CaseFunction], CaseFunction]:
    """A case of this group that the original TCK lacked."""
    return case(LANGUAGE_SUPPORT, GROUP, name, requires=services or (ES_MODEL,))


@new_case("replayed snapshot and events set the sequence")
async def replayed_snapshot_and_events_set_the_sequence(t: TckContext) -> None:
    """After an ``init`` snapshot and replayed events, new events continue from the last
    replayed sequence number: the snapshot cadence counts them (snapshot at 5, events 6 and 7,
    three new events reach 10 and bring a snapshot)."""
    eid = t.entity_id()
    s = await t.event_sourced(ES_MODEL, eid).start(
        snapshot=(5, es_persisted("ABCDE")), events=[(6, es_persisted("F")), (7, es_persisted("G"))]
    )
    await s.command(es_request(eid))
    await s.expect(es_reply(1, es_response("ABCDEFG")))
    await s.command(emits(eid, "H", "I", "J"))
    await s.expect(
        es_reply(
            2,
            es_response("ABCDEFGHIJ"),
            events=[es_persisted(v) for v in "HIJ"],
            snapshot=es_persisted("ABCDEFGHIJ"),
        ),
        "events 8 to 10: the tenth brings a snapshot",
    )
    await s.close()


@new_case("reply with synchronous and asynchronous side effects", ES_MODEL, ES_TWO)
async def reply_with_mixed_side_effects(t: TckContext) -> None:
    """Each side effect keeps its own ``synchronous`` flag, in the order they were added."""
    eid = t.entity_id()
    s = await t.event_sourced(ES_MODEL, eid).start()
    flags = (("1", False), ("2", True), ("3", False))
    await s.command(es_request(eid, *(es_effect(x, synchronous=sync) for x, sync in flags)))
    effects = [side_effect(ES_TWO, "Call", to_two(x), sync) for x, sync in flags]
    await s.expect(es_reply(1, es_response(""), side_effects=effects))
    await s.close()


@new_case("failure actions do not allow forwards", ES_MODEL, ES_TWO)
async def failure_does_not_allow_forwards(t: TckContext) -> None:
    """A forward (and side effects) requested before a failure are dropped: the reply carries
    only the failure."""
    eid = t.entity_id()
    s = await t.event_sourced(ES_MODEL, eid).start()
    await s.command(es_request(eid, es_effect("x"), es_forward("y"), es_fail("expected failure")))
    await s.expect(es_failure(1, "expected failure"))
    await s.command(es_request(eid))
    await s.expect(es_reply(2, es_response("")))
    await s.close()


@new_case("second service handles its commands", ES_TWO)
async def second_service_handles_its_commands(t: TckContext) -> None:
    """A second event-sourced service of the same user function has entity streams of its own:
    ``EventSourcedTwo.Call`` replies with an empty ``Response``."""
    eid = t.entity_id()
    s = await t.event_sourced(ES_TWO, eid).start()
    await s.command(to_two(eid), "Call")
    await s.expect(es_reply(1, es_response("")))
    await s.close()
