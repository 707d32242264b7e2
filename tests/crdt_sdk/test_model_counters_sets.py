"""The conformance kit's CRDT model cases for GCounter, PNCounter, GSet and ORSet (8 each),
driven straight over the ``Crdt`` protocol against the SDK."""

from __future__ import annotations

from collections.abc import Callable

from tests.crdt_sdk.protocol import (
    CrdtStream,
    gcounter,
    gset,
    orset,
    pncounter,
    reply,
)
from tests.crdt_sdk.steps import (
    DELETE,
    R,
    change,
    check,
    gadd,
    gc,
    gs,
    inc,
    oadd,
    oclear,
    oremove,
    ors,
    pn,
    send,
)

Streams = Callable[..., CrdtStream]


async def delete_sent(stream: CrdtStream) -> None:
    """→UF ``CrdtDelete``: the SDK clears the state, sends nothing, and ends with the stream."""
    await stream.init()
    await stream.delete()
    await stream.close()


# -- GCounter ------------------------------------------------------------------------------------


async def test_gcounter_initial_empty_state(crdt_stream: Streams) -> None:
    stream = await crdt_stream("GCounter-1").init()
    await check(stream, [], gc(0))
    await stream.close()


async def test_gcounter_state_changes(crdt_stream: Streams) -> None:
    stream = await crdt_stream("GCounter-2").init()
    await check(stream, [inc(42)], gc(42), update=gcounter(42))
    await check(stream, [inc(1), inc(2), inc(3)], gc(48), update=gcounter(6))
    await stream.close()


async def test_gcounter_initial_delta_in_init(crdt_stream: Streams) -> None:
    stream = await crdt_stream("GCounter-3").init(gcounter(42))
    await check(stream, [inc(123)], gc(165), update=gcounter(123))
    await stream.close()


async def test_gcounter_initial_empty_state_with_replicated_initial_delta(
    crdt_stream: Streams,
) -> None:
    stream = await crdt_stream("GCounter-4").init()
    await stream.delta(gcounter(42))
    await check(stream, [inc(123)], gc(165), update=gcounter(123))
    await stream.close()


async def test_gcounter_mix_of_local_and_replicated_state_changes(crdt_stream: Streams) -> None:
    stream = await crdt_stream("GCounter-5").init()
    await check(stream, [inc(1)], gc(1), update=gcounter(1))
    await stream.delta(gcounter(2))
    await stream.delta(gcounter(3))
    await check(stream, [], gc(6))
    await check(stream, [inc(4)], gc(10), update=gcounter(4))
    await stream.delta(gcounter(5))
    await check(stream, [inc(6)], gc(21), update=gcounter(6))
    await stream.close()


async def test_gcounter_rehydration_after_passivation(crdt_stream: Streams) -> None:
    stream = await crdt_stream("GCounter-6").init()
    await check(stream, [inc(1)], gc(1), update=gcounter(1))
    await stream.delta(gcounter(2))
    await check(stream, [], gc(3))
    await check(stream, [inc(3)], gc(6), update=gcounter(3))
    await stream.close()
    stream = await crdt_stream("GCounter-6").init(gcounter(6))
    await check(stream, [], gc(6))
    await stream.delta(gcounter(4))
    await check(stream, [inc(5)], gc(15), update=gcounter(5))
    await stream.close()


async def test_gcounter_delete_action_received_from_entity(crdt_stream: Streams) -> None:
    stream = await crdt_stream("GCounter-7").init()
    await check(stream, [inc(42)], gc(42), update=gcounter(42))
    await check(stream, [DELETE], gc(42), delete=True)
    await stream.close()


async def test_gcounter_delete_action_sent_to_entity(crdt_stream: Streams) -> None:
    await delete_sent(crdt_stream("GCounter-8"))


# -- PNCounter -----------------------------------------------------------------------------------


async def test_pncounter_initial_empty_state(crdt_stream: Streams) -> None:
    stream = await crdt_stream("PNCounter-1").init()
    await check(stream, [], pn(0))
    await stream.close()


async def test_pncounter_state_changes(crdt_stream: Streams) -> None:
    stream = await crdt_stream("PNCounter-2").init()
    await check(stream, [change(1), change(-2), change(3)], pn(2), update=pncounter(2))
    await check(stream, [change(-4), change(5), change(-6)], pn(-3), update=pncounter(-5))
    await stream.close()


async def test_pncounter_initial_delta_in_init(crdt_stream: Streams) -> None:
    stream = await crdt_stream("PNCounter-3").init(pncounter(42))
    await check(stream, [change(-123)], pn(-81), update=pncounter(-123))
    await stream.close()


async def test_pncounter_initial_empty_state_with_replicated_initial_delta(
    crdt_stream: Streams,
) -> None:
    stream = await crdt_stream("PNCounter-4").init()
    await stream.delta(pncounter(-42))
    await check(stream, [change(123)], pn(81), update=pncounter(123))
    await stream.close()


