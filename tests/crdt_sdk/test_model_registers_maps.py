"""The conformance kit's CRDT model cases for LWWRegister, Flag, Vote and ORMap (8 each, plus the
LWWRegister clock settings), driven straight over the ``Crdt`` protocol against the SDK."""

from __future__ import annotations

from collections.abc import Callable

from cloudstate.protocol import crdt_pb2
from tests.crdt_sdk.protocol import (
    CrdtStream,
    flag,
    gcounter,
    gset,
    lww,
    orset,
    pncounter,
    vote,
)
from tests.crdt_sdk.protocol import ormap as om_delta
from tests.crdt_sdk.steps import (
    DELETE,
    change,
    check,
    enable,
    fl,
    gadd,
    gc,
    gs,
    inc,
    lset,
    lw,
    madd,
    mclear,
    mremove,
    mupdate,
    oadd,
    om,
    oremove,
    ors,
    pn,
    vt,
)
from tests.crdt_sdk.steps import vote as cast_vote
from tests.crdt_sdk.test_model_counters_sets import delete_sent

Streams = Callable[..., CrdtStream]

# -- LWWRegister ---------------------------------------------------------------------------------


async def test_lwwregister_initial_empty_state(crdt_stream: Streams) -> None:
    """The register is created with "" by the entity: that write is the first delta."""
    stream = await crdt_stream("LWWRegister-1").init()
    await check(stream, [], lw(""), update=lww(""))
    await stream.close()


async def test_lwwregister_state_changes(crdt_stream: Streams) -> None:
    stream = await crdt_stream("LWWRegister-2").init()
    await check(stream, [lset("one")], lw("one"), update=lww("one"))
    await check(stream, [lset("two")], lw("two"), update=lww("two"))
    await stream.close()


async def test_lwwregister_state_changes_with_clock_settings(crdt_stream: Streams) -> None:
    stream = await crdt_stream("LWWRegister-3").init()
    await check(stream, [lset("A", crdt_pb2.REVERSE)], lw("A"), update=lww("A", crdt_pb2.REVERSE))
    await check(
        stream,
        [lset("A", crdt_pb2.CUSTOM, 123)],
        lw("A"),
        update=lww("A", crdt_pb2.CUSTOM, 123),
    )
    # the same command id again (the kit does this): tolerated; same value, new clock: a write
    await check(
        stream,
        [lset("A", crdt_pb2.CUSTOM_AUTO_INCREMENT, 456)],
        lw("A"),
        update=lww("A", crdt_pb2.CUSTOM_AUTO_INCREMENT, 456),
        command_id=2,
    )
    await stream.close()


async def test_lwwregister_initial_delta_in_init(crdt_stream: Streams) -> None:
    stream = await crdt_stream("LWWRegister-4").init(lww("one"))
    await check(stream, [], lw("one"))
    await stream.close()


async def test_lwwregister_initial_empty_state_with_replicated_initial_delta(
    crdt_stream: Streams,
) -> None:
    """The replicated value cancels the pending creation write."""
    stream = await crdt_stream("LWWRegister-5").init()
    await stream.delta(lww("one"))
    await check(stream, [], lw("one"))
    await stream.close()


async def test_lwwregister_mix_of_local_and_replicated_state_changes(
    crdt_stream: Streams,
) -> None:
    stream = await crdt_stream("LWWRegister-6").init()
    await check(stream, [lset("A")], lw("A"), update=lww("A"))
    await stream.delta(lww("B"))
    await stream.delta(lww("C"))
    await check(stream, [], lw("C"))
    await check(stream, [lset("D")], lw("D"), update=lww("D"))
    await stream.delta(lww("D"))
    await check(stream, [lset("E")], lw("E"), update=lww("E"))
    await stream.close()


async def test_lwwregister_rehydration_after_passivation(crdt_stream: Streams) -> None:
    stream = await crdt_stream("LWWRegister-7").init()
    await check(stream, [lset("A")], lw("A"), update=lww("A"))
    await stream.delta(lww("B"))
    await check(stream, [], lw("B"))
    await check(stream, [lset("C")], lw("C"), update=lww("C"))
    await stream.close()
    stream = await crdt_stream("LWWRegister-7").init(lww("C"))
    await check(stream, [], lw("C"))
    await stream.delta(lww("D"))
    await check(stream, [lset("E")], lw("E"), update=lww("E"))
    await stream.close()


