"""Time-to-live end to end: ``option (cloudstate.entity_ttl) = "2s"`` on a value entity and a
CRDT (tests/ttl/proto), a real proxy on a real SQLite file, the user function in its own process.

The must-show of issue 20: 10,000 value entities written through the proxy by concurrent clients
read as absent after their expiry, and the store holds no payload for any of them within the
documented bound (``--ttl-purge-interval`` plus one purge round), checked with SQL.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # protoc's "ttltest" imports

from ttltest import counters_pb2, counters_pb2_grpc

from tests.processes import ROOT, Process, free_port, proxy, wait_serving

TTL = 2.0
PURGE_INTERVAL = 1.0
#: The documented bound: an expired value's payload is gone within one purge interval plus one
#: purge round; the slack covers a loaded 2-core machine (a round of 10,000 takes well under 1 s).
PURGE_BOUND = PURGE_INTERVAL + 10.0
ENTITIES = 10_000


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """(proxy port, SQLite file): the TTL user function behind a proxy purging every second."""
    uf_port = free_port()
    uf = Process(
        "ttl user function",
        [sys.executable, "-m", "tests.ttl.uf"],
        uf_port,
        tmp_path / "uf.log",
        cwd=ROOT,
        env={"HOST": "127.0.0.1", "PORT": str(uf_port)},
    ).start()
    database = tmp_path / "ttl.db"
    flags = ("--ttl-purge-interval", f"{PURGE_INTERVAL:g}s")
    process = proxy(tmp_path, uf_port, f"sqlite:///{database}", *flags).start()
    try:
        wait_serving(process.port)
        yield process.port, database
    finally:
        process.terminate()
        uf.terminate()


def _with_payload(database: Path, persistence_id: str) -> int:
    with sqlite3.connect(database) as connection:
        row = connection.execute(
            'SELECT count(*) FROM "values" WHERE persistence_id = ? AND payload IS NOT NULL',
            (persistence_id,),
        ).fetchone()
    return int(row[0])


def _write_all(port: int, ids: list[str]) -> None:
    """Add 1 to every entity of ``ids`` from 4 concurrent clients, 64 calls in flight each."""

    def client(part: list[str]) -> None:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = counters_pb2_grpc.CountersStub(channel)
            for start in range(0, len(part), 64):
                calls = [
                    stub.Add.future(counters_pb2.Add(id=i, amount=1), timeout=60)
                    for i in part[start : start + 64]
                ]
                for call in calls:
                    assert call.result().total == 1

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(client, [ids[n::4] for n in range(4)]))


def test_ten_thousand_values_expire_and_are_purged(served: tuple[int, Path]) -> None:
    port, database = served
    ids = [f"e{n}" for n in range(ENTITIES)]
    began = time.time()
    _write_all(port, ids)
    written = time.time()
    print(f"wrote {ENTITIES} value entities in {written - began:.1f}s")
    with sqlite3.connect(database) as connection:
        # Every write carried its expiry: at most TTL after it (none is later than now + TTL).
        rows = connection.execute(
            "SELECT count(*), max(expires_at) FROM \"values\" WHERE persistence_id = 'ttl' "
            "AND (expires_at IS NOT NULL OR deleted = 1)"
        ).fetchone()
    assert rows[0] == ENTITIES
    assert rows[1] is None or rows[1] <= written + TTL

    time.sleep(max(0.0, written + TTL + 0.2 - time.time()))
    expired_at = time.time()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = counters_pb2_grpc.CountersStub(channel)
        # Each reads as absent: every 10th through the proxy (the actors still in memory too).
        for i in ids[::10]:
            assert stub.Get(counters_pb2.Add(id=i), timeout=10).total == 0, i

    # Purged within the bound: no payload left in the database for any of them.
    while _with_payload(database, "ttl") and time.time() < expired_at + PURGE_BOUND:
        time.sleep(0.2)
    assert _with_payload(database, "ttl") == 0
    print(f"all purged {time.time() - expired_at:.1f}s after the last expiry")
    with sqlite3.connect(database) as connection:
        tombstones = connection.execute(
            "SELECT count(*) FROM \"values\" WHERE persistence_id = 'ttl' AND deleted = 1 "
            "AND version = 1"
        ).fetchone()[0]
    assert tombstones == ENTITIES  # versions kept: a stale writer is still detected

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = counters_pb2_grpc.CountersStub(channel)
        # Written again after expiry: a fresh entity (1, not 2), live again.
        assert stub.Add(counters_pb2.Add(id="e0", amount=1), timeout=10).total == 1
        assert stub.Get(counters_pb2.Add(id="e0"), timeout=10).total == 1
    assert _with_payload(database, "ttl") == 1


def test_an_active_value_entity_does_not_serve_its_expired_state(
    served: tuple[int, Path],
) -> None:
    port, _ = served
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = counters_pb2_grpc.CountersStub(channel)
        assert stub.Add(counters_pb2.Add(id="hot", amount=7), timeout=10).total == 7
        time.sleep(TTL / 2)
        # A write slides the expiry: TTL from the last write, not from the first.
        assert stub.Add(counters_pb2.Add(id="hot", amount=1), timeout=10).total == 8
        time.sleep(TTL / 2 + 0.3)
        assert stub.Get(counters_pb2.Add(id="hot"), timeout=10).total == 8
        time.sleep(TTL / 2)
        # The actor is still active (passivation after 30 s): it must not answer from memory.
        assert stub.Get(counters_pb2.Add(id="hot"), timeout=10).total == 0
        assert stub.Add(counters_pb2.Add(id="hot", amount=2), timeout=10).total == 2


def test_a_crdt_expires_and_is_purged(served: tuple[int, Path]) -> None:
    port, database = served
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = counters_pb2_grpc.TalliesStub(channel)
        assert stub.Add(counters_pb2.Add(id="t", amount=3), timeout=10).total == 3
        assert _with_payload(database, "crdt:ttl-tallies") == 1
        time.sleep(TTL + 0.3)
        assert stub.Get(counters_pb2.Add(id="t"), timeout=10).total == 0
        expired_at = time.time()
        while (
            _with_payload(database, "crdt:ttl-tallies") and time.time() < expired_at + PURGE_BOUND
        ):
            time.sleep(0.2)
        assert _with_payload(database, "crdt:ttl-tallies") == 0
        assert stub.Add(counters_pb2.Add(id="t", amount=1), timeout=10).total == 1
