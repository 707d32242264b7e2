"""The store contract against PostgreSQL, plus what a shared, group-committing store must do.

Every test gets a store in a fresh schema of the session's test server (``fresh_postgres_url``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from cloudstate.proxy.stores.base import (
    ConcurrentWriteError,
    ConsumerPosition,
    IdempotencyKeyTaken,
    Payload,
    Store,
    StoreError,
    TaskCancel,
    TopicMessage,
    ViewSelect,
)
from cloudstate.proxy.stores.contract import (
    EVENT_URL,
    StoreContract,
    event,
    events_of,
    feed_of,
    record,
    state,
    task,
)
from cloudstate.proxy.stores.contract_cluster import ClusterMembershipContract
from cloudstate.proxy.stores.contract_operations import parked
from cloudstate.proxy.stores.postgres import PostgresStore
from cloudstate.proxy.stores.postgres_schema import MIGRATIONS, SCHEMA_VERSION, VERSION_TABLE
from cloudstate.proxy.stores.registry import open_store


def plain_dsn(url: str) -> str:
    """The URL without our own query parameters, for a raw asyncpg connection."""
    return PostgresStore.from_url(url).dsn


class TestPostgresStore(StoreContract, ClusterMembershipContract):
    @pytest_asyncio.fixture
    async def store(self, tmp_path: Path, fresh_postgres_url: str) -> AsyncIterator[Store]:
        store = await open_store(fresh_postgres_url)
        assert isinstance(store, PostgresStore) and store.name == "postgresql" and store.shared
        yield store
        await store.close()

    async def test_group_commit_batches_concurrent_writes(self, store: Store) -> None:
        assert isinstance(store, PostgresStore)
        commits, writes = store.commits, store.writes
        await asyncio.gather(
            *(store.append_events("batch", f"e{n}", 0, [event(n)]) for n in range(200)),
            *(store.save_value("batch", f"v{n}", state(n)) for n in range(50)),
        )
        assert store.writes - writes == 250
        assert store.commits - commits < 250

    async def test_a_bad_request_fails_alone(self, store: Store) -> None:
        # PostgreSQL text cannot hold NUL: that request fails; its batch-mates commit.
        results = await asyncio.gather(
            *(store.append_events("batch", f"good{n}", 0, [event(n)]) for n in range(10)),
            store.append_events("batch", "bad\x00id", 0, [event(0)]),
            store.save_value("batch", "value", state(1)),
            return_exceptions=True,
        )
        assert results[:10] == [1] * 10
        assert isinstance(results[10], StoreError) and "bad" in str(results[10])
        assert results[11] == 1
        assert len(await store.list_entity_ids("batch")) == 11

    async def test_tasks_and_record_are_in_the_entity_transaction(self, store: Store) -> None:
        # PostgreSQL text cannot hold NUL: the task cannot be written, so nothing of the write
        # is (events, snapshot, value, outbox, the other task, the record); batch-mates commit.
        outbox = [("orders", TopicMessage(state(1), id="o-1"))]
        bad = [task("timer:ok"), task("timer:bad\x00")]
        results = await asyncio.gather(
            store.append_events(
                "carts", "alice", 0, [event(1)], state(1), outbox, bad, record("k1")
            ),
            store.save_value("counters", "c1", state(1), 0, outbox, bad, record("k2")),
            store.append_events("carts", "bob", 0, [event(1)], tasks=[task("timer:bob")]),
            return_exceptions=True,
        )
        assert isinstance(results[0], StoreError) and isinstance(results[1], StoreError)
        assert results[2] == 1
        assert await events_of(store, "carts", "alice") == []
        assert await store.load_snapshot("carts", "alice") is None
        assert await store.load_value("counters", "c1") is None
        assert [m async for m in store.read_topic("orders")] == []
        assert [t.name for t in await store.list_tasks()] == ["timer:bob"]
        assert await store.load_idempotency("k1") is None
        assert await store.load_idempotency("k2") is None

    async def test_taken_key_fails_only_its_write_in_a_batch(self, store: Store) -> None:
        assert isinstance(store, PostgresStore)
        await store.save_idempotency(record("taken", "f", b"first"))
        commits, writes = store.commits, store.writes

        def write(n: int, key: str) -> asyncio.Future[int]:
            outbox = [("t", TopicMessage(state(n), id=f"m{n}"))]
            changes = [task(f"effect:{n}"), TaskCancel("effect:none")]
            if n % 2:
                return asyncio.ensure_future(
                    store.append_events(
                        "batch", f"e{n}", 0, [event(n)], None, outbox, changes, record(key)
                    )
                )
            return asyncio.ensure_future(
                store.save_value("batch", f"v{n}", state(n), 0, outbox, changes, record(key))
            )

        # Queued in one turn of the loop: the writer takes them as one batch.
        before = [write(n, f"k{n}") for n in range(10)]
        taken = [write(11, "taken"), write(12, "taken")]
        twice = [write(21, "twice"), write(23, "twice")]  # the second loses to the first
        after = [write(n, f"k{n}") for n in range(30, 40)]
        assert await asyncio.gather(*before, *after, twice[0]) == [1] * 21
        for future in taken:
            with pytest.raises(IdempotencyKeyTaken) as caught:
                await future
            assert caught.value.existing.response == b"first"
        with pytest.raises(IdempotencyKeyTaken) as caught:
            await twice[1]
        assert caught.value.existing.key == "twice"
        assert caught.value.existing == await store.load_idempotency("twice")
        assert store.commits - commits <= 2 and store.writes - writes == 24
        names = {t.name for t in await store.list_tasks()}
        assert names == {f"effect:{n}" for n in [*range(10), 21, *range(30, 40)]}
        assert await store.highest_sequence("batch", "e11") == 0
        assert await store.load_value("batch", "v12") is None
        assert await store.highest_sequence("batch", "e23") == 0
        assert len([m async for m in store.read_topic("t")]) == 21

    async def test_close_commits_queued_writes(self, store: Store) -> None:
        tasks = [
            asyncio.ensure_future(store.append_events("close", f"e{n}", 0, [event(n)]))
            for n in range(50)
        ]
        await asyncio.sleep(0)
        await store.close()
        assert await asyncio.gather(*tasks) == [1] * 50
        with pytest.raises(StoreError):
            await store.highest_sequence("close", "e1")


async def test_two_nodes_never_commit_the_same_sequence(fresh_postgres_url: str) -> None:
    # Two stores are two proxy nodes: racing appenders on the same entities, all conditional.
    nodes = [await open_store(fresh_postgres_url) for _ in range(2)]
    wins: dict[str, list[int]] = {f"e{n}": [] for n in range(5)}

    async def writer(store: Store, entity_id: str, rounds: int) -> None:
        for _ in range(rounds):
            expected = await store.highest_sequence("race", entity_id)
            try:
                written = await store.append_events("race", entity_id, expected, [event(0)])
            except ConcurrentWriteError:
                continue
            wins[entity_id].append(written)

    try:
        await asyncio.gather(
            *(writer(node, entity_id, 30) for node in nodes for entity_id in wins for _ in "ab")
        )
        for entity_id, written in wins.items():
            stored = await events_of(nodes[0], "race", entity_id)
            assert [e.sequence for e in stored] == list(range(1, len(stored) + 1))
            assert sorted(written) == [e.sequence for e in stored]  # each committed once
    finally:
        for node in nodes:
            await node.close()


async def test_offsets_are_committed_in_order_across_nodes(fresh_postgres_url: str) -> None:
    # A consumer tailing the feed while two nodes append must see every event exactly once:
    # no event may commit with an offset below one the consumer already passed.
    writers = [await open_store(fresh_postgres_url) for _ in range(2)]
    reader = await open_store(fresh_postgres_url)
    done = asyncio.Event()
    seen: list[int] = []

    async def append(store: Store, prefix: str) -> None:
        await asyncio.gather(
            *(
                _append_many(store, f"{prefix}{n}", 20)  # 20 events each, one by one
                for n in range(10)
            )
        )

    async def tail() -> None:
        after = 0
        while True:
            finished = done.is_set()
            page = await feed_of(reader, "feed", after, 100)
            seen.extend(e.offset for _, e in page)
            if page:
                after = page[-1][1].offset
            elif finished:
                return
            else:
                await asyncio.sleep(0.005)

    try:
        consumer = asyncio.ensure_future(tail())
        await asyncio.gather(append(writers[0], "a"), append(writers[1], "b"))
        done.set()
        await consumer
        everything = [e.offset for _, e in await feed_of(reader, "feed", 0, 10_000)]
        assert len(everything) == 400
        assert seen == everything
    finally:
        for store in [*writers, reader]:
            await store.close()


async def _append_many(store: Store, entity_id: str, count: int) -> None:
    sequence = 0
    for n in range(count):
        payload = Payload(EVENT_URL, f"{entity_id}:{n}".encode())
        sequence = await store.append_events("feed", entity_id, sequence, [payload])


async def test_nodes_starting_together_migrate_once(fresh_postgres_url: str) -> None:
    stores = await asyncio.gather(*(open_store(fresh_postgres_url) for _ in range(4)))
    try:
        await stores[0].append_events("m", "e", 0, [event(1)])
        assert await stores[3].highest_sequence("m", "e") == 1
        assert isinstance(stores[0], PostgresStore)
        connection = await asyncpg.connect(plain_dsn(fresh_postgres_url))
        try:
            versions = await connection.fetch(
                f'SELECT version FROM "{stores[0].schema}".{VERSION_TABLE} ORDER BY version'
            )
        finally:
            await connection.close()
        assert [row[0] for row in versions] == list(range(1, SCHEMA_VERSION + 1))
    finally:
        for store in stores:
            await store.close()


async def test_reopen_sees_tasks_dead_letters_and_records(fresh_postgres_url: str) -> None:
    store = await open_store(fresh_postgres_url)
    await store.write_tasks([task("timer:a", "a#1", 10.0, metadata=b"m", max_attempts=3)])
    await store.write_tasks([task("effect:b", "b#1", 20.0)])
    await store.dead_letter_task("effect:b", "b#1", "boom")
    await store.save_value("c", "1", state(1), idempotency=record("k", "f", b"r"))
    tasks, letters = await store.list_tasks(), await store.list_dead_letters()
    saved = await store.load_idempotency("k")
    await store.close()

    store = await open_store(fresh_postgres_url)
    try:
        assert await store.list_tasks() == tasks and len(tasks) == 1
        assert await store.list_dead_letters() == letters and letters[0].task.attempts == 1
        assert saved is not None and await store.load_idempotency("k") == saved
    finally:
        await store.close()


async def test_a_schema_of_the_previous_version_gains_the_durable_tables(
    fresh_postgres_url: str,
) -> None:
    """A schema migrated before durable calls (version 5) is upgraded at start: its data stays,
    the tables and functions of durable calls are added."""
    schema = PostgresStore.from_url(fresh_postgres_url).schema
    connection = await asyncpg.connect(plain_dsn(fresh_postgres_url))
    try:
        async with connection.transaction():
            await connection.execute(f'CREATE SCHEMA "{schema}"')
            await connection.execute(f'SET LOCAL search_path TO "{schema}"')
            await connection.execute(
                f"CREATE TABLE {VERSION_TABLE} (version INTEGER PRIMARY KEY, "
                "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            for number, step in enumerate(MIGRATIONS[:5], start=1):
                for statement in step:
                    await connection.execute(statement)
                await connection.execute(f"INSERT INTO {VERSION_TABLE} VALUES ($1)", number)
            await connection.execute(
                "SELECT cloudstate_append_events('carts', 'alice', 0, $1, $2, NULL, NULL)",
                [event(1).type_url],
                [event(1).value],
            )
    finally:
        await connection.close()
    store = await open_store(fresh_postgres_url)
    try:
        assert [e.payload for e in await events_of(store, "carts", "alice")] == [event(1)]
        assert (
            await store.append_events(
                "carts", "alice", 1, [event(2)], tasks=[task("timer:t")], idempotency=record("k")
            )
            == 2
        )
        assert [t.name for t in await store.list_tasks()] == ["timer:t"]
        assert await store.dead_letter_task("timer:t", "timer:t#1", "boom")
        assert len(await store.list_dead_letters()) == 1
        with pytest.raises(IdempotencyKeyTaken):
            await store.save_value("c", "1", state(1), idempotency=record("k"))
    finally:
        await store.close()
    connection = await asyncpg.connect(plain_dsn(fresh_postgres_url))
    try:
        versions = await connection.fetch(
            f'SELECT version FROM "{schema}".{VERSION_TABLE} ORDER BY version'
        )
    finally:
        await connection.close()
    assert [row[0] for row in versions] == list(range(1, SCHEMA_VERSION + 1))


async def test_a_schema_of_version_6_gains_expiry_parking_and_generations(
    fresh_postgres_url: str,
) -> None:
    """A schema of version 6 (before dead letters, resets, rebuilds and TTL) is upgraded to 7:
    its values, offsets and view rows stay; expiry, resets, parking and rebuilds work."""
    schema = PostgresStore.from_url(fresh_postgres_url).schema
    connection = await asyncpg.connect(plain_dsn(fresh_postgres_url))
    try:
        async with connection.transaction():
            await connection.execute(f'CREATE SCHEMA "{schema}"')
            await connection.execute(f'SET LOCAL search_path TO "{schema}"')
            await connection.execute(
                f"CREATE TABLE {VERSION_TABLE} (version INTEGER PRIMARY KEY, "
                "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            for number, step in enumerate(MIGRATIONS[:6], start=1):
                for statement in step:
                    await connection.execute(statement)
                await connection.execute(f"INSERT INTO {VERSION_TABLE} VALUES ($1)", number)
            await connection.execute(
                "SELECT cloudstate_save_value('c', '1', $1, $2, NULL)",
                state(1).type_url,
                state(1).value,
            )
            await connection.execute(
                "INSERT INTO consumer_offsets (consumer_id, \"offset\") VALUES ('k', 42)"
            )
            await connection.execute(
                "INSERT INTO view_rows (view_id, row_key, payload) VALUES ('v', 'a', 'A')"
            )
    finally:
        await connection.close()
    store = await open_store(fresh_postgres_url)
    try:
        value = await store.load_value("c", "1")
        assert value is not None and value.payload == state(1) and value.version == 1
        assert await store.load_position("k") == ConsumerPosition(42, 0)
        assert await store.query_view("v", ViewSelect()) == [b"A"]
        assert await store.reset_offset("k", 0) == 1
        await store.save_value("c", "1", state(2), 1, expires_at=time.time() - 1)
        assert await store.load_value("c", "1") is None
        assert await store.purge_expired_values(time.time()) == 1
        await store.park_message(parked("k", 7))
        assert await store.count_parked() == {"k": 1}
        assert await store.start_view_rebuild(["v"]) == 1
    finally:
        await store.close()


async def test_two_nodes_racing_for_one_key_one_wins(fresh_postgres_url: str) -> None:
    """Two nodes write different entities with the same idempotency key at once: one write
    commits, the other gets the winner's record and writes nothing."""
    nodes = [await open_store(fresh_postgres_url) for _ in range(2)]
    try:
        for round_ in range(10):
            key = f"race-{round_}"
            results = await asyncio.gather(
                nodes[0].append_events(
                    "race", f"a{round_}", 0, [event(0)], idempotency=record(key, "f", b"a")
                ),
                nodes[1].save_value(
                    "race", f"b{round_}", state(0), 0, idempotency=record(key, "f", b"b")
                ),
                return_exceptions=True,
            )
            won = [r for r in results if r == 1]
            lost = [r for r in results if isinstance(r, IdempotencyKeyTaken)]
            assert len(won) == 1 and len(lost) == 1, results
            stored = await nodes[0].load_idempotency(key)
            assert stored is not None and lost[0].existing == stored
            a_won = stored.response == b"a"
            assert await nodes[0].highest_sequence("race", f"a{round_}") == int(a_won)
            assert (await nodes[1].load_value("race", f"b{round_}") is None) == a_won
    finally:
        for node in nodes:
            await node.close()