async def test_lwwregister_delete_action_received_from_entity(crdt_stream: Streams) -> None:
    stream = await crdt_stream("LWWRegister-8").init()
    await check(stream, [lset("one")], lw("one"), update=lww("one"))
    await check(stream, [DELETE], lw("one"), delete=True)
    await stream.close()


async def test_lwwregister_delete_action_sent_to_entity(crdt_stream: Streams) -> None:
    await delete_sent(crdt_stream("LWWRegister-9"))


# -- Flag ----------------------------------------------------------------------------------------


async def test_flag_initial_empty_state(crdt_stream: Streams) -> None:
    stream = await crdt_stream("Flag-1").init()
    await check(stream, [], fl(False))
    await stream.close()


async def test_flag_state_changes(crdt_stream: Streams) -> None:
    stream = await crdt_stream("Flag-2").init()
    await check(stream, [enable()], fl(True), update=flag(True))
    await stream.close()


async def test_flag_initial_delta_in_init(crdt_stream: Streams) -> None:
    stream = await crdt_stream("Flag-3").init(flag(False))
    await check(stream, [], fl(False))
    await stream.close()
    stream = await crdt_stream("Flag-3").init(flag(True))
    await check(stream, [], fl(True))
    await stream.close()


async def test_flag_initial_empty_state_with_replicated_initial_delta(
    crdt_stream: Streams,
) -> None:
    stream = await crdt_stream("Flag-4").init()
    await stream.delta(flag(False))
    await check(stream, [], fl(False))
    await stream.close()
    stream = await crdt_stream("Flag-4").init()
    await stream.delta(flag(True))
    await check(stream, [], fl(True))
    await stream.close()


async def test_flag_mix_of_local_and_replicated_state_changes(crdt_stream: Streams) -> None:
    stream = await crdt_stream("Flag-5").init()
    await stream.delta(flag(False))
    await check(stream, [], fl(False))
    await check(stream, [enable()], fl(True), update=flag(True))
    await stream.delta(flag(True))
    await stream.delta(flag(False))
    await check(stream, [], fl(True))
    await stream.close()
    stream = await crdt_stream("Flag-5").init()
    await stream.delta(flag(True))
    await check(stream, [], fl(True))
    await check(stream, [enable()], fl(True))  # already enabled: nothing to send
    await stream.delta(flag(True))
    await stream.delta(flag(False))
    await check(stream, [], fl(True))
    await stream.close()


async def test_flag_rehydration_after_passivation(crdt_stream: Streams) -> None:
    stream = await crdt_stream("Flag-6").init()
    await check(stream, [], fl(False))
    await check(stream, [enable()], fl(True), update=flag(True))
    await stream.close()
    stream = await crdt_stream("Flag-6").init(flag(True))
    await check(stream, [], fl(True))
    await stream.close()


async def test_flag_delete_action_received_from_entity(crdt_stream: Streams) -> None:
    stream = await crdt_stream("Flag-7").init()
    await check(stream, [enable()], fl(True), update=flag(True))
    await check(stream, [DELETE], fl(True), delete=True)
    await stream.close()


async def test_flag_delete_action_sent_to_entity(crdt_stream: Streams) -> None:
    await delete_sent(crdt_stream("Flag-8"))


# -- Vote ----------------------------------------------------------------------------------------


async def test_vote_initial_empty_state(crdt_stream: Streams) -> None:
    stream = await crdt_stream("Vote-1").init()
    await check(stream, [], vt(False, 0, 1))
    await stream.close()


async def test_vote_state_changes(crdt_stream: Streams) -> None:
    stream = await crdt_stream("Vote-2").init()
    await check(stream, [cast_vote(True)], vt(True, 1, 1), update=vote(True))
    await check(stream, [cast_vote(True)], vt(True, 1, 1))
    await check(stream, [cast_vote(False)], vt(False, 0, 1), update=vote(False))
    await check(stream, [cast_vote(False)], vt(False, 0, 1))
    await stream.close()


