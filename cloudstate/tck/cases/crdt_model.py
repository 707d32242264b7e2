"""Language support: the CRDT model, driven directly through ``Crdt.handle``.

Counterparts of the original TCK's "verifying model test: CRDT entities" (82 cases): discovery,
eight cases for each of the eight CRDT types, LWWRegister clocks, forwards and side effects,
failures, streamed commands and write consistency; then three it lacked (a delete from the proxy
clears the value, Vote values in an ORMap, a failure undoing nested changes). Each case is a
script of steps (open a stream, send a command and expect its reply, send a proxy delta, ...);
unordered delta lists are sorted before comparing, as in the original.

One concern: the CRDT model's cases (mostly the scripts themselves, as data).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cloudstate.protocol import crdt_pb2, entity_pb2
from cloudstate.tck.cases.discovery import check_entity
from cloudstate.tck.context import TckContext
from cloudstate.tck.crdt_messages import (
    CRDT_CONFIGURED,
    CRDT_MODEL,
    CRDT_TWO,
    a_delete,
    a_effect,
    a_fail,
    a_forward,
    cancelled_response,
    d_flag,
    d_gcounter,
    d_gset,
    d_lww,
    d_ormap,
    d_orset,
    d_pncounter,
    d_vote,
    failure,
    flag,
    gc,
    gs,
    lww,
    ormap_of,
    ors,
    pn,
    reply,
    streamed_message,
    two_effect,
    two_forward,
    u_flag,
    u_gc,
    u_gset,
    u_lww,
    u_ormap_add,
    u_ormap_clear,
    u_ormap_remove,
    u_ormap_update,
    u_orset_add,
    u_orset_clear,
    u_orset_remove,
    u_pn,
    u_vote,
    vote,
)
from cloudstate.tck.framework import LANGUAGE_SUPPORT, case
from cloudstate.tck.model import crdt_pb2 as m
from cloudstate.tck.protocol import END_OF_STREAM, CrdtStream, compare

GROUP = "crdt model"
CRDT = "cloudstate.crdt.Crdt"


# -- the script steps -----------------------------------------------------------------------------


@dataclass
class Init:
    """Open a new stream (command ids from 1), with the entity's current value if given."""

    delta: crdt_pb2.CrdtDelta | None = None


@dataclass
class Cmd:
    """``Process`` with ``actions``; the reply must show ``state`` and carry the rest."""

    actions: Sequence[m.RequestAction]
    state: m.State | None = None
    update: crdt_pb2.CrdtDelta | None = None
    delete: bool = False
    write_consistency: int = 0
    effects: Sequence[entity_pb2.SideEffect] = ()
    forward_to: entity_pb2.Forward | None = None
    fail: str | None = None
    command_id: int | None = None  # to reuse an id (duplicate ids must be tolerated)


@dataclass
class Delta:
    """A change made elsewhere, sent by the proxy."""

    delta: crdt_pb2.CrdtDelta


@dataclass
class DeleteIn:
    """The entity was deleted elsewhere: the user function must clear it and send nothing."""


@dataclass
class Close:
    """Half-close: the user function must end its side."""


Step = Init | Cmd | Delta | DeleteIn | Close


async def run_script(t: TckContext, type_name: str, steps: Sequence[Step]) -> None:
    eid = t.entity_id(type_name)
    stream: CrdtStream | None = None
    for step in steps:
        if isinstance(step, Init):
            stream = await t.crdt(CRDT_MODEL, eid).start(step.delta)
            continue
        assert stream is not None, "a script starts with Init()"
        if isinstance(step, Cmd):
            request = m.Request(id=eid, actions=list(step.actions))
            if step.command_id is not None:
                stream.next_command_id = step.command_id
            command_id = await stream.command(request)
            if step.fail is not None:
                expected = failure(command_id, step.fail)
            else:
                expected = reply(
                    command_id,
                    step.state,
                    update=step.update,
                    delete=step.delete,
                    write_consistency=step.write_consistency,
                    side_effects=step.effects,
                    forward_to=step.forward_to,
                )
            await stream.expect(expected, f"the reply to command {command_id}")
        elif isinstance(step, Delta):
            await stream.delta(step.delta)
        elif isinstance(step, DeleteIn):
            await stream.delete()
        elif isinstance(step, Close):
            await stream.close()
            stream = None
    if stream is not None:
        await stream.close()


def register(
    type_name: str, name: str, steps: Sequence[Step], description: str, new: bool = False
) -> None:
    """A script on an entity of ``type_name``; ``new``: the original TCK lacked it."""
    full = f"{type_name} {name}"

    @case(
        LANGUAGE_SUPPORT,
        GROUP,
        full,
        requires=[CRDT_MODEL],
        original=None if new else f"verify {full}",
        description=description,
    )
    async def script(t: TckContext) -> None:
        await run_script(t, type_name, steps)


# -- discovery ------------------------------------------------------------------------------------


@case(
    LANGUAGE_SUPPORT,
    GROUP,
    "CRDT entity discovery",
    requires=[CRDT_MODEL, CRDT_TWO],
    original="verify CRDT entity discovery",
)
async def discovery(t: TckContext) -> None:
    """``CrdtTckModel`` and ``CrdtTwo`` are reported as CRDT entities."""
    check_entity(t, CRDT_MODEL, CRDT)
    check_entity(t, CRDT_TWO, CRDT)


@case(
    LANGUAGE_SUPPORT,
    GROUP,
    "CRDT configured entity",
    requires=[CRDT_CONFIGURED],
    original="verify CRDT configured entity",
)
async def configured(t: TckContext) -> None:
    """``CrdtConfigured`` has a passivation timeout of 100 ms."""
    check_entity(t, CRDT_CONFIGURED, CRDT, passivation_ms=100)