async def test_pncounter_mix_of_local_and_replicated_state_changes(crdt_stream: Streams) -> None:
    stream = await crdt_stream("PNCounter-5").init()
    await check(stream, [change(1)], pn(1), update=pncounter(1))
    await stream.delta(pncounter(-2))
    await stream.delta(pncounter(3))
    await check(stream, [], pn(2))
    await check(stream, [change(-4)], pn(-2), update=pncounter(-4))
    await stream.delta(pncounter(5))
    await check(stream, [change(-6)], pn(-3), update=pncounter(-6))
    await stream.close()


async def test_pncounter_rehydration_after_passivation(crdt_stream: Streams) -> None:
    stream = await crdt_stream("PNCounter-6").init()
    await check(stream, [change(1)], pn(1), update=pncounter(1))
    await stream.delta(pncounter(-2))
    await check(stream, [], pn(-1))
    await check(stream, [change(3)], pn(2), update=pncounter(3))
    await stream.close()
    stream = await crdt_stream("PNCounter-6").init(pncounter(2))
    await check(stream, [], pn(2))
    await stream.delta(pncounter(-4))
    await check(stream, [change(5)], pn(3), update=pncounter(5))
    await stream.close()


async def test_pncounter_delete_action_received_from_entity(crdt_stream: Streams) -> None:
    stream = await crdt_stream("PNCounter-7").init()
    await check(stream, [change(42)], pn(42), update=pncounter(42))
    await check(stream, [DELETE], pn(42), delete=True)
    await stream.close()


async def test_pncounter_delete_action_sent_to_entity(crdt_stream: Streams) -> None:
    await delete_sent(crdt_stream("PNCounter-8"))


# -- GSet ----------------------------------------------------------------------------------------


async def test_gset_initial_empty_state(crdt_stream: Streams) -> None:
    stream = await crdt_stream("GSet-1").init()
    await check(stream, [], gs())
    await stream.close()


async def test_gset_state_changes(crdt_stream: Streams) -> None:
    stream = await crdt_stream("GSet-2").init()
    await check(stream, [gadd("a"), gadd("b")], gs("a", "b"), update=gset("a", "b"))
    await check(stream, [gadd("b"), gadd("c")], gs("a", "b", "c"), update=gset("c"))
    await check(stream, [gadd("c"), gadd("a")], gs("a", "b", "c"))
    await stream.close()


async def test_gset_initial_delta_in_init(crdt_stream: Streams) -> None:
    stream = await crdt_stream("GSet-3").init(gset("a", "b", "c"))
    await check(stream, [gadd("c"), gadd("d"), gadd("e")], gs(*"abcde"), update=gset("d", "e"))
    await stream.close()


async def test_gset_initial_empty_state_with_replicated_initial_delta(
    crdt_stream: Streams,
) -> None:
    stream = await crdt_stream("GSet-4").init()
    await stream.delta(gset("x", "y"))
    await check(stream, [gadd("z")], gs("x", "y", "z"), update=gset("z"))
    await stream.close()


async def test_gset_mix_of_local_and_replicated_state_changes(crdt_stream: Streams) -> None:
    stream = await crdt_stream("GSet-5").init()
    await check(stream, [gadd("a")], gs("a"), update=gset("a"))
    for element in "abc":
        await stream.delta(gset(element))
    await check(stream, [], gs("a", "b", "c"))
    await check(stream, [gadd("c"), gadd("d"), gadd("e")], gs(*"abcde"), update=gset("d", "e"))
    await stream.delta(gset("f"))
    await check(stream, [gadd("g"), gadd("d"), gadd("b")], gs(*"abcdefg"), update=gset("g"))
    await stream.close()


async def test_gset_rehydration_after_passivation(crdt_stream: Streams) -> None:
    stream = await crdt_stream("GSet-6").init()
    await check(stream, [gadd("a")], gs("a"), update=gset("a"))
    await stream.delta(gset("b"))
    await check(stream, [], gs("a", "b"))
    await check(stream, [gadd("c")], gs("a", "b", "c"), update=gset("c"))
    await stream.close()
    stream = await crdt_stream("GSet-6").init(gset("a", "b", "c"))
    await check(stream, [], gs("a", "b", "c"))
    await stream.delta(gset("d"))
    await check(stream, [gadd("e")], gs(*"abcde"), update=gset("e"))
    await stream.close()


async def test_gset_delete_action_received_from_entity(crdt_stream: Streams) -> None:
    stream = await crdt_stream("GSet-7").init()
    await check(stream, [gadd("x")], gs("x"), update=gset("x"))
    await check(stream, [DELETE], gs("x"), delete=True)
    await stream.close()


async def test_gset_delete_action_sent_to_entity(crdt_stream: Streams) -> None:
    await delete_sent(crdt_stream("GSet-8"))


# -- ORSet ---------------------------------------------------------------------------------------