async def test_vote_initial_delta_in_init(crdt_stream: Streams) -> None:
    stream = await crdt_stream("Vote-3").init(vote(True, 2, 3))
    await check(stream, [], vt(True, 2, 3))
    await check(stream, [cast_vote(False)], vt(False, 1, 3), update=vote(False))
    await stream.close()


async def test_vote_initial_empty_state_with_replicated_initial_delta(
    crdt_stream: Streams,
) -> None:
    stream = await crdt_stream("Vote-4").init()
    await stream.delta(vote(False, 3, 5))
    await check(stream, [], vt(False, 3, 5))
    await check(stream, [cast_vote(True)], vt(True, 4, 5), update=vote(True))
    await stream.close()


async def test_vote_mix_of_local_and_replicated_state_changes(crdt_stream: Streams) -> None:
    stream = await crdt_stream("Vote-5").init()
    await stream.delta(vote(False, 2, 4))
    await check(stream, [], vt(False, 2, 4))
    await check(stream, [cast_vote(True)], vt(True, 3, 4), update=vote(True))
    await stream.delta(vote(True, 5, 7))
    await stream.delta(vote(True, 4, 6))
    await check(stream, [cast_vote(False)], vt(False, 3, 6), update=vote(False))
    await stream.close()


async def test_vote_rehydration_after_passivation(crdt_stream: Streams) -> None:
    stream = await crdt_stream("Vote-6").init()
    await check(stream, [], vt(False, 0, 1))
    await stream.delta(vote(False, 2, 5))
    await check(stream, [cast_vote(True)], vt(True, 3, 5), update=vote(True))
    await stream.close()
    stream = await crdt_stream("Vote-6").init(vote(True, 3, 5))
    await check(stream, [], vt(True, 3, 5))
    await check(stream, [cast_vote(False)], vt(False, 2, 5), update=vote(False))
    await stream.close()


async def test_vote_delete_action_received_from_entity(crdt_stream: Streams) -> None:
    stream = await crdt_stream("Vote-7").init()
    await check(stream, [cast_vote(True)], vt(True, 1, 1), update=vote(True))
    await check(stream, [DELETE], vt(True, 1, 1), delete=True)
    await stream.close()


async def test_vote_delete_action_sent_to_entity(crdt_stream: Streams) -> None:
    await delete_sent(crdt_stream("Vote-8"))


# -- ORMap ---------------------------------------------------------------------------------------


async def test_ormap_initial_empty_state(crdt_stream: Streams) -> None:
    stream = await crdt_stream("ORMap-1").init()
    await check(stream, [], om({}))
    await stream.close()


async def test_ormap_state_changes(crdt_stream: Streams) -> None:
    stream = await crdt_stream("ORMap-2").init()
    await check(
        stream,
        [madd("PNCounter-1"), madd("ORSet-1")],
        om({"ORSet-1": ors(), "PNCounter-1": pn(0)}),
        update=om_delta(added={"ORSet-1": orset(), "PNCounter-1": pncounter(0)}),
    )
    await check(
        stream,
        [madd("ORSet-1"), mupdate("LWWRegister-1", lset("zero"))],
        om({"LWWRegister-1": lw("zero"), "ORSet-1": ors(), "PNCounter-1": pn(0)}),
        update=om_delta(added={"LWWRegister-1": lww("zero")}),
    )
    await check(
        stream,
        [mupdate("PNCounter-1", change(42)), mupdate("LWWRegister-1", lset("one"))],
        om({"LWWRegister-1": lw("one"), "ORSet-1": ors(), "PNCounter-1": pn(42)}),
        update=om_delta(updated={"LWWRegister-1": lww("one"), "PNCounter-1": pncounter(42)}),
    )
    await check(
        stream,
        [mupdate("ORSet-1", oadd(e)) for e in "abc"],
        om({"LWWRegister-1": lw("one"), "ORSet-1": ors(*"abc"), "PNCounter-1": pn(42)}),
        update=om_delta(updated={"ORSet-1": orset(["a", "b", "c"])}),
    )
    await check(
        stream,
        [
            mupdate("ORSet-1", oremove("b")),
            mupdate("ORSet-1", oadd("d")),
            mupdate("PNCounter-1", change(-123)),
            mupdate("LWWRegister-1", lset("two")),
        ],
        om({"LWWRegister-1": lw("two"), "ORSet-1": ors(*"acd"), "PNCounter-1": pn(-81)}),
        update=om_delta(
            updated={
                "LWWRegister-1": lww("two"),
                "ORSet-1": orset(["d"], ["b"]),
                "PNCounter-1": pncounter(-123),
            }
        ),
    )
    await check(
        stream,
        [mremove("ORSet-1")],
        om({"LWWRegister-1": lw("two"), "PNCounter-1": pn(-81)}),
        update=om_delta(removed=["ORSet-1"]),
    )
    await check(
        stream,
        [mremove("LWWRegister-1"), mupdate("Flag-1", enable())],
        om({"Flag-1": fl(True), "PNCounter-1": pn(-81)}),
        update=om_delta(removed=["LWWRegister-1"], added={"Flag-1": flag(True)}),
    )
    await check(stream, [mclear()], om({}), update=om_delta(cleared=True))
    await check(
        stream,
        [madd("PNCounter-2"), mclear(), mupdate("GCounter-1", inc(123))],
        om({"GCounter-1": gc(123)}),
        update=om_delta(cleared=True, added={"GCounter-1": gcounter(123)}),
    )
    await stream.close()