# -- the eight cases of each type -----------------------------------------------------------------

DESCRIPTIONS = {
    "initial empty state": "A new entity (no delta in init) replies with the empty value and no "
    "state action (a new LWWRegister sends its creation delta).",
    "state changes": "Each command's changes come back as one aggregated delta; a command that "
    "changes nothing sends no state action.",
    "initial delta in init": "The value starts from the delta in init.",
    "initial empty state with replicated initial delta": "A delta received right after an empty "
    "init sets the value.",
    "mix of local and replicated state changes": "Proxy deltas between commands are applied and "
    "never echoed back; local changes send only their own delta.",
    "rehydration after passivation": "A new stream whose init carries the full value continues "
    "from it.",
    "delete action received from entity": "A command deleting the entity replies with the delete "
    "state action only (it wins over the command's changes).",
    "delete action sent to entity": "A delete from the proxy clears the entity and sends "
    "nothing; the stream then ends normally.",
}


def register_type(type_name: str, scripts: dict[str, list[Step]]) -> None:
    for name, steps in scripts.items():
        register(type_name, name, steps, DESCRIPTIONS[name])


DELETE_SENT: list[Step] = [Init(), DeleteIn(), Close()]

register_type(
    "GCounter",
    {
        "initial empty state": [Init(), Cmd([], gc(0))],
        "state changes": [
            Init(),
            Cmd([u_gc(42)], gc(42), d_gcounter(42)),
            Cmd([u_gc(1), u_gc(2), u_gc(3)], gc(48), d_gcounter(6)),
        ],
        "initial delta in init": [Init(d_gcounter(42)), Cmd([u_gc(123)], gc(165), d_gcounter(123))],
        "initial empty state with replicated initial delta": [
            Init(),
            Delta(d_gcounter(42)),
            Cmd([u_gc(123)], gc(165), d_gcounter(123)),
        ],
        "mix of local and replicated state changes": [
            Init(),
            Cmd([u_gc(1)], gc(1), d_gcounter(1)),
            Delta(d_gcounter(2)),
            Delta(d_gcounter(3)),
            Cmd([], gc(6)),
            Cmd([u_gc(4)], gc(10), d_gcounter(4)),
            Delta(d_gcounter(5)),
            Cmd([u_gc(6)], gc(21), d_gcounter(6)),
        ],
        "rehydration after passivation": [
            Init(),
            Cmd([u_gc(1)], gc(1), d_gcounter(1)),
            Delta(d_gcounter(2)),
            Cmd([], gc(3)),
            Cmd([u_gc(3)], gc(6), d_gcounter(3)),
            Close(),
            Init(d_gcounter(6)),
            Cmd([], gc(6)),
            Delta(d_gcounter(4)),
            Cmd([u_gc(5)], gc(15), d_gcounter(5)),
        ],
        "delete action received from entity": [
            Init(),
            Cmd([u_gc(42)], gc(42), d_gcounter(42)),
            Cmd([a_delete()], gc(42), delete=True),
        ],
        "delete action sent to entity": DELETE_SENT,
    },
)

register_type(
    "PNCounter",
    {
        "initial empty state": [Init(), Cmd([], pn(0))],
        "state changes": [
            Init(),
            Cmd([u_pn(1), u_pn(-2), u_pn(3)], pn(2), d_pncounter(2)),
            Cmd([u_pn(-4), u_pn(5), u_pn(-6)], pn(-3), d_pncounter(-5)),
        ],
        "initial delta in init": [
            Init(d_pncounter(42)),
            Cmd([u_pn(-123)], pn(-81), d_pncounter(-123)),
        ],
        "initial empty state with replicated initial delta": [
            Init(),
            Delta(d_pncounter(-42)),
            Cmd([u_pn(123)], pn(81), d_pncounter(123)),
        ],
        "mix of local and replicated state changes": [
            Init(),
            Cmd([u_pn(1)], pn(1), d_pncounter(1)),
            Delta(d_pncounter(-2)),
            Delta(d_pncounter(3)),
            Cmd([], pn(2)),
            Cmd([u_pn(-4)], pn(-2), d_pncounter(-4)),
            Delta(d_pncounter(5)),
            Cmd([u_pn(-6)], pn(-3), d_pncounter(-6)),
        ],
        "rehydration after passivation": [
            Init(),
            Cmd([u_pn(1)], pn(1), d_pncounter(1)),
            Delta(d_pncounter(-2)),
            Cmd([], pn(-1)),
            Cmd([u_pn(3)], pn(2), d_pncounter(3)),
            Close(),
            Init(d_pncounter(2)),
            Cmd([], pn(2)),
            Delta(d_pncounter(-4)),
            Cmd([u_pn(5)], pn(3), d_pncounter(5)),
        ],
        "delete action received from entity": [
            Init(),
            Cmd([u_pn(42)], pn(42), d_pncounter(42)),
            Cmd([a_delete()], pn(42), delete=True),
        ],
        "delete action sent to entity": DELETE_SENT,
    },
)