async def test_newer_schema_is_refused(fresh_postgres_url: str) -> None:
    store = await open_store(fresh_postgres_url)
    assert isinstance(store, PostgresStore)
    await store.close()
    connection = await asyncpg.connect(plain_dsn(fresh_postgres_url))
    try:
        await connection.execute(
            f'INSERT INTO "{store.schema}".{VERSION_TABLE} (version) VALUES ($1)',
            SCHEMA_VERSION + 1,
        )
    finally:
        await connection.close()
    with pytest.raises(StoreError, match="schema version"):
        await open_store(fresh_postgres_url)


async def test_credentials_from_pg_environment(
    fresh_postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed = PostgresStore.from_url(fresh_postgres_url)
    connection = await asyncpg.connect(parsed.dsn)
    address = connection._addr  # the (host, port) asyncpg used
    user = connection._params.user
    database = connection._params.database
    await connection.close()
    monkeypatch.setenv("PGHOST", address[0])
    monkeypatch.setenv("PGPORT", str(address[1]))
    monkeypatch.setenv("PGUSER", user)
    monkeypatch.setenv("PGDATABASE", database)
    store = await open_store(f"postgresql://?schema={parsed.schema}&pool_size=3")
    try:
        await store.save_value("env", "x", state(1))
        value = await store.load_value("env", "x")
        assert value is not None and value.version == 1
    finally:
        await store.close()


def test_url_options() -> None:
    store = PostgresStore.from_url(
        "postgres://u:p@db.example:6543/shop?schema=cart&pool_size=4&connect_timeout=2"
        "&command_timeout=3&sslmode=disable"
    )
    assert store.dsn == "postgresql://u:p@db.example:6543/shop?sslmode=disable"
    assert store.schema == "cart"
    assert "p@" not in repr(store)  # no password in logs
    with pytest.raises(ValueError, match="pool_size"):
        PostgresStore.from_url("postgresql://db/x?pool_size=many")


async def test_unreachable_server_fails_fast() -> None:
    from tests.processes import free_port

    store = PostgresStore.from_url(f"postgresql://nobody@127.0.0.1:{free_port()}/x")
    with pytest.raises(StoreError, match="cannot open"):
        async with asyncio.timeout(10):
            await store.start()
    with pytest.raises(StoreError):
        await store.append_events("carts", "alice", 0, [event(1)])


async def test_terminated_connections_are_replaced(fresh_postgres_url: str) -> None:
    # Only this store's connections are killed: the server is shared with other tests.
    name = "victim-" + fresh_postgres_url.rsplit("=", 1)[1]
    store = await open_store(f"{fresh_postgres_url}&application_name={name}")
    assert isinstance(store, PostgresStore)
    try:
        await store.append_events("kill", "a", 0, [event(1)])
        assert await store.highest_sequence("kill", "a") == 1
        admin = await asyncpg.connect(plain_dsn(fresh_postgres_url))
        try:
            # Every connection of the store's pool: what a database failover looks like.
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = $1",
                name,
            )
        finally:
            await admin.close()
        assert killed >= 1
        # Reads retry on a fresh connection; writes re-run their uncommitted batch.
        assert await store.highest_sequence("kill", "a") == 1
        assert await store.append_events("kill", "a", 1, [event(2)]) == 2
        assert [e.sequence for e in await events_of(store, "kill", "a")] == [1, 2]
    finally:
        await store.close()