async def test_ormap_initial_delta_in_init(crdt_stream: Streams) -> None:
    stream = await crdt_stream("ORMap-3").init(
        om_delta(
            added={
                "PNCounter-1": pncounter(123),
                "LWWRegister-1": lww("one"),
                "GSet-1": gset("a", "b", "c"),
            }
        )
    )
    await check(
        stream,
        [],
        om({"GSet-1": gs(*"abc"), "LWWRegister-1": lw("one"), "PNCounter-1": pn(123)}),
    )
    await check(
        stream,
        [mremove("LWWRegister-1"), mupdate("PNCounter-1", change(-42))],
        om({"GSet-1": gs(*"abc"), "PNCounter-1": pn(81)}),
        update=om_delta(removed=["LWWRegister-1"], updated={"PNCounter-1": pncounter(-42)}),
    )
    await stream.close()


async def test_ormap_initial_empty_state_with_replicated_initial_delta(
    crdt_stream: Streams,
) -> None:
    stream = await crdt_stream("ORMap-4").init()
    await stream.delta(
        om_delta(
            added={
                "GCounter-1": gcounter(42),
                "ORSet-1": orset(["a", "b", "c"]),
                "Flag-1": flag(False),
            }
        )
    )
    await check(stream, [], om({"Flag-1": fl(False), "GCounter-1": gc(42), "ORSet-1": ors(*"abc")}))
    await stream.close()