register_type(
    "GSet",
    {
        "initial empty state": [Init(), Cmd([], gs())],
        "state changes": [
            Init(),
            Cmd([u_gset("a"), u_gset("b")], gs("a", "b"), d_gset("a", "b")),
            Cmd([u_gset("b"), u_gset("c")], gs("a", "b", "c"), d_gset("c")),
            Cmd([u_gset("c"), u_gset("a")], gs("a", "b", "c")),
        ],
        "initial delta in init": [
            Init(d_gset("a", "b", "c")),
            Cmd([u_gset("c"), u_gset("d"), u_gset("e")], gs(*"abcde"), d_gset("d", "e")),
        ],
        "initial empty state with replicated initial delta": [
            Init(),
            Delta(d_gset("x", "y")),
            Cmd([u_gset("z")], gs("x", "y", "z"), d_gset("z")),
        ],
        "mix of local and replicated state changes": [
            Init(),
            Cmd([u_gset("a")], gs("a"), d_gset("a")),
            Delta(d_gset("a")),
            Delta(d_gset("b")),
            Delta(d_gset("c")),
            Cmd([], gs("a", "b", "c")),
            Cmd([u_gset("c"), u_gset("d"), u_gset("e")], gs(*"abcde"), d_gset("d", "e")),
            Delta(d_gset("f")),
            Cmd([u_gset("g"), u_gset("d"), u_gset("b")], gs(*"abcdefg"), d_gset("g")),
        ],
        "rehydration after passivation": [
            Init(),
            Cmd([u_gset("a")], gs("a"), d_gset("a")),
            Delta(d_gset("b")),
            Cmd([], gs("a", "b")),
            Cmd([u_gset("c")], gs("a", "b", "c"), d_gset("c")),
            Close(),
            Init(d_gset("a", "b", "c")),
            Cmd([], gs("a", "b", "c")),
            Delta(d_gset("d")),
            Cmd([u_gset("e")], gs(*"abcde"), d_gset("e")),
        ],
        "delete action received from entity": [
            Init(),
            Cmd([u_gset("x")], gs("x"), d_gset("x")),
            Cmd([a_delete()], gs("x"), delete=True),
        ],
        "delete action sent to entity": DELETE_SENT,
    },
)

register_type(
    "ORSet",
    {
        "initial empty state": [Init(), Cmd([], ors())],
        "state changes": [
            Init(),
            Cmd([u_orset_add("a"), u_orset_add("b")], ors("a", "b"), d_orset(added="ab")),
            Cmd([u_orset_add("b"), u_orset_add("c")], ors("a", "b", "c"), d_orset(added="c")),
            Cmd([u_orset_add("c"), u_orset_add("a")], ors("a", "b", "c")),
            Cmd([u_orset_remove("b"), u_orset_remove("d")], ors("a", "c"), d_orset(removed="b")),
            Cmd(
                [u_orset_remove("c"), u_orset_remove("d"), u_orset_add("b"), u_orset_add("c")],
                ors("a", "b", "c"),
                d_orset(added="b"),
            ),
            Cmd([u_orset_clear()], ors(), d_orset(cleared=True)),
            Cmd(
                [u_orset_add("a"), u_orset_clear(), u_orset_add("x")],
                ors("x"),
                d_orset(cleared=True, added="x"),
            ),
        ],
        "initial delta in init": [
            Init(d_orset(added="abc")),
            Cmd(
                [u_orset_remove("c"), u_orset_add("d")],
                ors("a", "b", "d"),
                d_orset(removed="c", added="d"),
            ),
        ],
        "initial empty state with replicated initial delta": [
            Init(),
            Delta(d_orset(added="xy")),
            Cmd(
                [u_orset_remove("x"), u_orset_add("z")],
                ors("y", "z"),
                d_orset(removed="x", added="z"),
            ),
        ],
        "mix of local and replicated state changes": [
            Init(),
            Cmd([u_orset_add("a")], ors("a"), d_orset(added="a")),
            Delta(d_orset(added="ab")),
            Delta(d_orset(added="cd")),
            Delta(d_orset(removed="bd")),
            Cmd([], ors("a", "c")),
            Cmd(
                [u_orset_add("c"), u_orset_add("d"), u_orset_add("e")],
                ors("a", "c", "d", "e"),
                d_orset(added="de"),
            ),
            Delta(d_orset(removed="ac", added="f")),
            Cmd(
                [u_orset_add("g"), u_orset_remove("a"), u_orset_remove("d")],
                ors("e", "f", "g"),
                d_orset(removed="d", added="g"),
            ),
            Delta(d_orset(cleared=True, added="xyz")),
            Cmd(
                [u_orset_add("q"), u_orset_add("x"), u_orset_remove("z")],
                ors("q", "x", "y"),
                d_orset(removed="z", added="q"),
            ),
            Delta(d_orset(removed="xy", added="rp")),
            Cmd([u_orset_add("s")], ors("p", "q", "r", "s"), d_orset(added="s")),
            Delta(d_orset(added="abc")),
            Cmd(
                [u_orset_clear(), u_orset_add("a"), u_orset_add("b"), u_orset_add("c")],
                ors("a", "b", "c"),
                d_orset(cleared=True, added="abc"),
            ),
        ],
        "rehydration after passivation": [
            Init(),
            Cmd([u_orset_add("a")], ors("a"), d_orset(added="a")),
            Delta(d_orset(removed="a", added="b")),
            Cmd([], ors("b")),
            Cmd([u_orset_add("c")], ors("b", "c"), d_orset(added="c")),
            Close(),
            Init(d_orset(added="bc")),
            Delta(d_orset(cleared=True, added="pq")),
            Cmd(
                [u_orset_add("x"), u_orset_add("y"), u_orset_remove("x")],
                ors("p", "q", "y"),
                d_orset(added="y"),
            ),
        ],
        "delete action received from entity": [
            Init(),
            Cmd([u_orset_add("x")], ors("x"), d_orset(added="x")),
            Cmd([a_delete()], ors("x"), delete=True),
        ],
        "delete action sent to entity": DELETE_SENT,
    },
)


