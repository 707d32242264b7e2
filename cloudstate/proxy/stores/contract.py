"""The behaviour every :class:`~cloudstate.proxy.stores.base.Store` backend must have, as one
abstract pytest suite: this project's backends run it, and so can a backend in another package.

One concern: the store contract's tests (long because the contract is).

**For test code only.** It imports pytest and pytest-asyncio, which ``cloudstate`` does not
depend on (install them in your test environment), and nothing in ``cloudstate`` imports it.

Subclass :class:`StoreContract` in a test module, in a class whose name starts with ``Test``
(this one's does not, so pytest collects it only through your subclass), and override the
``store`` fixture to yield a started, empty store of your backend; every test of the suite then
runs against it. Add your backend's own tests to the same class::

    # tests/test_my_store.py
    from collections.abc import AsyncIterator
    from pathlib import Path

    import pytest_asyncio

    from cloudstate.proxy.stores.base import Store
    from cloudstate.proxy.stores.contract import StoreContract
    from cloudstate.proxy.stores.registry import open_store, register_backend

    register_backend("mystore", "my_package.store:MyStore")


    class TestMyStore(StoreContract):
        @pytest_asyncio.fixture
        async def store(self, tmp_path: Path) -> AsyncIterator[Store]:
            store = await open_store(f"mystore:///{tmp_path}/db")
            yield store
            await store.close()

The suite's tests are ``async def`` methods marked ``asyncio``, so pytest-asyncio runs them in
any mode (in strict mode, mark your own async tests yourself); some close the store themselves,
so the fixture's ``close()`` must be harmless the second time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from cloudstate.proxy.stores.base import (
    ConcurrentWriteError,
    DeadLetter,
    DurableTask,
    IdempotencyKeyTaken,
    IdempotencyRecord,
    Payload,
    Store,
    StoredEvent,
    StoreError,
    TaskCancel,
    TopicMessage,
    ViewFilter,
    ViewRow,
    ViewSelect,
)
from cloudstate.proxy.stores.replay import replay_events

EVENT_URL = "type.googleapis.com/test.Event"
STATE_URL = "type.googleapis.com/test.State"


def event(n: int) -> Payload:
    return Payload(EVENT_URL, f"event-{n}".encode())


def state(n: int) -> Payload:
    return Payload(STATE_URL, f"state-{n}".encode())


def task(name: str, key: str = "", due: float = 1000.0, **fields: object) -> DurableTask:
    """A durable task for tests: ``key`` defaults to ``<name>#1``, the call to ``svc.Target/Run``
    with a payload naming the task."""
    return DurableTask(
        name,
        key or f"{name}#1",
        "svc.Target",
        "Run",
        Payload("type.googleapis.com/test.Call", name.encode()),
        due,
        **fields,  # type: ignore[arg-type]
    )


def record(
    key: str, fingerprint: str = "svc.Target/Run:abc", response: bytes = b"ok"
) -> IdempotencyRecord:
    """An idempotency record for tests."""
    return IdempotencyRecord(key, fingerprint, response)


async def events_of(
    store: Store, persistence_id: str, entity_id: str, after: int = 0
) -> list[StoredEvent]:
    return [e async for e in store.read_events(persistence_id, entity_id, after)]


async def feed_of(
    store: Store, persistence_id: str, after_offset: int = 0, limit: int = 1000
) -> list[tuple[str, StoredEvent]]:
    return [item async for item in store.read_all_events(persistence_id, after_offset, limit)]


class StoreContract:
    """Abstract suite: subclasses provide a started, empty store through the ``store`` fixture."""

    @pytest_asyncio.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[Store]:
        """A started, empty store; ``tmp_path`` is the backend's private directory."""
        raise NotImplementedError("backend test classes override the store fixture")
        yield  # pragma: no cover - makes this an async generator like the overrides

    # -- journal ------------------------------------------------------------------------------

    async def test_empty_entity(self, store: Store) -> None:
        assert await events_of(store, "carts", "nobody") == []
        assert await store.highest_sequence("carts", "nobody") == 0
        assert await store.load_snapshot("carts", "nobody") is None
        assert await feed_of(store, "carts") == []

    async def test_append_and_read_in_order(self, store: Store) -> None:
        assert await store.append_events("carts", "alice", 0, [event(1), event(2)]) == 2
        assert await store.append_events("carts", "alice", 2, [event(3)]) == 3
        stored = await events_of(store, "carts", "alice")
        assert [e.sequence for e in stored] == [1, 2, 3]
        assert [e.payload for e in stored] == [event(1), event(2), event(3)]
        offsets = [e.offset for e in stored]
        assert offsets == sorted(offsets) and len(set(offsets)) == 3 and offsets[0] > 0
        assert all(e.timestamp > 0 for e in stored)

    async def test_entities_are_separate(self, store: Store) -> None:
        await store.append_events("carts", "alice", 0, [event(1)])
        await store.append_events("carts", "bob", 0, [event(10), event(11)])
        await store.append_events("orders", "alice", 0, [event(20)])
        assert [e.payload for e in await events_of(store, "carts", "alice")] == [event(1)]
        assert [e.sequence for e in await events_of(store, "carts", "bob")] == [1, 2]
        assert [e.payload for e in await events_of(store, "orders", "alice")] == [event(20)]

    async def test_read_after_sequence(self, store: Store) -> None:
        await store.append_events("carts", "alice", 0, [event(n) for n in range(1, 6)])
        assert [e.sequence for e in await events_of(store, "carts", "alice", 3)] == [4, 5]
        assert await events_of(store, "carts", "alice", 5) == []
        assert len(await events_of(store, "carts", "alice", 0)) == 5

    async def test_read_many_events_across_pages(self, store: Store) -> None:
        # More than one page of the SQLite reader (256 rows).
        expected = 0
        for chunk in range(7):
            payloads = [event(chunk * 100 + n) for n in range(100)]
            expected = await store.append_events("carts", "big", expected, payloads)
        stored = await events_of(store, "carts", "big")
        assert [e.sequence for e in stored] == list(range(1, 701))
        assert stored[-1].payload == event(699)
        assert [e.sequence for e in await events_of(store, "carts", "big", 300)][:2] == [301, 302]

    async def test_highest_sequence(self, store: Store) -> None:
        await store.append_events("carts", "alice", 0, [event(1), event(2), event(3)])
        assert await store.highest_sequence("carts", "alice") == 3
        await store.append_events("carts", "alice", 3, [event(4)])
        assert await store.highest_sequence("carts", "alice") == 4

    async def test_concurrent_write_error_writes_nothing(self, store: Store) -> None:
        await store.append_events("carts", "alice", 0, [event(1), event(2)])
        with pytest.raises(ConcurrentWriteError) as caught:
            await store.append_events("carts", "alice", 1, [event(99)], snapshot=state(99))
        error = caught.value
        assert (error.persistence_id, error.entity_id) == ("carts", "alice")
        assert (error.expected, error.actual) == (1, 2)
        assert isinstance(error, StoreError)
        with pytest.raises(ConcurrentWriteError) as caught:
            await store.append_events("carts", "alice", 5, [event(99)])
        assert (caught.value.expected, caught.value.actual) == (5, 2)
        assert [e.payload for e in await events_of(store, "carts", "alice")] == [event(1), event(2)]
        assert await store.highest_sequence("carts", "alice") == 2
        assert await store.load_snapshot("carts", "alice") is None
        assert len(await feed_of(store, "carts")) == 2

    async def test_conflict_on_new_entity_leaves_no_trace(self, store: Store) -> None:
        with pytest.raises(ConcurrentWriteError):
            await store.append_events("carts", "ghost", 3, [event(1)])
        assert await store.list_entity_ids("carts") == []
        assert await store.list_persistence_ids() == []

    async def test_empty_events_rejected(self, store: Store) -> None:
        with pytest.raises(ValueError):
            await store.append_events("carts", "alice", 0, [])
        with pytest.raises(ValueError):
            await store.append_events("carts", "alice", 0, [], snapshot=state(1))
        assert await store.load_snapshot("carts", "alice") is None
        assert await store.list_persistence_ids() == []

    async def test_snapshot_saved_with_events(self, store: Store) -> None:
        await store.append_events("carts", "alice", 0, [event(1), event(2)], snapshot=state(2))
        snapshot = await store.load_snapshot("carts", "alice")
        assert snapshot is not None
        assert (snapshot.sequence, snapshot.payload) == (2, state(2))
        # An append without a snapshot keeps the old one.
        await store.append_events("carts", "alice", 2, [event(3)])
        snapshot = await store.load_snapshot("carts", "alice")
        assert snapshot is not None and snapshot.sequence == 2
        # A newer snapshot replaces it.
        await store.append_events("carts", "alice", 3, [event(4), event(5)], snapshot=state(5))
        snapshot = await store.load_snapshot("carts", "alice")
        assert snapshot is not None
        assert (snapshot.sequence, snapshot.payload) == (5, state(5))
        assert await store.load_snapshot("carts", "bob") is None

    async def test_replay_of_a_sound_journal_passes_its_checks(self, store: Store) -> None:
        # A backend keeps the event at a snapshot's sequence: the checked replay reads it to
        # know the snapshot is not ahead of the journal, and hands out only the events after it.
        await store.append_events("carts", "alice", 0, [event(1), event(2)])
        await store.append_events("carts", "alice", 2, [event(3)], snapshot=state(3))
        await store.append_events("carts", "alice", 3, [event(4), event(5)])
        replayed = [e async for e in replay_events(store, "carts", "alice")]
        assert [(e.sequence, e.payload) for e in replayed] == [(n, event(n)) for n in range(1, 6)]
        snapshot = await store.load_snapshot("carts", "alice")
        assert snapshot is not None and snapshot.sequence == 3
        tail = [e async for e in replay_events(store, "carts", "alice", snapshot.sequence)]
        assert [(e.sequence, e.payload) for e in tail] == [(4, event(4)), (5, event(5))]
        await store.append_events("carts", "bob", 0, [event(1)], snapshot=state(1))
        assert [e async for e in replay_events(store, "carts", "bob", 1)] == []
        assert [e async for e in replay_events(store, "carts", "nobody")] == []

    async def test_read_all_events_in_offset_order(self, store: Store) -> None:
        await store.append_events("carts", "alice", 0, [event(1), event(2)])
        await store.append_events("carts", "bob", 0, [event(3)])
        await store.append_events("orders", "alice", 0, [event(100)])
        await store.append_events("carts", "alice", 2, [event(4)])
        feed = await feed_of(store, "carts")
        assert [(eid, e.payload) for eid, e in feed] == [
            ("alice", event(1)),
            ("alice", event(2)),
            ("bob", event(3)),
            ("alice", event(4)),
        ]
        assert [e.sequence for _, e in feed] == [1, 2, 1, 3]
        offsets = [e.offset for _, e in feed]
        assert offsets == sorted(offsets) and len(set(offsets)) == 4
        # Offsets are store-wide: the other persistence id's event sits between them.
        (other,) = await feed_of(store, "orders")
        assert offsets[2] < other[1].offset < offsets[3]

    async def test_read_all_events_after_offset_and_limit(self, store: Store) -> None:
        for n in range(10):
            await store.append_events("carts", f"e{n % 3}", n // 3, [event(n)])
        feed = await feed_of(store, "carts")
        assert [e.payload for _, e in feed] == [event(n) for n in range(10)]
        offsets = [e.offset for _, e in feed]
        assert [e.offset for _, e in await feed_of(store, "carts", offsets[3])] == offsets[4:]
        assert [e.offset for _, e in await feed_of(store, "carts", 0, 4)] == offsets[:4]
        assert [e.offset for _, e in await feed_of(store, "carts", offsets[6], 2)] == offsets[7:9]
        assert await feed_of(store, "carts", offsets[-1]) == []
        assert await feed_of(store, "carts", 0, 0) == []
        # Resuming page by page visits every event once.
        resumed: list[int] = []
        after = 0
        while page := await feed_of(store, "carts", after, 3):
            resumed.extend(e.offset for _, e in page)
            after = page[-1][1].offset
        assert resumed == offsets

    async def test_read_all_events_large_limit_spans_pages(self, store: Store) -> None:
        expected = 0
        for chunk in range(6):
            payloads = [event(chunk * 100 + n) for n in range(100)]
            expected = await store.append_events("carts", "big", expected, payloads)
        feed = await feed_of(store, "carts", 0, 550)
        assert [e.sequence for _, e in feed] == list(range(1, 551))
        assert len(await feed_of(store, "carts", 0, 10_000)) == 600

    # -- value entities -----------------------------------------------------------------------

    async def test_value_create_replace_delete(self, store: Store) -> None:
        assert await store.load_value("counters", "c1") is None
        assert await store.save_value("counters", "c1", state(1)) == 1
        stored = await store.load_value("counters", "c1")
        assert stored is not None and (stored.payload, stored.version) == (state(1), 1)
        assert await store.save_value("counters", "c1", state(2)) == 2
        stored = await store.load_value("counters", "c1")
        assert stored is not None and (stored.payload, stored.version) == (state(2), 2)
        assert await store.save_value("counters", "c1", None) == 3
        assert await store.load_value("counters", "c1") is None

    async def test_value_versions_grow_across_delete(self, store: Store) -> None:
        await store.save_value("counters", "c1", state(1))
        await store.save_value("counters", "c1", None)
        assert await store.save_value("counters", "c1", state(3)) == 3
        stored = await store.load_value("counters", "c1")
        assert stored is not None and (stored.payload, stored.version) == (state(3), 3)
        # Deleting a value that never existed is a write too.
        assert await store.save_value("counters", "never", None) == 1
        assert await store.load_value("counters", "never") is None

    async def test_value_conditional_writes(self, store: Store) -> None:
        assert await store.save_value("counters", "c1", state(1), expected_version=0) == 1
        with pytest.raises(ConcurrentWriteError) as caught:
            await store.save_value("counters", "c1", state(9), expected_version=0)
        assert (caught.value.expected, caught.value.actual) == (0, 1)
        assert await store.save_value("counters", "c1", state(2), expected_version=1) == 2
        with pytest.raises(ConcurrentWriteError):
            await store.save_value("counters", "c1", None, expected_version=1)
        stored = await store.load_value("counters", "c1")
        assert stored is not None and (stored.payload, stored.version) == (state(2), 2)
        with pytest.raises(ConcurrentWriteError):
            await store.save_value("counters", "new", state(1), expected_version=1)
        assert await store.load_value("counters", "new") is None

    async def test_value_conditional_writes_after_delete(self, store: Store) -> None:
        await store.save_value("counters", "c1", state(1))
        assert await store.save_value("counters", "c1", None, expected_version=1) == 2
        # A writer that held the value from before the delete is stale.
        with pytest.raises(ConcurrentWriteError) as caught:
            await store.save_value("counters", "c1", state(9), expected_version=1)
        assert caught.value.actual == 2
        # The deleter knows version 2; a writer that loaded None knows 0. Both may write.
        assert await store.save_value("counters", "c1", state(3), expected_version=2) == 3
        await store.save_value("counters", "c1", None)
        assert await store.save_value("counters", "c1", state(5), expected_version=0) == 5
        stored = await store.load_value("counters", "c1")
        assert stored is not None and (stored.payload, stored.version) == (state(5), 5)

    async def test_values_do_not_appear_in_journal(self, store: Store) -> None:
        await store.save_value("counters", "c1", state(1))
        assert await store.highest_sequence("counters", "c1") == 0
        assert await feed_of(store, "counters") == []

    # -- inspection ---------------------------------------------------------------------------

    async def test_listing(self, store: Store) -> None:
        assert await store.list_persistence_ids() == []
        await store.append_events("carts", "bob", 0, [event(1)])
        await store.append_events("carts", "alice", 0, [event(1)], snapshot=state(1))
        await store.save_value("counters", "c2", state(1))
        await store.save_value("counters", "c1", state(1))
        await store.save_value("gone", "x", state(1))
        await store.save_value("gone", "x", None)
        await store.save_value("counters", "deleted", state(1))
        await store.save_value("counters", "deleted", None)
        assert await store.list_persistence_ids() == ["carts", "counters"]
        assert await store.list_entity_ids("carts") == ["alice", "bob"]
        assert await store.list_entity_ids("counters") == ["c1", "c2"]
        assert await store.list_entity_ids("gone") == []
        assert await store.list_entity_ids("unknown") == []

    async def test_listing_pages_by_prefix(self, store: Store) -> None:
        ids = ["a1", "a2", "a10", "ab", "b1", "é1", "\u00e9z", "a%", "a_"]
        for n, entity_id in enumerate(ids):
            if n % 3 == 0:
                await store.append_events("carts", entity_id, 0, [event(1)])
            elif n % 3 == 1:
                await store.save_value("carts", entity_id, state(1))
            else:
                await store.append_events("carts", entity_id, 0, [event(1)], snapshot=state(1))
        await store.save_value("carts", "a3", state(1))
        await store.save_value("carts", "a3", None)  # deleted: never listed
        await store.save_value("others", "a4", state(1))
        ordered = sorted(set(ids), key=lambda text: text.encode())
        assert await store.list_entity_ids("carts") == ordered
        pages: list[list[str]] = []
        after = ""
        for _ in range(len(ids) + 1):  # bounded: a page that repeats ids never ends
            page = await store.list_entity_ids("carts", after=after, limit=2)
            if not page:
                break
            pages.append(page)
            after = page[-1]
        assert [len(page) for page in pages] == [2, 2, 2, 2, 1]
        assert [entity_id for page in pages for entity_id in page] == ordered
        # A prefix is literal (no LIKE wildcards) and pages the same way.
        assert await store.list_entity_ids("carts", prefix="a") == [
            "a%",
            "a1",
            "a10",
            "a2",
            "a_",
            "ab",
        ]
        assert await store.list_entity_ids("carts", prefix="a%") == ["a%"]
        assert await store.list_entity_ids("carts", prefix="a_") == ["a_"]
        assert await store.list_entity_ids("carts", prefix="a1") == ["a1", "a10"]
        assert await store.list_entity_ids("carts", prefix="a", after="a10", limit=2) == [
            "a2",
            "a_",
        ]
        assert await store.list_entity_ids("carts", prefix="\u00e9") == ["é1", "éz"]
        assert await store.list_entity_ids("carts", limit=0) == []
        assert await store.list_entity_ids("carts", prefix="z") == []

    # -- concurrency and lifecycle ------------------------------------------------------------

    async def test_concurrent_appenders(self, store: Store) -> None:
        entities = [f"entity-{n:03}" for n in range(200)]
        rounds = 5

        async def appender(entity_id: str) -> None:
            sequence = 0
            for n in range(rounds):
                snapshot = state(n) if n == rounds - 1 else None
                payload = Payload(EVENT_URL, f"{entity_id}:{n}".encode())
                sequence = await store.append_events(
                    "load", entity_id, sequence, [payload], snapshot=snapshot
                )

        await asyncio.gather(*(appender(entity_id) for entity_id in entities))
        for entity_id in entities:
            stored = await events_of(store, "load", entity_id)
            assert [e.sequence for e in stored] == list(range(1, rounds + 1))
            assert [e.payload.value for e in stored] == [
                f"{entity_id}:{n}".encode() for n in range(rounds)
            ]
            snapshot = await store.load_snapshot("load", entity_id)
            assert snapshot is not None and snapshot.sequence == rounds
        feed = await feed_of(store, "load", 0, 10_000)
        assert len(feed) == 200 * rounds
        offsets = [e.offset for _, e in feed]
        assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
        assert await store.list_entity_ids("load") == entities

    async def test_racing_writers_one_wins(self, store: Store) -> None:
        await store.append_events("carts", "alice", 0, [event(1)])
        results = await asyncio.gather(
            *(store.append_events("carts", "alice", 1, [event(100 + n)]) for n in range(10)),
            return_exceptions=True,
        )
        assert results.count(2) == 1
        assert all(isinstance(r, ConcurrentWriteError) for r in results if r != 2)
        assert await store.highest_sequence("carts", "alice") == 2

    # -- eventing offsets ---------------------------------------------------------------------

    async def test_offsets_start_at_zero_and_are_per_consumer(self, store: Store) -> None:
        assert await store.load_offset("projection|carts") == 0
        await store.save_offset("projection|carts", 42)
        await store.save_offset("other|carts", 7)
        assert await store.load_offset("projection|carts") == 42
        assert await store.load_offset("other|carts") == 7
        await store.save_offset("projection|carts", 43)
        assert await store.load_offset("projection|carts") == 43

    async def test_offsets_never_move_back(self, store: Store) -> None:
        await store.save_offset("c", 10)
        await store.save_offset("c", 3)
        assert await store.load_offset("c") == 10

    async def test_offsets_do_not_appear_as_entities(self, store: Store) -> None:
        await store.save_offset("c", 10)
        assert await store.list_persistence_ids() == []

    async def test_highest_offset_is_the_head_of_a_feed(self, store: Store) -> None:
        assert await store.highest_offset("carts") == 0
        await store.append_events("carts", "alice", 0, [event(1), event(2)])
        await store.append_events("orders", "o1", 0, [event(3)])
        feed = await feed_of(store, "carts")
        assert await store.highest_offset("carts") == feed[-1][1].offset
        orders = await feed_of(store, "orders")
        assert await store.highest_offset("orders") == orders[-1][1].offset

    # -- topic log ----------------------------------------------------------------------------

    async def test_topic_round_trip_keeps_payload_and_attributes(self, store: Store) -> None:
        assert await store.highest_topic_offset("orders") == 0
        assert [m async for m in store.read_topic("orders")] == []
        sent = [
            TopicMessage(
                Payload("type.googleapis.com/shop.Order", b"\x08\x01"),
                id="o-1",
                source="shop.Orders",
                type="shop.Order",
                subject="alice",
                time="2026-01-02T03:04:05.000006Z",
                content_type="application/protobuf",
            ),
            TopicMessage(Payload("json.cloudstate.io/Order", b'{"n": 2}'), id="o-2"),
            TopicMessage(Payload("p.cloudstate.io/bytes", b"")),  # empty payload bytes
        ]
        last = await store.append_topic("orders", sent)
        read = [m async for m in store.read_topic("orders")]
        assert [m.offset for m in read][-1] == last == await store.highest_topic_offset("orders")
        offsets = [m.offset for m in read]
        assert offsets == sorted(offsets) and len(set(offsets)) == 3 and offsets[0] > 0
        assert all(m.timestamp > 0 for m in read)
        stripped = [dataclasses.replace(m, offset=0, timestamp=0.0) for m in read]
        assert stripped == sent

    async def test_topics_are_separate_and_read_after_offset(self, store: Store) -> None:
        for n in range(6):
            await store.append_topic("a", [TopicMessage(event(n), id=f"a{n}")])
            await store.append_topic("b", [TopicMessage(event(n), id=f"b{n}")])
        a = [m async for m in store.read_topic("a")]
        assert [m.id for m in a] == [f"a{n}" for n in range(6)]
        assert [m.id async for m in store.read_topic("a", a[2].offset)] == ["a3", "a4", "a5"]
        assert [m.id async for m in store.read_topic("a", a[0].offset, 2)] == ["a1", "a2"]
        assert [m async for m in store.read_topic("a", a[-1].offset)] == []
        assert [m.id async for m in store.read_topic("b")] == [f"b{n}" for n in range(6)]
        assert await store.list_persistence_ids() == []  # topics are not entities
        assert await feed_of(store, "a") == []

    async def test_concurrent_topic_appends_are_ordered_and_complete(self, store: Store) -> None:
        async def publisher(n: int) -> int:
            batch = [TopicMessage(event(n * 10 + i), id=f"{n}-{i}") for i in range(3)]
            return await store.append_topic("load", batch)

        lasts = await asyncio.gather(*(publisher(n) for n in range(50)))
        read = [m async for m in store.read_topic("load", 0, 10_000)]
        assert len(read) == 150
        offsets = [m.offset for m in read]
        assert offsets == sorted(offsets) and len(set(offsets)) == 150
        assert sorted(lasts) == sorted(m.offset for m in read if m.id.endswith("-2"))
        by_publisher: dict[str, list[str]] = {}
        for m in read:
            by_publisher.setdefault(m.id.split("-")[0], []).append(m.id)
        assert all(ids == [f"{n}-{i}" for i in range(3)] for n, ids in by_publisher.items())

    async def test_empty_topic_append_rejected(self, store: Store) -> None:
        with pytest.raises(ValueError):
            await store.append_topic("orders", [])

    # -- outbox: topic messages in the entity's own transaction -------------------------------

    async def test_outbox_with_events_is_written_with_them(self, store: Store) -> None:
        outbox = [
            ("orders", TopicMessage(state(1), id="o-1", subject="alice")),
            ("audit", TopicMessage(state(2), id="a-1")),
            ("orders", TopicMessage(state(3), id="o-2", subject="alice")),
        ]
        assert await store.append_events("carts", "alice", 0, [event(1)], state(9), outbox) == 1
        orders = [m async for m in store.read_topic("orders")]
        assert [m.id for m in orders] == ["o-1", "o-2"]
        assert orders[0].payload == state(1) and orders[0].subject == "alice"
        assert [m.id async for m in store.read_topic("audit")] == ["a-1"]
        assert orders[0].offset < orders[1].offset
        # A lost condition writes neither the events nor the messages.
        with pytest.raises(ConcurrentWriteError):
            await store.append_events(
                "carts", "alice", 0, [event(2)], None, [("orders", TopicMessage(state(4)))]
            )
        assert [m.id async for m in store.read_topic("orders")] == ["o-1", "o-2"]
        assert [e.sequence for e in await events_of(store, "carts", "alice")] == [1]

    async def test_outbox_with_value_is_written_with_it(self, store: Store) -> None:
        one = [("counts", TopicMessage(state(1), id="c-1"))]
        assert await store.save_value("counters", "c1", state(1), 0, one) == 1
        deleted = [("counts", TopicMessage(state(0), id="c-2"))]
        assert await store.save_value("counters", "c1", None, 1, deleted) == 2
        with pytest.raises(ConcurrentWriteError):  # stale version: no value, no message
            await store.save_value(
                "counters", "c1", state(5), 1, [("counts", TopicMessage(state(5)))]
            )
        assert await store.load_value("counters", "c1") is None
        assert [m.id async for m in store.read_topic("counts")] == ["c-1", "c-2"]
        # Offsets stay commit-ordered across plain appends and outbox writes.
        await store.append_topic("counts", [TopicMessage(state(6), id="c-3")])
        await store.save_value(
            "counters", "c2", state(7), None, [("counts", TopicMessage(state(7), id="c-4"))]
        )
        read = [m async for m in store.read_topic("counts")]
        assert [m.id for m in read] == ["c-1", "c-2", "c-3", "c-4"]
        assert [m.offset for m in read] == sorted(m.offset for m in read)

    async def test_concurrent_outbox_writes_are_all_there(self, store: Store) -> None:
        async def write(n: int) -> None:
            message = TopicMessage(state(n), id=f"m{n}", subject=f"e{n}")
            if n % 2:
                await store.append_events("load", f"e{n}", 0, [event(n)], None, [("t", message)])
            else:
                await store.save_value("load", f"e{n}", state(n), 0, [("t", message)])

        await asyncio.gather(*(write(n) for n in range(60)))
        read = [m async for m in store.read_topic("t", 0, 1000)]
        assert sorted(m.id for m in read) == sorted(f"m{n}" for n in range(60))
        assert await store.highest_topic_offset("t") == read[-1].offset

    # -- topic retention ----------------------------------------------------------------------

    async def test_trim_topic_only_below_the_consumers_and_beyond_the_limits(
        self, store: Store
    ) -> None:
        for n in range(10):
            await store.append_topic("t", [TopicMessage(event(n), id=f"t{n}")])
        await store.append_topic("other", [TopicMessage(event(0), id="o0")])
        offsets = [m.offset async for m in store.read_topic("t")]
        assert await store.trim_topic("t", offsets[-1]) == 0  # no limit: nothing
        # Keep the newest 7: t0..t2 may go, but consumers only passed t1.
        assert await store.trim_topic("t", offsets[1], keep_last=7) == 2
        assert [m.id async for m in store.read_topic("t")] == [f"t{n}" for n in range(2, 10)]
        assert await store.trim_topic("t", offsets[-1], keep_last=7) == 1
        assert [m.id async for m in store.read_topic("t", 0, 1)] == ["t3"]
        # Age: everything is younger than an hour ago; everything is older than the future.
        assert await store.trim_topic("t", offsets[-1], older_than=time.time() - 3600) == 0
        assert await store.trim_topic("t", offsets[5], older_than=time.time() + 60) == 3
        assert [m.id async for m in store.read_topic("t")] == ["t6", "t7", "t8", "t9"]
        assert await store.highest_topic_offset("t") == offsets[-1]  # the head stays
        assert [m.id async for m in store.read_topic("other")] == ["o0"]
        # New messages keep growing offsets after a trim.
        last = await store.append_topic("t", [TopicMessage(event(10), id="t10")])
        assert last > offsets[-1]

    # -- views ----------------------------------------------------------------------------------

    @staticmethod
    async def _products(store: Store) -> None:
        rows = [
            ViewRow("apple", b"A", {"s1": "fruit", "n1": 5, "n2": 1.5}),
            ViewRow("bread", b"B", {"s1": "bakery", "n1": 12, "n2": 3.0}),
            ViewRow("cherry", b"C", {"s1": "fruit", "n1": 5, "n2": 9.25}),
            ViewRow("donut", b"D", {"s1": "bakery", "n1": 1, "n2": 2.0}),
            ViewRow("eel", b"E", {"s1": "fish", "n1": 7, "n2": 30.0}),
        ]
        assert await store.apply_view_updates({"products-v1": rows}, "view:products", 3)

    async def test_view_rows_round_trip_and_delete(self, store: Store) -> None:
        await self._products(store)
        assert await store.load_view_rows("products-v1", ["apple", "zebra", "eel"]) == {
            "apple": b"A",
            "eel": b"E",
        }
        update = [ViewRow("apple", b"A2", {"s1": "fruit", "n1": 6}), ViewRow("eel", None)]
        assert await store.apply_view_updates({"products-v1": update}, "view:products", 4)
        assert await store.load_view_rows("products-v1", ["apple", "eel"]) == {"apple": b"A2"}
        assert await store.load_offset("view:products") == 4
        assert await store.load_view_rows("other-view", ["apple"]) == {}

    async def test_view_updates_apply_once_per_offset(self, store: Store) -> None:
        await self._products(store)
        stale = [ViewRow("apple", b"stale", {"s1": "fruit", "n1": 99})]
        assert not await store.apply_view_updates({"products-v1": stale}, "view:products", 3)
        assert not await store.apply_view_updates({"products-v1": stale}, "view:products", 2)
        assert await store.load_view_rows("products-v1", ["apple"]) == {"apple": b"A"}
        assert await store.load_offset("view:products") == 3

    async def test_view_updates_of_several_views_commit_together(self, store: Store) -> None:
        updates = {"a": [ViewRow("k", b"1")], "b": [ViewRow("k", b"2"), ViewRow("j", b"3")]}
        assert await store.apply_view_updates(updates, "view:ab", 7)
        assert await store.load_view_rows("a", ["k"]) == {"k": b"1"}
        assert await store.load_view_rows("b", ["k", "j"]) == {"k": b"2", "j": b"3"}
        assert await store.apply_view_updates({}, "view:ab", 8)  # only the offset moves
        assert await store.load_offset("view:ab") == 8

    @pytest.mark.parametrize(
        ("select", "expected"),
        [
            (ViewSelect(), [b"A", b"B", b"C", b"D", b"E"]),
            (ViewSelect((ViewFilter("s1", "=", "fruit"),)), [b"A", b"C"]),
            (ViewSelect((ViewFilter("s1", "!=", "fruit"),)), [b"B", b"D", b"E"]),
            (ViewSelect((ViewFilter("n1", ">", 5),)), [b"B", b"E"]),
            (ViewSelect((ViewFilter("n1", ">=", 5),)), [b"A", b"B", b"C", b"E"]),
            (ViewSelect((ViewFilter("n1", "<", 5),)), [b"D"]),
            (ViewSelect((ViewFilter("n2", "<=", 2.0),)), [b"A", b"D"]),
            (ViewSelect((ViewFilter("s1", "IN", ("fish", "bakery")),)), [b"B", b"D", b"E"]),
            (ViewSelect((ViewFilter("n1", "IN", (5, 1)),)), [b"A", b"C", b"D"]),
            (ViewSelect((ViewFilter("s1", "IN", ()),)), []),
            (
                ViewSelect((ViewFilter("s1", "=", "fruit"), ViewFilter("n2", ">", 2))),
                [b"C"],
            ),
            (ViewSelect(order_by=(("n1", True),)), [b"B", b"E", b"A", b"C", b"D"]),
            (ViewSelect(order_by=(("s1", False), ("n2", True))), [b"B", b"D", b"E", b"C", b"A"]),
            (ViewSelect(order_by=(("n1", True),), limit=2), [b"B", b"E"]),
            (ViewSelect(order_by=(("n1", True),), limit=2, offset=2), [b"A", b"C"]),
            (ViewSelect(order_by=(("n1", True),), offset=3), [b"C", b"D"]),
            (ViewSelect(limit=0), []),
        ],
    )
    async def test_view_queries(
        self, store: Store, select: ViewSelect, expected: list[bytes]
    ) -> None:
        await self._products(store)
        await store.apply_view_updates(
            {"other-view": [ViewRow("apple", b"X", {"s1": "fruit"})]}, "view:other", 1
        )
        assert await store.query_view("products-v1", select) == expected

    async def test_view_query_values_are_parameters(self, store: Store) -> None:
        await self._products(store)
        tricky = "fruit' OR '1'='1"
        assert (
            await store.query_view("products-v1", ViewSelect((ViewFilter("s1", "=", tricky),)))
            == []
        )
        with pytest.raises(ValueError):
            await store.query_view("products-v1", ViewSelect((ViewFilter("s1; DROP", "=", 1),)))

    # -- durable tasks ------------------------------------------------------------------------

    async def test_tasks_round_trip_with_every_field(self, store: Store) -> None:
        assert await store.list_tasks() == []
        assert await store.next_due() is None
        full = task(
            "timer:t1",
            "t1#9c2e",
            due=1234.5,
            metadata=b"\x0a\x03abc",
            attempts=2,
            max_attempts=7,
            last_error="UNAVAILABLE: down",
            created=1000.25,
        )
        plain = task("effect:a/1/0", due=2000.0)
        await store.write_tasks([full, plain])
        listed = await store.list_tasks()
        assert listed[0] == full
        assert dataclasses.replace(listed[1], created=0.0) == plain
        assert time.time() - 600 < listed[1].created <= time.time() + 1  # set by the store
        assert await store.list_persistence_ids() == []  # tasks are not entities

    async def test_write_tasks_replaces_by_name_and_cancels(self, store: Store) -> None:
        await store.write_tasks([task("timer:a", "a#1", 50.0), task("timer:b", "b#1", 60.0)])
        await store.write_tasks([task("timer:a", "a#2", 70.0)])  # a restarted timer
        assert [(t.name, t.key, t.due) for t in await store.list_tasks()] == [
            ("timer:b", "b#1", 60.0),
            ("timer:a", "a#2", 70.0),
        ]
        # Cancelling a missing name is fine; changes apply in order in one transaction.
        await store.write_tasks(
            [TaskCancel("timer:nothing"), TaskCancel("timer:b"), task("timer:c", "c#1", 10.0)]
        )
        await store.write_tasks([task("timer:d", "d#1"), TaskCancel("timer:d")])
        assert [t.key for t in await store.list_tasks()] == ["c#1", "a#2"]
        await store.write_tasks([])  # nothing to do

    async def test_due_tasks_earliest_first_up_to_limit(self, store: Store) -> None:
        await store.write_tasks(
            [task(f"t{n}", due=float(d)) for n, d in enumerate([30, 10, 20, 10, 50, 40])]
        )
        assert [t.name for t in await store.due_tasks(35.0, 10)] == ["t1", "t3", "t2", "t0"]
        assert [t.name for t in await store.due_tasks(35.0, 2)] == ["t1", "t3"]
        assert [t.name for t in await store.due_tasks(20.0, 10)] == ["t1", "t3", "t2"]  # <= now
        assert await store.due_tasks(9.0, 10) == []
        assert await store.due_tasks(100.0, 0) == []
        assert len(await store.due_tasks(100.0, 100)) == 6
        assert await store.next_due() == 10.0

    async def test_count_tasks_and_next_due(self, store: Store) -> None:
        assert await store.count_tasks(100.0) == (0, 0)
        await store.write_tasks([task("a", due=10.0), task("b", due=20.0), task("c", due=30.0)])
        assert await store.count_tasks(20.0) == (3, 1)  # overdue: due < now
        assert await store.count_tasks(25.0) == (3, 2)
        assert await store.count_tasks(5.0) == (3, 0)
        assert await store.next_due() == 10.0
        await store.write_tasks([TaskCancel("a")])
        assert await store.next_due() == 20.0
        await store.write_tasks([task("d", due=1.5)])
        assert await store.next_due() == 1.5

    async def test_list_tasks_by_prefix_and_limit(self, store: Store) -> None:
        await store.write_tasks(
            [
                task("timer:b", due=3.0),
                task("timer:a", due=2.0),
                task("effect:x", due=1.0),
                task("timer_", due=0.5),  # "_" and "%" are no wildcards
                task("timer%", due=0.5),
            ]
        )
        assert [t.name for t in await store.list_tasks("timer:")] == ["timer:a", "timer:b"]
        assert [t.name for t in await store.list_tasks("timer:", 1)] == ["timer:a"]
        assert [t.name for t in await store.list_tasks("effect:")] == ["effect:x"]
        assert [t.name for t in await store.list_tasks("timer_")] == ["timer_"]
        assert len(await store.list_tasks()) == 5
        assert await store.list_tasks("none") == []

    async def test_finish_task_only_with_its_key(self, store: Store) -> None:
        await store.write_tasks([task("timer:a", "a#1"), task("timer:b", "b#1")])
        assert not await store.finish_task("timer:a", "a#0")  # stale: left alone
        assert not await store.finish_task("timer:zzz", "a#1")
        assert len(await store.list_tasks()) == 2
        assert await store.finish_task("timer:a", "a#1")
        assert [t.name for t in await store.list_tasks()] == ["timer:b"]
        assert not await store.finish_task("timer:a", "a#1")  # already gone

    async def test_retry_task_counts_the_attempt(self, store: Store) -> None:
        await store.write_tasks([task("effect:e", "e#1", due=10.0, max_attempts=5)])
        assert await store.retry_task("effect:e", "e#1", 20.5, "UNAVAILABLE")
        assert await store.retry_task("effect:e", "e#1", 40.5, "DEADLINE_EXCEEDED")
        (stored,) = await store.list_tasks()
        assert (stored.attempts, stored.due, stored.last_error) == (2, 40.5, "DEADLINE_EXCEEDED")
        assert (stored.key, stored.max_attempts) == ("e#1", 5)
        assert not await store.retry_task("effect:e", "e#0", 99.0, "stale")
        assert not await store.retry_task("effect:none", "e#1", 99.0, "missing")
        (stored,) = await store.list_tasks()
        assert (stored.attempts, stored.due, stored.last_error) == (2, 40.5, "DEADLINE_EXCEEDED")
        assert await store.due_tasks(40.0, 10) == []

    async def test_dead_letter_moves_the_task(self, store: Store) -> None:
        assert await store.list_dead_letters() == []
        original = task("effect:e", "e#1", due=10.0, attempts=3, metadata=b"\x01", created=5.0)
        await store.write_tasks([original, task("effect:other")])
        before = time.time()
        assert await store.dead_letter_task("effect:e", "e#1", "INTERNAL: boom")
        assert [t.name for t in await store.list_tasks()] == ["effect:other"]
        (letter,) = await store.list_dead_letters()
        assert isinstance(letter, DeadLetter)
        expected = dataclasses.replace(original, attempts=4, last_error="INTERNAL: boom")
        assert letter.task == expected
        assert before - 1 <= letter.failed_at <= time.time() + 1
        assert await store.count_tasks(1e12) == (1, 1)  # dead letters are not pending
        assert await store.next_due() == 1000.0
        # A stale key moves nothing.
        assert not await store.dead_letter_task("effect:other", "other#0", "stale")
        assert not await store.dead_letter_task("effect:none", "x", "missing")
        assert [t.name for t in await store.list_tasks()] == ["effect:other"]
        assert len(await store.list_dead_letters()) == 1
        await store.write_tasks([TaskCancel("effect:e")])  # cancels pending tasks only
        assert [d.task for d in await store.list_dead_letters()] == [expected]

    async def test_dead_letters_newest_first_and_replaced_by_name(self, store: Store) -> None:
        for name in ("a", "b", "c"):
            await store.write_tasks([task(name, f"{name}#1")])
            assert await store.dead_letter_task(name, f"{name}#1", f"{name} failed")
            await asyncio.sleep(0.01)
        assert [d.task.name for d in await store.list_dead_letters()] == ["c", "b", "a"]
        assert [d.task.name for d in await store.list_dead_letters(2)] == ["c", "b"]
        await store.write_tasks([task("a", "a#2", attempts=1)])
        assert await store.dead_letter_task("a", "a#2", "again")
        letters = await store.list_dead_letters()
        assert [(d.task.name, d.task.key) for d in letters] == [
            ("a", "a#2"),
            ("c", "c#1"),
            ("b", "b#1"),
        ]
        assert letters[0].task.attempts == 2

    async def test_redrive_and_drop_dead_letters(self, store: Store) -> None:
        await store.write_tasks([task("effect:e", "e#1", due=10.0, attempts=4)])
        assert await store.dead_letter_task("effect:e", "e#1", "boom")
        assert not await store.redrive_dead_letter("effect:none", 50.0)
        assert await store.redrive_dead_letter("effect:e", 50.0)
        assert await store.list_dead_letters() == []
        (pending,) = await store.list_tasks()
        assert (pending.name, pending.key, pending.attempts, pending.due) == (
            "effect:e",
            "e#1",  # the same key: a delivery that did land is still deduplicated
            0,
            50.0,
        )
        assert not await store.redrive_dead_letter("effect:e", 60.0)  # not a dead letter now
        # A redriven dead letter replaces a pending task of its name.
        assert await store.dead_letter_task("effect:e", "e#1", "boom again")
        await store.write_tasks([task("effect:e", "e#2", due=70.0)])
        assert await store.redrive_dead_letter("effect:e", 80.0)
        assert [(t.key, t.due) for t in await store.list_tasks()] == [("e#1", 80.0)]
        # Drop.
        await store.write_tasks([task("effect:f", "f#1")])
        assert await store.dead_letter_task("effect:f", "f#1", "boom")
        assert not await store.drop_dead_letter("effect:none")
        assert await store.drop_dead_letter("effect:f")
        assert not await store.drop_dead_letter("effect:f")
        assert await store.list_dead_letters() == []

    # -- idempotency records ------------------------------------------------------------------

    async def test_idempotency_save_and_load(self, store: Store) -> None:
        assert await store.load_idempotency("k1") is None
        saved = await store.save_idempotency(record("k1", "m:1", b"first"))
        assert (saved.key, saved.fingerprint, saved.response) == ("k1", "m:1", b"first")
        assert time.time() - 600 < saved.created <= time.time() + 1
        assert await store.load_idempotency("k1") == saved
        # The key is taken: the first record comes back and stays.
        again = await store.save_idempotency(record("k1", "m:2", b"second"))
        assert again == saved
        assert await store.load_idempotency("k1") == saved
        given = IdempotencyRecord("k2", "m:3", b"", created=123.5)  # empty response
        assert await store.save_idempotency(given) == given
        assert await store.load_idempotency("k2") == given
        assert await store.list_persistence_ids() == []

    async def test_trim_idempotency(self, store: Store) -> None:
        await store.save_idempotency(IdempotencyRecord("old-1", "f", b"1", created=100.0))
        await store.save_idempotency(IdempotencyRecord("old-2", "f", b"2", created=200.0))
        await store.save_idempotency(IdempotencyRecord("new", "f", b"3", created=300.0))
        assert await store.trim_idempotency(100.0) == 0  # strictly before
        assert await store.trim_idempotency(250.0) == 2
        assert await store.load_idempotency("old-1") is None
        assert await store.load_idempotency("old-2") is None
        assert await store.load_idempotency("new") is not None
        assert await store.trim_idempotency(250.0) == 0
        # A trimmed key may be used again.
        assert (await store.save_idempotency(record("old-1", "g", b"x"))).fingerprint == "g"

    # -- tasks and idempotency records in the entity's own transaction ------------------------

    async def test_tasks_and_record_with_events_are_written_with_them(self, store: Store) -> None:
        await store.write_tasks([task("timer:old", "old#1")])
        changes: list[DurableTask | TaskCancel] = [
            task("timer:t1", "t1#1", 5.0),
            TaskCancel("timer:old"),
        ]
        outbox = [("orders", TopicMessage(state(1), id="o-1"))]
        assert (
            await store.append_events(
                "carts",
                "alice",
                0,
                [event(1)],
                state(1),
                outbox,
                tasks=changes,
                idempotency=record("req-1", "carts/Add:1", b"reply-1"),
            )
            == 1
        )
        assert [t.key for t in await store.list_tasks()] == ["t1#1"]
        stored = await store.load_idempotency("req-1")
        assert stored is not None and (stored.fingerprint, stored.response) == (
            "carts/Add:1",
            b"reply-1",
        )
        assert stored.created > 0
        assert [m.id async for m in store.read_topic("orders")] == ["o-1"]
        # Without an outbox, tasks and keys alone.
        await store.append_events("carts", "alice", 1, [event(2)], tasks=[task("effect:e")])
        await store.append_events("carts", "alice", 2, [event(3)], idempotency=record("req-2"))
        assert [t.name for t in await store.list_tasks()] == ["timer:t1", "effect:e"]
        assert await store.load_idempotency("req-2") is not None

    async def test_tasks_and_record_with_value_are_written_with_it(self, store: Store) -> None:
        await store.write_tasks([task("timer:old", "old#1")])
        assert (
            await store.save_value(
                "counters",
                "c1",
                state(1),
                0,
                [("counts", TopicMessage(state(1), id="c-1"))],
                tasks=[TaskCancel("timer:old"), task("timer:t1", "t1#1")],
                idempotency=record("req-1", "counters/Set:1", b"reply-1"),
            )
            == 1
        )
        assert [t.key for t in await store.list_tasks()] == ["t1#1"]
        assert (await store.load_idempotency("req-1")) is not None
        assert [m.id async for m in store.read_topic("counts")] == ["c-1"]
        # A delete carries them too; so does an unconditional write.
        assert (
            await store.save_value(
                "counters", "c1", None, 1, tasks=[TaskCancel("timer:t1")], idempotency=record("d")
            )
            == 2
        )
        assert await store.list_tasks() == []
        assert await store.load_idempotency("d") is not None
        await store.save_value("counters", "c2", state(2), tasks=[task("effect:x")])
        assert [t.name for t in await store.list_tasks()] == ["effect:x"]

    async def test_lost_condition_writes_no_task_and_no_record(self, store: Store) -> None:
        await store.write_tasks([task("timer:keep", "keep#1")])
        await store.append_events("carts", "alice", 0, [event(1)])
        await store.save_value("counters", "c1", state(1))
        with pytest.raises(ConcurrentWriteError):
            await store.append_events(
                "carts",
                "alice",
                0,
                [event(2)],
                tasks=[task("timer:new"), TaskCancel("timer:keep")],
                idempotency=record("req-events"),
            )
        with pytest.raises(ConcurrentWriteError):
            await store.save_value(
                "counters",
                "c1",
                state(2),
                0,
                tasks=[task("timer:new"), TaskCancel("timer:keep")],
                idempotency=record("req-value"),
            )
        assert [t.key for t in await store.list_tasks()] == ["keep#1"]
        assert await store.load_idempotency("req-events") is None
        assert await store.load_idempotency("req-value") is None
        # The keys are still free.
        assert (await store.save_idempotency(record("req-events", "x"))).fingerprint == "x"

    async def test_taken_key_raises_with_the_first_record_and_writes_nothing(
        self, store: Store
    ) -> None:
        await store.append_events(
            "carts", "alice", 0, [event(1)], idempotency=record("req-1", "carts/Add:1", b"one")
        )
        first = await store.load_idempotency("req-1")
        assert first is not None
        await store.write_tasks([task("timer:keep", "keep#1")])
        outbox = [("orders", TopicMessage(state(9), id="o-9"))]
        changes: list[DurableTask | TaskCancel] = [task("timer:new"), TaskCancel("timer:keep")]
        with pytest.raises(IdempotencyKeyTaken) as caught:
            await store.append_events(
                "carts",
                "bob",
                0,
                [event(9)],
                state(9),
                outbox,
                tasks=changes,
                idempotency=record("req-1", "carts/Add:2", b"two"),
            )
        assert caught.value.existing == first
        assert isinstance(caught.value, StoreError)
        with pytest.raises(IdempotencyKeyTaken) as caught:
            await store.save_value(
                "counters",
                "c1",
                state(9),
                None,
                outbox,
                tasks=changes,
                idempotency=record("req-1", "counters/Set:9", b"nine"),
            )
        assert caught.value.existing == first
        # Nothing of either write: no events, snapshot, value, outbox message or task change.
        assert await events_of(store, "carts", "bob") == []
        assert await store.load_snapshot("carts", "bob") is None
        assert await store.load_value("counters", "c1") is None
        assert await store.list_entity_ids("carts") == ["alice"]
        assert [m async for m in store.read_topic("orders")] == []
        assert [t.key for t in await store.list_tasks()] == ["keep#1"]
        assert await store.load_idempotency("req-1") == first
        # A record saved on its own takes the key too (an action's answer).
        await store.save_idempotency(record("req-2", "a/B:1", b"action"))
        with pytest.raises(IdempotencyKeyTaken) as caught:
            await store.save_value("counters", "c1", state(1), 0, idempotency=record("req-2"))
        assert caught.value.existing.response == b"action"
        assert await store.load_value("counters", "c1") is None
        # The entity can still write (its version did not move).
        assert await store.save_value("counters", "c1", state(1), 0) == 1

    async def test_concurrent_writes_one_with_a_taken_key(self, store: Store) -> None:
        await store.save_idempotency(record("taken", "f", b"first"))

        async def write(n: int) -> int:
            key = record("taken" if n == 7 else f"req-{n}")
            changes: list[DurableTask | TaskCancel] = [task(f"effect:{n}")]
            outbox = [("t", TopicMessage(state(n), id=f"m{n}"))]
            if n % 2:
                return await store.append_events(
                    "load", f"e{n}", 0, [event(n)], None, outbox, changes, key
                )
            return await store.save_value("load", f"v{n}", state(n), 0, outbox, changes, key)

        results = await asyncio.gather(*(write(n) for n in range(40)), return_exceptions=True)
        assert isinstance(results[7], IdempotencyKeyTaken)
        assert results[7].existing.response == b"first"
        assert all(r == 1 for n, r in enumerate(results) if n != 7)
        names = {t.name for t in await store.list_tasks()}
        assert names == {f"effect:{n}" for n in range(40) if n != 7}
        assert sorted([m.id async for m in store.read_topic("t")]) == sorted(
            f"m{n}" for n in range(40) if n != 7
        )
        assert all([await store.load_idempotency(f"req-{n}") for n in range(40) if n != 7])
        assert await store.highest_sequence("load", "e7") == 0

    async def test_writes_after_close_fail(self, store: Store) -> None:
        await store.append_events("carts", "alice", 0, [event(1)])
        await store.close()
        with pytest.raises(StoreError):
            await store.append_events("carts", "alice", 1, [event(2)])
        with pytest.raises(StoreError):
            await store.save_value("counters", "c1", state(1))
        with pytest.raises(StoreError):
            await store.save_offset("c", 1)
        with pytest.raises(StoreError):
            await store.append_topic("t", [TopicMessage(event(1))])
        with pytest.raises(StoreError):
            await store.write_tasks([task("timer:t")])
        with pytest.raises(StoreError):
            await store.save_idempotency(record("k"))
        await store.close()  # closing twice is harmless


def _mark_asyncio() -> None:
    """Mark the suite's own tests (not a subclass's) ``asyncio``, so that pytest-asyncio runs
    them in its strict mode too."""
    for name, test in list(vars(StoreContract).items()):
        if name.startswith("test_"):
            setattr(StoreContract, name, pytest.mark.asyncio(test))


_mark_asyncio()