async def test_ormap_mix_of_local_and_replicated_state_changes(crdt_stream: Streams) -> None:
    stream = await crdt_stream("ORMap-5").init()
    await check(
        stream,
        [madd("PNCounter-1")],
        om({"PNCounter-1": pn(0)}),
        update=om_delta(added={"PNCounter-1": pncounter(0)}),
    )
    await stream.delta(om_delta(added={"ORSet-1": orset(["x"])}))
    await stream.delta(
        om_delta(added={"LWWRegister-1": lww("one")}, updated={"ORSet-1": orset(["y", "z"])})
    )
    await check(
        stream,
        [madd("ORSet-2"), mupdate("LWWRegister-2", lset("two"))],
        om(
            {
                "LWWRegister-1": lw("one"),
                "LWWRegister-2": lw("two"),
                "ORSet-1": ors(*"xyz"),
                "ORSet-2": ors(),
                "PNCounter-1": pn(0),
            }
        ),
        update=om_delta(added={"LWWRegister-2": lww("two"), "ORSet-2": orset()}),
    )
    await check(
        stream,
        [mupdate("PNCounter-1", change(42)), mupdate("LWWRegister-1", lset("ONE"))],
        om(
            {
                "LWWRegister-1": lw("ONE"),
                "LWWRegister-2": lw("two"),
                "ORSet-1": ors(*"xyz"),
                "ORSet-2": ors(),
                "PNCounter-1": pn(42),
            }
        ),
        update=om_delta(updated={"LWWRegister-1": lww("ONE"), "PNCounter-1": pncounter(42)}),
    )
    await stream.delta(
        om_delta(
            removed=["LWWRegister-2"],
            added={"ORMap-1": om_delta(added={"PNCounter-1": pncounter(123)})},
        )
    )
    await stream.delta(
        om_delta(
            removed=["ORSet-1"],
            updated={
                "ORSet-2": orset(["a", "b", "c"]),
                "ORMap-1": om_delta(added={"LWWRegister-1": lww("ABC")}),
            },
        )
    )
    await check(
        stream,
        [mupdate("ORMap-1", mupdate("PNCounter-1", change(-456)))],
        om(
            {
                "LWWRegister-1": lw("ONE"),
                "ORMap-1": om({"LWWRegister-1": lw("ABC"), "PNCounter-1": pn(-333)}),
                "ORSet-2": ors(*"abc"),
                "PNCounter-1": pn(42),
            }
        ),
        update=om_delta(updated={"ORMap-1": om_delta(updated={"PNCounter-1": pncounter(-456)})}),
    )
    await stream.delta(om_delta(cleared=True, added={"GSet-1": gset("1", "2", "3")}))
    await check(
        stream,
        [
            mremove("PNCounter-1"),
            mremove("LWWRegister-1"),
            mupdate("GSet-1", gadd("2")),
            mupdate("GSet-1", gadd("4")),
            mupdate("GSet-1", gadd("6")),
        ],
        om({"GSet-1": gs(*"12346")}),
        update=om_delta(updated={"GSet-1": gset("4", "6")}),
    )
    await check(
        stream,
        [mclear(), madd("GCounter-1")],
        om({"GCounter-1": gc(0)}),
        update=om_delta(cleared=True, added={"GCounter-1": gcounter(0)}),
    )
    await stream.delta(om_delta(removed=["GSet-1"], added={"GCounter-1": gcounter(42)}))
    await check(
        stream,
        [mupdate("GCounter-1", inc(7))],
        om({"GCounter-1": gc(49)}),
        update=om_delta(updated={"GCounter-1": gcounter(7)}),
    )
    await stream.close()


async def test_ormap_rehydration_after_passivation(crdt_stream: Streams) -> None:
    stream = await crdt_stream("ORMap-6").init()
    await stream.delta(om_delta(added={"PNCounter-1": pncounter(123)}))
    await check(
        stream,
        [mupdate("PNCounter-1", change(321))],
        om({"PNCounter-1": pn(444)}),
        update=om_delta(updated={"PNCounter-1": pncounter(321)}),
    )
    await stream.close()
    stream = await crdt_stream("ORMap-6").init(om_delta(added={"PNCounter-1": pncounter(444)}))
    await check(stream, [], om({"PNCounter-1": pn(444)}))
    await stream.delta(om_delta(updated={"PNCounter-1": pncounter(-42)}))
    await check(
        stream,
        [mupdate("PNCounter-1", change(-360))],
        om({"PNCounter-1": pn(42)}),
        update=om_delta(updated={"PNCounter-1": pncounter(-360)}),
    )
    await stream.close()


async def test_ormap_delete_action_received_from_entity(crdt_stream: Streams) -> None:
    stream = await crdt_stream("ORMap-7").init()
    await check(
        stream,
        [madd("Flag-1")],
        om({"Flag-1": fl(False)}),
        update=om_delta(added={"Flag-1": flag(False)}),
    )
    await check(
        stream, [mupdate("Flag-1", enable()), DELETE], om({"Flag-1": fl(True)}), delete=True
    )
    await stream.close()


async def test_ormap_delete_action_sent_to_entity(crdt_stream: Streams) -> None:
    await delete_sent(crdt_stream("ORMap-8"))


async def test_ormap_nested_vote_sends_only_its_own_vote(crdt_stream: Streams) -> None:
    """Not in the kit: Vote values in a map follow the Vote rules (``VoteDelta{self_vote}``)."""
    stream = await crdt_stream("ORMap-9").init(om_delta(added={"Vote-1": vote(False, 2, 3)}))
    await check(
        stream,
        [mupdate("Vote-1", cast_vote(True)), mupdate("ORSet-1", oadd("a"))],
        om({"ORSet-1": ors("a"), "Vote-1": vt(True, 3, 3)}),
        update=om_delta(updated={"Vote-1": vote(True)}, added={"ORSet-1": orset(["a"])}),
    )
    await stream.close()