@case(
    LANGUAGE_SUPPORT,
    GROUP,
    "ORSet delete action sent to entity clears its value",
    requires=[CRDT_MODEL],
)
async def delete_sent_clears_the_value(t: TckContext) -> None:
    """After a delete from the proxy the user function has cleared the entity: a later command
    finds no value (an empty ``State``; a new, empty ORSet is accepted too), never the deleted
    elements, and changes nothing."""
    eid = t.entity_id("ORSet")
    s = await t.crdt(CRDT_MODEL, eid).start(d_orset(added="ab"))
    command_id = await s.command(m.Request(id=eid))
    await s.expect(reply(command_id, ors("a", "b")))
    await s.delete()
    command_id = await s.command(m.Request(id=eid))
    actual = await s.receive()
    if actual != reply(command_id, ors()):
        compare(
            f"{s.description}: the reply to command {command_id} after a delete from the proxy "
            "(an empty ORSet is accepted too)",
            reply(command_id, m.State()),
            END_OF_STREAM if actual is None else actual,
        )
    await s.close()


register_type(
    "LWWRegister",
    {
        "initial empty state": [Init(), Cmd([], lww(""), d_lww(""))],
        "state changes": [
            Init(),
            Cmd([u_lww("one")], lww("one"), d_lww("one")),
            Cmd([u_lww("two")], lww("two"), d_lww("two")),
        ],
        "initial delta in init": [Init(d_lww("one")), Cmd([], lww("one"))],
        "initial empty state with replicated initial delta": [
            Init(),
            Delta(d_lww("one")),
            Cmd([], lww("one")),
        ],
        "mix of local and replicated state changes": [
            Init(),
            Cmd([u_lww("A")], lww("A"), d_lww("A")),
            Delta(d_lww("B")),
            Delta(d_lww("C")),
            Cmd([], lww("C")),
            Cmd([u_lww("D")], lww("D"), d_lww("D")),
            Delta(d_lww("D")),
            Cmd([u_lww("E")], lww("E"), d_lww("E")),
        ],
        "rehydration after passivation": [
            Init(),
            Cmd([u_lww("A")], lww("A"), d_lww("A")),
            Delta(d_lww("B")),
            Cmd([], lww("B")),
            Cmd([u_lww("C")], lww("C"), d_lww("C")),
            Close(),
            Init(d_lww("C")),
            Cmd([], lww("C")),
            Delta(d_lww("D")),
            Cmd([u_lww("E")], lww("E"), d_lww("E")),
        ],
        "delete action received from entity": [
            Init(),
            Cmd([u_lww("one")], lww("one"), d_lww("one")),
            Cmd([a_delete()], lww("one"), delete=True),
        ],
        "delete action sent to entity": DELETE_SENT,
    },
)

REVERSE, CUSTOM, CUSTOM_AUTO_INCREMENT = 1, 2, 3
register(
    "LWWRegister",
    "state changes with clock settings",
    [
        Init(),
        Cmd([u_lww("A", REVERSE)], lww("A"), d_lww("A", REVERSE)),
        Cmd([u_lww("A", CUSTOM, 123)], lww("A"), d_lww("A", CUSTOM, 123), command_id=2),
        Cmd(
            [u_lww("A", CUSTOM_AUTO_INCREMENT, 456)],
            lww("A"),
            d_lww("A", CUSTOM_AUTO_INCREMENT, 456),
            command_id=2,
        ),
    ],
    "Clocks travel with the register's delta; writing the same value with another clock is a "
    "change; a repeated command id is tolerated.",
)

register_type(
    "Flag",
    {
        "initial empty state": [Init(), Cmd([], flag(False))],
        "state changes": [Init(), Cmd([u_flag()], flag(True), d_flag(True))],
        "initial delta in init": [
            Init(d_flag(False)),
            Cmd([], flag(False)),
            Close(),
            Init(d_flag(True)),
            Cmd([], flag(True)),
        ],
        "initial empty state with replicated initial delta": [
            Init(),
            Delta(d_flag(False)),
            Cmd([], flag(False)),
            Close(),
            Init(),
            Delta(d_flag(True)),
            Cmd([], flag(True)),
        ],
        "mix of local and replicated state changes": [
            Init(),
            Delta(d_flag(False)),
            Cmd([], flag(False)),
            Cmd([u_flag()], flag(True), d_flag(True)),
            Delta(d_flag(True)),
            Delta(d_flag(False)),
            Cmd([], flag(True)),
            Close(),
            Init(),
            Delta(d_flag(True)),
            Cmd([], flag(True)),
            Cmd([u_flag()], flag(True)),
            Delta(d_flag(True)),
            Delta(d_flag(False)),
            Cmd([], flag(True)),
        ],
        "rehydration after passivation": [
            Init(),
            Cmd([], flag(False)),
            Cmd([u_flag()], flag(True), d_flag(True)),
            Close(),
            Init(d_flag(True)),
            Cmd([], flag(True)),
        ],
        "delete action received from entity": [
            Init(),
            Cmd([u_flag()], flag(True), d_flag(True)),
            Cmd([a_delete()], flag(True), delete=True),
        ],
        "delete action sent to entity": DELETE_SENT,
    },
)