async def test_orset_initial_empty_state(crdt_stream: Streams) -> None:
    stream = await crdt_stream("ORSet-1").init()
    await check(stream, [], ors())
    await stream.close()


async def test_orset_state_changes(crdt_stream: Streams) -> None:
    stream = await crdt_stream("ORSet-2").init()
    await check(stream, [oadd("a"), oadd("b")], ors("a", "b"), update=orset(["a", "b"]))
    await check(stream, [oadd("b"), oadd("c")], ors("a", "b", "c"), update=orset(["c"]))
    await check(stream, [oadd("c"), oadd("a")], ors("a", "b", "c"))
    await check(stream, [oremove("b"), oremove("d")], ors("a", "c"), update=orset(removed=["b"]))
    await check(
        stream,
        [oremove("c"), oremove("d"), oadd("b"), oadd("c")],
        ors("a", "b", "c"),
        update=orset(["b"]),
    )
    await check(stream, [oclear()], ors(), update=orset(cleared=True))
    await check(
        stream, [oadd("a"), oclear(), oadd("x")], ors("x"), update=orset(["x"], cleared=True)
    )
    await stream.close()


async def test_orset_initial_delta_in_init(crdt_stream: Streams) -> None:
    stream = await crdt_stream("ORSet-3").init(orset(["a", "b", "c"]))
    await check(stream, [oremove("c"), oadd("d")], ors("a", "b", "d"), update=orset(["d"], ["c"]))
    await stream.close()


async def test_orset_initial_empty_state_with_replicated_initial_delta(
    crdt_stream: Streams,
) -> None:
    stream = await crdt_stream("ORSet-4").init()
    await stream.delta(orset(["x", "y"]))
    await check(stream, [oremove("x"), oadd("z")], ors("y", "z"), update=orset(["z"], ["x"]))
    await stream.close()


async def test_orset_mix_of_local_and_replicated_state_changes(crdt_stream: Streams) -> None:
    stream = await crdt_stream("ORSet-5").init()
    await check(stream, [oadd("a")], ors("a"), update=orset(["a"]))
    await stream.delta(orset(["a", "b"]))
    await stream.delta(orset(["c", "d"]))
    await stream.delta(orset(removed=["b", "d"]))
    await check(stream, [], ors("a", "c"))
    await check(stream, [oadd("c"), oadd("d"), oadd("e")], ors(*"acde"), update=orset(["d", "e"]))
    await stream.delta(orset(["f"], ["a", "c"]))
    await check(
        stream,
        [oadd("g"), oremove("a"), oremove("d")],
        ors("e", "f", "g"),
        update=orset(["g"], ["d"]),
    )
    await stream.delta(orset(["x", "y", "z"], cleared=True))
    await check(
        stream,
        [oadd("q"), oadd("x"), oremove("z")],
        ors("q", "x", "y"),
        update=orset(["q"], ["z"]),
    )
    await stream.delta(orset(["r", "p"], ["x", "y"]))
    await check(stream, [oadd("s")], ors(*"pqrs"), update=orset(["s"]))
    await stream.delta(orset(["a", "b", "c"]))
    await check(
        stream,
        [oclear(), oadd("a"), oadd("b"), oadd("c")],
        ors("a", "b", "c"),
        update=orset(["a", "b", "c"], cleared=True),
    )
    await stream.close()


async def test_orset_rehydration_after_passivation(crdt_stream: Streams) -> None:
    stream = await crdt_stream("ORSet-6").init()
    await check(stream, [oadd("a")], ors("a"), update=orset(["a"]))
    await stream.delta(orset(["b"], ["a"]))
    await check(stream, [], ors("b"))
    await check(stream, [oadd("c")], ors("b", "c"), update=orset(["c"]))
    await stream.close()
    stream = await crdt_stream("ORSet-6").init(orset(["b", "c"]))
    await check(stream, [], ors("b", "c"))
    await stream.delta(orset(["p", "q"], cleared=True))
    await check(
        stream,
        [oadd("x"), oadd("y"), oremove("x")],
        ors("p", "q", "y"),
        update=orset(["y"]),
    )
    await stream.close()


async def test_orset_delete_action_received_from_entity(crdt_stream: Streams) -> None:
    stream = await crdt_stream("ORSet-7").init()
    await check(stream, [oadd("x")], ors("x"), update=orset(["x"]))
    await check(stream, [DELETE], ors("x"), delete=True)
    await stream.close()


async def test_orset_delete_action_sent_to_entity(crdt_stream: Streams) -> None:
    await delete_sent(crdt_stream("ORSet-8"))


async def test_a_command_after_a_replicated_delete_finds_no_state(crdt_stream: Streams) -> None:
    """Not in the kit: after ``CrdtDelete`` the CRDT is gone (``state_of(None)`` = empty)."""
    stream = await crdt_stream("ORSet-9").init(orset(["a"]))
    await stream.delete()
    command_id = await send(stream)
    from tests.crdt_sdk.model import State

    await stream.expect(reply(command_id, R(State())))
    await stream.close()
