"""The store contract for running a deployment for years: value expiry, consumer resets, parked
messages (eventing dead letters) and view generations (rebuilds). Mixed into
:class:`~cloudstate.proxy.stores.contract.StoreContract`; for test code only (like it).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from cloudstate.proxy.stores.base import (
    ConsumerPosition,
    DurableTask,
    OffsetWasReset,
    ParkedMessage,
    Payload,
    Store,
    TopicMessage,
    ViewGeneration,
    ViewRow,
    ViewSelect,
    view_generation_id,
)

_EVENT = "type.googleapis.com/test.Event"
_STATE = "type.googleapis.com/test.State"


def _payload(url: str, n: int) -> Payload:
    return Payload(url, f"{n}".encode())


def parked(consumer_id: str, offset: int, key: str = "e-1") -> ParkedMessage:
    """A parked message for the tests."""
    return ParkedMessage(
        consumer_id,
        offset,
        key,
        _payload(_EVENT, offset),
        b"\x0a\x00",
        f"event {offset} of p|{key}",
        attempts=3,
        last_error=f"boom {offset}",
        failed_at=1000.0 + offset,
    )


class OperationsContract:
    """Tests of the operations contract (collected through StoreContract's subclasses)."""

    # -- value expiry ---------------------------------------------------------------------------

    async def test_value_expiry_reads_as_absent(self, store: Store) -> None:
        now = time.time()
        assert await store.save_value("v", "live", _payload(_STATE, 1), expires_at=now + 3600) == 1
        assert await store.save_value("v", "gone", _payload(_STATE, 2), expires_at=now - 1) == 1
        live = await store.load_value("v", "live")
        assert live is not None and live.payload == _payload(_STATE, 1)
        # The expiry is read back: an active entity must stop serving it from memory then.
        assert live.expires_at == pytest.approx(now + 3600)
        assert await store.load_value("v", "gone") is None
        # An expired value is as good as deleted for a conditional write: 0 matches it ...
        assert await store.save_value("v", "gone", _payload(_STATE, 3), expected_version=0) == 2
        value = await store.load_value("v", "gone")
        assert value is not None and value.version == 2  # ... and the versions keep growing
        # A write without expires_at never expires, even where the last one would have.
        await store.save_value("v", "live", _payload(_STATE, 4), expires_at=now - 1)
        assert await store.load_value("v", "live") is None
        await store.save_value("v", "live", _payload(_STATE, 5))
        never = await store.load_value("v", "live")
        assert never is not None and never.expires_at is None

    async def test_value_expiry_with_an_outbox_and_tasks(self, store: Store) -> None:
        past, future = time.time() - 1, time.time() + 3600
        message = TopicMessage(_payload(_EVENT, 1), id="m1")
        task = DurableTask("timer:t", "t#1", "s.S", "M", _payload(_EVENT, 2), due=future)
        await store.save_value(
            "v", "o", _payload(_STATE, 1), outbox=[("t", message)], expires_at=past
        )
        await store.save_value("v", "d", _payload(_STATE, 2), tasks=[task], expires_at=past)
        await store.save_value("v", "k", _payload(_STATE, 3), tasks=[task], expires_at=future)
        assert await store.load_value("v", "o") is None
        assert await store.load_value("v", "d") is None
        assert await store.load_value("v", "k") is not None
        assert [m.id async for m in store.read_topic("t")] == ["m1"]
        assert [t.name for t in await store.list_tasks()] == ["timer:t"]

    async def test_value_expiry_after_a_short_while(self, store: Store) -> None:
        await store.save_value("v", "soon", _payload(_STATE, 1), expires_at=time.time() + 0.3)
        assert await store.load_value("v", "soon") is not None
        await asyncio.sleep(0.5)
        assert await store.load_value("v", "soon") is None

    async def test_purge_expired_values_in_rounds(self, store: Store) -> None:
        now = time.time()
        for n in range(5):
            await store.save_value("v", f"e{n}", _payload(_STATE, n), expires_at=now - 10)
        await store.save_value("v", "later", _payload(_STATE, 9), expires_at=now + 3600)
        await store.save_value("v", "never", _payload(_STATE, 9))
        assert await store.purge_expired_values(now, 2) == 2
        assert await store.purge_expired_values(now, 2) == 2
        assert await store.purge_expired_values(now, 2) == 1
        assert await store.purge_expired_values(now, 2) == 0
        assert await store.load_value("v", "later") is not None
        assert await store.load_value("v", "never") is not None
        assert await store.load_value("v", "e0") is None
        assert sorted(await store.list_entity_ids("v")) == ["later", "never"]
        # A purged value is a tombstone: its version is kept, the next write goes above it.
        assert await store.save_value("v", "e0", _payload(_STATE, 1), expected_version=0) == 2

    # -- consumer reset -------------------------------------------------------------------------

    async def test_reset_offset_moves_back_and_bumps_the_generation(self, store: Store) -> None:
        assert await store.load_position("c") == ConsumerPosition(0, 0)
        await store.save_offset("c", 10)
        assert await store.load_position("c") == ConsumerPosition(10, 0)
        assert await store.reset_offset("c", 3) == 1
        assert await store.load_position("c") == ConsumerPosition(3, 1)
        assert await store.load_offset("c") == 3
        # The consumer that read generation 0 cannot commit its old batch over the reset.
        with pytest.raises(OffsetWasReset) as refused:
            await store.save_offset("c", 20, generation=0)
        assert refused.value.consumer_id == "c" and refused.value.actual == 1
        assert await store.load_position("c") == ConsumerPosition(3, 1)
        await store.save_offset("c", 20, generation=1)
        assert await store.load_position("c") == ConsumerPosition(20, 1)
        assert await store.reset_offset("new", 7) == 1
        assert await store.load_position("new") == ConsumerPosition(7, 1)

    async def test_view_updates_refused_after_a_reset(self, store: Store) -> None:
        assert await store.apply_view_updates({"v": [ViewRow("a", b"1")]}, "c", 5, generation=0)
        await store.reset_offset("c", 0)
        with pytest.raises(OffsetWasReset):
            await store.apply_view_updates({"v": [ViewRow("b", b"2")]}, "c", 9, generation=0)
        assert await store.load_view_rows("v", ["a", "b"]) == {"a": b"1"}
        assert await store.load_position("c") == ConsumerPosition(0, 1)

    async def test_offsets_before_a_time(self, store: Store) -> None:
        await store.append_events("p", "a", 0, [_payload(_EVENT, 1), _payload(_EVENT, 2)])
        first = await store.append_topic("t", [TopicMessage(_payload(_EVENT, 1))])
        await asyncio.sleep(0.05)
        between = time.time()
        await asyncio.sleep(0.05)
        await store.append_events("p", "a", 2, [_payload(_EVENT, 3)])
        await store.append_topic("t", [TopicMessage(_payload(_EVENT, 2))])
        offsets = [e.offset async for _, e in store.read_all_events("p")]
        assert await store.event_offset_before("p", between) == offsets[1]
        assert await store.event_offset_before("p", 0.0) == 0
        assert await store.event_offset_before("p", time.time() + 1) == offsets[2]
        assert await store.event_offset_before("other", time.time() + 1) == 0
        assert await store.topic_offset_before("t", between) == first
        assert await store.topic_offset_before("t", 0.0) == 0

    # -- parked messages ------------------------------------------------------------------------

    async def test_park_list_count_redrive_drop(self, store: Store) -> None:
        for message in (parked("a", 7), parked("a", 3, "e-2"), parked("b", 5)):
            await store.park_message(message)
        assert await store.list_parked("a") == [parked("a", 3, "e-2"), parked("a", 7)]
        assert [(m.consumer_id, m.offset) for m in await store.list_parked()] == [
            ("a", 3),
            ("a", 7),
            ("b", 5),
        ]
        assert [m.offset for m in await store.list_parked(limit=1)] == [3]
        assert await store.count_parked() == {"a": 2, "b": 1}
        assert await store.list_parked("a", redrive_only=True) == []
        assert await store.redrive_parked("a", 7) == 1
        assert await store.redrive_parked("a", 99) == 0
        assert [m.offset for m in await store.list_parked("a", redrive_only=True)] == [7]
        assert await store.redrive_parked("b") == 1
        assert [m.redrive for m in await store.list_parked("b")] == [True]
        # Parking again (a redrive that failed) replaces it, the redrive request cleared.
        await store.park_message(parked("a", 7))
        assert await store.list_parked("a", redrive_only=True) == []
        assert await store.drop_parked("a", 3) == 1
        assert await store.drop_parked("a", 3) == 0
        assert await store.drop_parked("b") == 1
        assert await store.count_parked() == {"a": 1}

    async def test_finish_parked_lands_once_with_its_rows(self, store: Store) -> None:
        await store.park_message(parked("view", 4))
        rows = {"t": [ViewRow("k", b"redriven", {"s1": "x"})]}
        assert await store.finish_parked("view", 4, rows)
        assert await store.load_view_rows("t", ["k"]) == {"k": b"redriven"}
        again = {"t": [ViewRow("k", b"twice")]}
        assert not await store.finish_parked("view", 4, again)
        assert await store.load_view_rows("t", ["k"]) == {"k": b"redriven"}
        assert await store.count_parked() == {}
        await store.park_message(parked("action", 1))
        assert await store.finish_parked("action", 1)
        assert await store.list_parked("action") == []

    # -- view generations -----------------------------------------------------------------------

    async def test_view_rebuild_swaps_in_one_step(self, store: Store) -> None:
        everything = ViewSelect()
        old = {"v": [ViewRow("a", b"old-a"), ViewRow("b", b"old-b")], "w": [ViewRow("x", b"X")]}
        assert await store.apply_view_updates(old, "c", 10)
        assert await store.load_view_generations(["v", "w"]) == {
            "v": ViewGeneration(),
            "w": ViewGeneration(),
        }
        generation = await store.start_view_rebuild(["v", "w"])
        assert generation == 1
        assert (await store.load_view_generations(["v"]))["v"] == ViewGeneration(0, 1)
        new = {
            view_generation_id("v", 1): [ViewRow("a", b"new-a")],
            view_generation_id("w", 1): [ViewRow("y", b"Y")],
        }
        assert await store.apply_view_updates(new, "c~rebuild", 8)
        # Until the swap the old rows answer; the old consumer keeps writing them.
        assert await store.query_view("v", everything) == [b"old-a", b"old-b"]
        assert await store.apply_view_updates({"v": [ViewRow("c", b"old-c")]}, "c", 11, 0)
        assert not await store.swap_view_generation(["v", "w"], 2, "c", "c~rebuild")
        assert await store.swap_view_generation(["v", "w"], 1, "c", "c~rebuild")
        assert await store.query_view("v", everything) == [b"new-a"]
        assert await store.query_view("w", everything) == [b"Y"]
        assert await store.load_view_rows("v", ["a", "b", "c"]) == {}  # old rows deleted
        # The live consumer continues from the rebuild's offset; the old loop is refused.
        assert await store.load_position("c") == ConsumerPosition(8, 1)
        assert await store.load_position("c~rebuild") == ConsumerPosition(0, 0)
        with pytest.raises(OffsetWasReset):
            await store.apply_view_updates({"v": [ViewRow("d", b"late")]}, "c", 12, 0)
        assert await store.load_view_generations(["v"]) == {"v": ViewGeneration(1, None)}
        assert not await store.swap_view_generation(["v", "w"], 1, "c", "c~rebuild")

    async def test_a_new_rebuild_starts_from_empty_rows(self, store: Store) -> None:
        assert await store.start_view_rebuild(["v"]) == 1
        await store.apply_view_updates({view_generation_id("v", 1): [ViewRow("a", b"1")]}, "r", 1)
        assert await store.start_view_rebuild(["v"]) == 2  # supersedes the running one
        assert await store.load_view_rows(view_generation_id("v", 1), ["a"]) == {}
        assert await store.load_view_generations(["v"]) == {"v": ViewGeneration(0, 2)}
        assert not await store.swap_view_generation(["v"], 1, "c", "r")
        assert await store.swap_view_generation(["v"], 2, "c", "r")
        assert await store.start_view_rebuild(["v"]) == 3