register_type(
    "Vote",
    {
        "initial empty state": [Init(), Cmd([], vote(False, 0, 1))],
        "state changes": [
            Init(),
            Cmd([u_vote(True)], vote(True, 1, 1), d_vote(True)),
            Cmd([u_vote(True)], vote(True, 1, 1)),
            Cmd([u_vote(False)], vote(False, 0, 1), d_vote(False)),
            Cmd([u_vote(False)], vote(False, 0, 1)),
        ],
        "initial delta in init": [
            Init(d_vote(True, 2, 3)),
            Cmd([], vote(True, 2, 3)),
            Cmd([u_vote(False)], vote(False, 1, 3), d_vote(False)),
        ],
        "initial empty state with replicated initial delta": [
            Init(),
            Delta(d_vote(False, 3, 5)),
            Cmd([], vote(False, 3, 5)),
            Cmd([u_vote(True)], vote(True, 4, 5), d_vote(True)),
        ],
        "mix of local and replicated state changes": [
            Init(),
            Delta(d_vote(False, 2, 4)),
            Cmd([], vote(False, 2, 4)),
            Cmd([u_vote(True)], vote(True, 3, 4), d_vote(True)),
            Delta(d_vote(True, 5, 7)),
            Delta(d_vote(True, 4, 6)),
            Cmd([u_vote(False)], vote(False, 3, 6), d_vote(False)),
        ],
        "rehydration after passivation": [
            Init(),
            Cmd([], vote(False, 0, 1)),
            Delta(d_vote(False, 2, 5)),
            Cmd([u_vote(True)], vote(True, 3, 5), d_vote(True)),
            Close(),
            Init(d_vote(True, 3, 5)),
            Cmd([], vote(True, 3, 5)),
            Cmd([u_vote(False)], vote(False, 2, 5), d_vote(False)),
        ],
        "delete action received from entity": [
            Init(),
            Cmd([u_vote(True)], vote(True, 1, 1), d_vote(True)),
            Cmd([a_delete()], vote(True, 1, 1), delete=True),
        ],
        "delete action sent to entity": DELETE_SENT,
    },
)

# ORMap: keys name the value types; values in states and deltas per type.
PN1, OR1, OR2, LWW1, LWW2 = "PNCounter-1", "ORSet-1", "ORSet-2", "LWWRegister-1", "LWWRegister-2"
GC1, GS1, FL1, MAP1 = "GCounter-1", "GSet-1", "Flag-1", "ORMap-1"


def on(key: str, action: m.RequestAction) -> m.RequestAction:
    return u_ormap_update(key, action)


register_type(
    "ORMap",
    {
        "initial empty state": [Init(), Cmd([], ormap_of([]))],
        "state changes": [
            Init(),
            Cmd(
                [u_ormap_add(PN1), u_ormap_add(OR1)],
                ormap_of([(OR1, ors()), (PN1, pn(0))]),
                d_ormap(added=[(OR1, d_orset()), (PN1, d_pncounter(0))]),
            ),
            Cmd(
                [u_ormap_add(OR1), on(LWW1, u_lww("zero"))],
                ormap_of([(LWW1, lww("zero")), (OR1, ors()), (PN1, pn(0))]),
                d_ormap(added=[(LWW1, d_lww("zero"))]),
            ),
            Cmd(
                [on(PN1, u_pn(42)), on(LWW1, u_lww("one"))],
                ormap_of([(LWW1, lww("one")), (OR1, ors()), (PN1, pn(42))]),
                d_ormap(updated=[(LWW1, d_lww("one")), (PN1, d_pncounter(42))]),
            ),
            Cmd(
                [on(OR1, u_orset_add("a")), on(OR1, u_orset_add("b")), on(OR1, u_orset_add("c"))],
                ormap_of([(LWW1, lww("one")), (OR1, ors("a", "b", "c")), (PN1, pn(42))]),
                d_ormap(updated=[(OR1, d_orset(added="abc"))]),
            ),
            Cmd(
                [
                    on(OR1, u_orset_remove("b")),
                    on(OR1, u_orset_add("d")),
                    on(PN1, u_pn(-123)),
                    on(LWW1, u_lww("two")),
                ],
                ormap_of([(LWW1, lww("two")), (OR1, ors("a", "c", "d")), (PN1, pn(-81))]),
                d_ormap(
                    updated=[
                        (LWW1, d_lww("two")),
                        (OR1, d_orset(removed="b", added="d")),
                        (PN1, d_pncounter(-123)),
                    ]
                ),
            ),
            Cmd(
                [u_ormap_remove(OR1)],
                ormap_of([(LWW1, lww("two")), (PN1, pn(-81))]),
                d_ormap(removed=[OR1]),
            ),
            Cmd(
                [u_ormap_remove(LWW1), on(FL1, u_flag())],
                ormap_of([(FL1, flag(True)), (PN1, pn(-81))]),
                d_ormap(removed=[LWW1], added=[(FL1, d_flag(True))]),
            ),
            Cmd([u_ormap_clear()], ormap_of([]), d_ormap(cleared=True)),
            Cmd(
                [u_ormap_add("PNCounter-2"), u_ormap_clear(), on(GC1, u_gc(123))],
                ormap_of([(GC1, gc(123))]),
                d_ormap(cleared=True, added=[(GC1, d_gcounter(123))]),
            ),
        ],
        "initial delta in init": [
            Init(
                d_ormap(
                    added=[
                        (PN1, d_pncounter(123)),
                        (LWW1, d_lww("one")),
                        (GS1, d_gset("a", "b", "c")),
                    ]
                )
            ),
            Cmd([], ormap_of([(GS1, gs("a", "b", "c")), (LWW1, lww("one")), (PN1, pn(123))])),
            Cmd(
                [u_ormap_remove(LWW1), on(PN1, u_pn(-42))],
                ormap_of([(GS1, gs("a", "b", "c")), (PN1, pn(81))]),
                d_ormap(removed=[LWW1], updated=[(PN1, d_pncounter(-42))]),
            ),
        ],
        "initial empty state with replicated initial delta": [
            Init(),
            Delta(
                d_ormap(
                    added=[
                        (GC1, d_gcounter(42)),
                        (OR1, d_orset(added="abc")),
                        (FL1, d_flag(False)),
                    ]
                )
            ),
            Cmd([], ormap_of([(FL1, flag(False)), (GC1, gc(42)), (OR1, ors("a", "b", "c"))])),
        ],
        "mix of local and replicated state changes": [
            Init(),
            Cmd(
                [u_ormap_add(PN1)], ormap_of([(PN1, pn(0))]), d_ormap(added=[(PN1, d_pncounter(0))])
            ),
            Delta(d_ormap(added=[(OR1, d_orset(added="x"))])),
            Delta(d_ormap(added=[(LWW1, d_lww("one"))], updated=[(OR1, d_orset(added="yz"))])),
            Cmd(
                [u_ormap_add(OR2), on(LWW2, u_lww("two"))],
                ormap_of(
                    [
                        (LWW1, lww("one")),
                        (LWW2, lww("two")),
                        (OR1, ors("x", "y", "z")),
                        (OR2, ors()),
                        (PN1, pn(0)),
                    ]
                ),
                d_ormap(added=[(LWW2, d_lww("two")), (OR2, d_orset())]),
            ),
            Cmd(
                [on(PN1, u_pn(42)), on(LWW1, u_lww("ONE"))],
                ormap_of(
                    [
                        (LWW1, lww("ONE")),
                        (LWW2, lww("two")),
                        (OR1, ors("x", "y", "z")),
                        (OR2, ors()),
                        (PN1, pn(42)),
                    ]
                ),
                d_ormap(updated=[(LWW1, d_lww("ONE")), (PN1, d_pncounter(42))]),
            ),
            Delta(
                d_ormap(removed=[LWW2], added=[(MAP1, d_ormap(added=[(PN1, d_pncounter(123))]))])
            ),
            Delta(
                d_ormap(
                    removed=[OR1],
                    updated=[
                        (OR2, d_orset(added="abc")),
                        (MAP1, d_ormap(added=[(LWW1, d_lww("ABC"))])),
                    ],
                )
            ),
            Cmd(
                [on(MAP1, on(PN1, u_pn(-456)))],
                ormap_of(
                    [
                        (LWW1, lww("ONE")),
                        (MAP1, ormap_of([(LWW1, lww("ABC")), (PN1, pn(-333))])),
                        (OR2, ors("a", "b", "c")),
                        (PN1, pn(42)),
                    ]
                ),
                d_ormap(updated=[(MAP1, d_ormap(updated=[(PN1, d_pncounter(-456))]))]),
            ),
            Delta(d_ormap(cleared=True, added=[(GS1, d_gset("1", "2", "3"))])),
            Cmd(
                [
                    u_ormap_remove(PN1),
                    u_ormap_remove(LWW1),
                    on(GS1, u_gset("2")),
                    on(GS1, u_gset("4")),
                    on(GS1, u_gset("6")),
                ],
                ormap_of([(GS1, gs("1", "2", "3", "4", "6"))]),
                d_ormap(updated=[(GS1, d_gset("4", "6"))]),
            ),
            Cmd(
                [u_ormap_clear(), u_ormap_add(GC1)],
                ormap_of([(GC1, gc(0))]),
                d_ormap(cleared=True, added=[(GC1, d_gcounter(0))]),
            ),
            Delta(d_ormap(removed=[GS1], added=[(GC1, d_gcounter(42))])),
            Cmd(
                [on(GC1, u_gc(7))],
                ormap_of([(GC1, gc(49))]),
                d_ormap(updated=[(GC1, d_gcounter(7))]),
            ),
        ],
        "rehydration after passivation": [
            Init(),
            Delta(d_ormap(added=[(PN1, d_pncounter(123))])),
            Cmd(
                [on(PN1, u_pn(321))],
                ormap_of([(PN1, pn(444))]),
                d_ormap(updated=[(PN1, d_pncounter(321))]),
            ),
            Close(),
            Init(d_ormap(added=[(PN1, d_pncounter(444))])),
            Cmd([], ormap_of([(PN1, pn(444))])),
            Delta(d_ormap(updated=[(PN1, d_pncounter(-42))])),
            Cmd(
                [on(PN1, u_pn(-360))],
                ormap_of([(PN1, pn(42))]),
                d_ormap(updated=[(PN1, d_pncounter(-360))]),
            ),
        ],
        "delete action received from entity": [
            Init(),
            Cmd(
                [u_ormap_add(FL1)],
                ormap_of([(FL1, flag(False))]),
                d_ormap(added=[(FL1, d_flag(False))]),
            ),
            Cmd([on(FL1, u_flag()), a_delete()], ormap_of([(FL1, flag(True))]), delete=True),
        ],
        "delete action sent to entity": DELETE_SENT,
    },
)


VOTE1 = "Vote-1"
register(
    "ORMap",
    "vote values send only their own vote",
    [
        Init(d_ormap(added=[(VOTE1, d_vote(False, 2, 3))])),
        Cmd(
            [on(VOTE1, u_vote(True)), on(OR1, u_orset_add("a"))],
            ormap_of([(OR1, ors("a")), (VOTE1, vote(True, 3, 3))]),
            d_ormap(updated=[(VOTE1, d_vote(True))], added=[(OR1, d_orset(added="a"))]),
        ),
    ],
    "A Vote held in an ORMap follows the Vote rules: its delta carries only this node's vote, "
    "never the totals.",
    new=True,
)


# -- forwards, side effects and failures ----------------------------------------------------------


def register_other(
    name: str, type_name: str, steps: list[Step], description: str, new: bool = False
) -> None:
    @case(
        LANGUAGE_SUPPORT,
        GROUP,
        name,
        requires=[CRDT_MODEL, CRDT_TWO],
        original=None if new else f"verify {name}",
        description=description,
    )
    async def script(t: TckContext) -> None:
        await run_script(t, type_name, steps)


register_other(
    "forward to second service",
    "GCounter",
    [
        Init(),
        Cmd([u_gc(42)], gc(42), d_gcounter(42)),
        Cmd([a_forward("Two-1")], forward_to=two_forward("Two-1")),
        Cmd([], gc(42)),
    ],
    "A forward replaces the reply; the value is unchanged.",
)
register_other(
    "forward with state changes",
    "PNCounter",
    [
        Init(),
        Cmd(
            [u_pn(-42), a_forward("Two-1")],
            forward_to=two_forward("Two-1"),
            update=d_pncounter(-42),
        ),
    ],
    "A forwarding command keeps its delta.",
)
register_other(
    "reply with side effect to second service",
    "GSet",
    [
        Init(),
        Cmd([u_gset("one")], gs("one"), d_gset("one")),
        Cmd([a_effect("Two-1")], gs("one"), effects=[two_effect("Two-1")]),
        Cmd([], gs("one")),
    ],
    "A side effect travels with the reply.",
)
register_other(
    "synchronous side effect to second service",
    "ORSet",
    [Init(), Cmd([a_effect("Two-1", True)], ors(), effects=[two_effect("Two-1", True)])],
    "A synchronous side effect is flagged ``synchronous``.",
)
register_other(
    "forward and side effect to second service",
    "LWWRegister",
    [
        Init(),
        Cmd(
            [a_effect("Two-B"), a_forward("Two-A")],
            forward_to=two_forward("Two-A"),
            update=d_lww(""),
            effects=[two_effect("Two-B")],
        ),
    ],
    "A forwarding command keeps its side effects (and a new register's creation delta).",
)
register_other(
    "reply with multiple side effects",
    "Flag",
    [
        Init(),
        Cmd(
            [a_effect("Two-1"), a_effect("Two-2"), a_effect("Two-3")],
            flag(False),
            effects=[two_effect("Two-1"), two_effect("Two-2"), two_effect("Two-3")],
        ),
    ],
    "Side effects come back in the order they were added.",
)
register_other(
    "reply with multiple side effects and state changes",
    "ORMap",
    [
        Init(),
        Cmd(
            [
                u_ormap_add(PN1),
                on(GS1, u_gset("a")),
                on(GS1, u_gset("b")),
                on(GS1, u_gset("c")),
                a_effect("Two-1"),
                a_effect("Two-2"),
                a_effect("Two-3"),
            ],
            ormap_of([(GS1, gs("a", "b", "c")), (PN1, pn(0))]),
            d_ormap(added=[(GS1, d_gset("a", "b", "c")), (PN1, d_pncounter(0))]),
            effects=[two_effect("Two-1"), two_effect("Two-2"), two_effect("Two-3")],
        ),
    ],
    "The delta and the side effects travel in one reply.",
)
register_other(
    "failure action",
    "GCounter",
    [Init(), Cmd([a_fail("expected failure")], fail="expected failure")],
    "A failed command's reply carries only the failure.",
)
register_other(
    "connection after failure action",
    "PNCounter",
    [
        Init(),
        Cmd([u_pn(42)], pn(42), d_pncounter(42)),
        Cmd([u_pn(1), a_fail("expected failure")], fail="expected failure"),
        Cmd([], pn(42)),
    ],
    "The stream stays usable after a failure, and the failed command's changes are undone.",
)


register_other(
    "failure undoes nested changes and drops side effects",
    "ORMap",
    [
        Init(),
        Cmd([on(PN1, u_pn(1))], ormap_of([(PN1, pn(1))]), d_ormap(added=[(PN1, d_pncounter(1))])),
        Cmd(
            [on(PN1, u_pn(5)), u_ormap_add(GS1), a_effect("Two-1"), a_fail("expected failure")],
            fail="expected failure",
        ),
        Cmd(
            [on(PN1, u_pn(2))],
            ormap_of([(PN1, pn(3))]),
            d_ormap(updated=[(PN1, d_pncounter(2))]),
        ),
    ],
    "A failed command leaves no trace: not in values nested in an ORMap, not as a new entry, "
    "not in the next delta; its side effects are dropped.",
    new=True,
)

# -- streamed commands ----------------------------------------------------------------------------


@case(
    LANGUAGE_SUPPORT,
    GROUP,
    "streamed responses",
    requires=[CRDT_MODEL],
    original="verify streamed responses",
)
async def streamed_responses(t: TckContext) -> None:
    """A streamed command replies with ``streamed`` set; every later change of the CRDT sends a
    streamed message for it, after the reply of the command that made the change."""
    eid = t.entity_id("GCounter")
    s = await t.crdt(CRDT_MODEL, eid).start()
    listener = await s.streamed_command(m.StreamedRequest(id=eid))
    await s.expect(reply(listener, gc(0), streamed=True))
    total = 0
    for n in (1, 2, 3):
        total += n
        command_id = await s.command(m.Request(id=eid, actions=[u_gc(n)]))
        await s.expect(reply(command_id, gc(total), update=d_gcounter(n)))
        await s.expect(streamed_message(listener, gc(total)), "the streamed update")
    await s.close()


@case(
    LANGUAGE_SUPPORT,
    GROUP,
    "streamed responses with stream ending action",
    requires=[CRDT_MODEL],
    original="verify streamed responses with stream ending action",
)
async def streamed_end(t: TckContext) -> None:
    """A change callback can end the stream: the message it sends carries ``end_stream``, and
    later changes send nothing for it."""
    eid = t.entity_id("GCounter")
    s = await t.crdt(CRDT_MODEL, eid).start()
    listener = await s.streamed_command(m.StreamedRequest(id=eid, end_state=gc(3)))
    await s.expect(reply(listener, gc(0), streamed=True))
    command_id = await s.command(m.Request(id=eid, actions=[u_gc(1)]))
    await s.expect(reply(command_id, gc(1), update=d_gcounter(1)))
    await s.expect(streamed_message(listener, gc(1)))
    command_id = await s.command(m.Request(id=eid, actions=[u_gc(2)]))
    await s.expect(reply(command_id, gc(3), update=d_gcounter(2)))
    await s.expect(streamed_message(listener, gc(3), end_stream=True))
    command_id = await s.command(m.Request(id=eid, actions=[u_gc(3)]))
    await s.expect(
        reply(command_id, gc(6), update=d_gcounter(3)), "no streamed message after its end"
    )
    await s.close()


@case(
    LANGUAGE_SUPPORT,
    GROUP,
    "streamed responses with cancellation",
    requires=[CRDT_MODEL],
    original="verify streamed responses with cancellation",
)
async def streamed_cancellation(t: TckContext) -> None:
    """``stream_cancelled`` is answered with a ``stream_cancelled_response`` carrying the cancel
    callback's delta; the stream then gets no more messages."""
    eid = t.entity_id("PNCounter")
    s = await t.crdt(CRDT_MODEL, eid).start()
    request = m.StreamedRequest(
        id=eid, cancel_update=m.Update(pncounter=m.PNCounterUpdate(change=-42))
    )
    listener = await s.streamed_command(request)
    await s.expect(reply(listener, pn(0), streamed=True))
    for change, total in ((10, 10), (20, 30)):
        command_id = await s.command(m.Request(id=eid, actions=[u_pn(change)]))
        await s.expect(reply(command_id, pn(total), update=d_pncounter(change)))
        await s.expect(streamed_message(listener, pn(total)))
    await s.cancel_streamed(listener)
    await s.expect(cancelled_response(listener, d_pncounter(-42)))
    command_id = await s.command(m.Request(id=eid))
    await s.expect(reply(command_id, pn(-12)))
    command_id = await s.command(m.Request(id=eid, actions=[u_pn(30)]))
    await s.expect(reply(command_id, pn(18), update=d_pncounter(30)))
    await s.close()


@case(
    LANGUAGE_SUPPORT,
    GROUP,
    "empty streamed responses with cancellation",
    requires=[CRDT_MODEL],
    original="verify empty streamed responses with cancellation",
)
async def empty_streamed(t: TckContext) -> None:
    """A streamed command that replies nothing has no ``client_action`` (but ``streamed``);
    its cancellation is answered as usual."""
    eid = t.entity_id("PNCounter")
    s = await t.crdt(CRDT_MODEL, eid).start()
    command_id = await s.command(m.Request(id=eid, actions=[u_pn(10)]))
    await s.expect(reply(command_id, pn(10), update=d_pncounter(10)))
    request = m.StreamedRequest(
        id=eid, cancel_update=m.Update(pncounter=m.PNCounterUpdate(change=-42)), empty=True
    )
    listener = await s.streamed_command(request)
    await s.expect(reply(listener, streamed=True, no_reply=True))
    await s.cancel_streamed(listener)
    await s.expect(cancelled_response(listener, d_pncounter(-42)))
    command_id = await s.command(m.Request(id=eid))
    await s.expect(reply(command_id, pn(-32)))
    await s.close()


@case(
    LANGUAGE_SUPPORT,
    GROUP,
    "streamed responses with side effects",
    requires=[CRDT_MODEL, CRDT_TWO],
    original="verify streamed responses with side effects",
)
async def streamed_side_effects(t: TckContext) -> None:
    """Side effects added by a change callback travel with its streamed message."""
    eid = t.entity_id("GSet")
    s = await t.crdt(CRDT_MODEL, eid).start()
    request = m.StreamedRequest(
        id=eid, effects=[m.Effect(id="one"), m.Effect(id="two", synchronous=True)]
    )
    listener = await s.streamed_command(request)
    await s.expect(reply(listener, gs(), streamed=True))
    effects = [two_effect("one"), two_effect("two", True)]
    elements: list[str] = []
    for element in ("a", "b"):
        elements.append(element)
        command_id = await s.command(m.Request(id=eid, actions=[u_gset(element)]))
        await s.expect(reply(command_id, gs(*elements), update=d_gset(element)))
        await s.expect(streamed_message(listener, gs(*elements), side_effects=effects))
    await s.close()


@case(
    LANGUAGE_SUPPORT,
    GROUP,
    "write consistency can be configured",
    requires=[CRDT_MODEL],
    original="verify write consistency can be configured",
)
async def write_consistency(t: TckContext) -> None:
    """The write consistency a command asks for is in its state action."""
    eid = t.entity_id("GCounter")
    s = await t.crdt(CRDT_MODEL, eid).start()
    total = 0
    for n, consistency in ((1, 0), (2, 1), (3, 2)):
        total += n
        command_id = await s.command(m.Request(id=eid, actions=[u_gc(n, consistency)]))
        await s.expect(
            reply(command_id, gc(total), update=d_gcounter(n), write_consistency=consistency)
        )
    await s.close()
