"""Deleting an event-sourced entity and compacting journals, end to end: the SDK user function
(tests/lifecycle/uf.py) behind a real proxy on SQLite and PostgreSQL, the store checked with SQL.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lifecycletest import notes_pb2, notes_pb2_grpc

from cloudstate.proxy.entities.deletion import TOMBSTONE_TYPE_URL
from tests.lifecycle.sql import snapshot_rows, stored_sequences
from tests.processes import Process, free_port

UF = Path(__file__).resolve().parent / "uf.py"
PID = "notes"


@pytest.fixture
def record_file(tmp_path: Path) -> Path:
    return tmp_path / "record.jsonl"


@pytest.fixture
def notes_uf(tmp_path: Path, record_file: Path) -> Iterator[Process]:
    port = free_port()
    uf = Process(
        "lifecycle user function",
        [sys.executable, str(UF)],
        port,
        tmp_path / "uf.log",
        env={"HOST": "127.0.0.1", "PORT": str(port), "RECORD_FILE": str(record_file)},
    ).start()
    yield uf
    uf.terminate()


class Notebook:
    def __init__(self, port: int) -> None:
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = notes_pb2_grpc.NotebookStub(self.channel)

    def add(self, notebook: str, text: str) -> None:
        self.stub.Add(notes_pb2.AddNote(notebook_id=notebook, text=text), timeout=10)

    def delete(self, notebook: str) -> None:
        self.stub.Delete(notes_pb2.NotebookId(notebook_id=notebook), timeout=10)

    def list(self, notebook: str) -> list[str]:
        return list(self.stub.List(notes_pb2.NotebookId(notebook_id=notebook), timeout=10).texts)


def recorded(record_file: Path) -> list[dict[str, str]]:
    if not record_file.exists():
        return []
    return [json.loads(line) for line in record_file.read_text().splitlines()]


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_deleted_entity_is_purged_starts_fresh_and_its_consumers_see_the_deletion(
    store_url: str,
    notes_uf: Process,
    record_file: Path,
    start_proxy: Callable[..., Process],
) -> None:
    proxy = start_proxy(notes_uf.port, "--deletion-grace", "1s")
    notebook = Notebook(proxy.port)
    for text in ("a", "b", "c", "d"):
        notebook.add("alice", text)
    notebook.add("bob", "kept")
    assert notebook.list("alice") == ["a", "b", "c", "d"]
    assert snapshot_rows(store_url, PID, "alice")[0][0] == 3  # a real snapshot, to be erased

    notebook.delete("alice")
    # At once: the snapshot is the tombstone, the entity starts fresh.
    assert snapshot_rows(store_url, PID, "alice") == [(5, TOMBSTONE_TYPE_URL)]
    assert notebook.list("alice") == []
    # The consumer received the deletion after the entity's events.
    wait_until(lambda: len(recorded(record_file)) == 6, "the consumer to see 6 events")
    alice = [r for r in recorded(record_file) if r.get("text") != "kept"]
    assert alice == [
        {"event": "added", "text": "a"},
        {"event": "added", "text": "b"},
        {"event": "added", "text": "c"},
        {"event": "added", "text": "d"},
        {"event": "deleted", "entity_id": "alice", "deleted_by": "command"},
    ]
    # After the grace period: nothing of alice is left in the database; bob is untouched.
    wait_until(
        lambda: stored_sequences(store_url, PID, "alice") == [], "the purge of alice's events"
    )
    assert snapshot_rows(store_url, PID, "alice") == []
    assert stored_sequences(store_url, PID, "bob") == [1]
    # A new command starts alice afresh, from sequence 1.
    notebook.add("alice", "new")
    assert notebook.list("alice") == ["new"]
    assert stored_sequences(store_url, PID, "alice") == [1]
    assert notebook.list("bob") == ["kept"]
    notebook.channel.close()


def test_an_entity_used_again_within_the_grace_period_keeps_its_new_life(
    store_url: str, notes_uf: Process, start_proxy: Callable[..., Process]
) -> None:
    proxy = start_proxy(notes_uf.port, "--deletion-grace", "1s")
    notebook = Notebook(proxy.port)
    notebook.add("carol", "old-1")
    notebook.add("carol", "old-2")
    notebook.delete("carol")  # tombstone at 3
    notebook.add("carol", "new-1")  # 4
    assert notebook.list("carol") == ["new-1"]
    wait_until(
        lambda: stored_sequences(store_url, PID, "carol") == [3, 4], "the purge of events 1-2"
    )
    # The tombstone stays (the replay starts after it); the old events are gone.
    proxy.terminate()
    notebook.channel.close()
    notebook = Notebook(start_proxy(notes_uf.port).port)
    assert notebook.list("carol") == ["new-1"]
    notebook.channel.close()


def test_compaction_drops_the_events_before_the_snapshot_and_replay_still_works(
    store_url: str, notes_uf: Process, record_file: Path, start_proxy: Callable[..., Process]
) -> None:
    proxy = start_proxy(notes_uf.port, "--journal-compaction", "*")
    notebook = Notebook(proxy.port)
    texts = [f"n{i}" for i in range(1, 8)]
    for text in texts:
        notebook.add("dave", text)
    # Snapshots at 3 and 6; after the one at 6 only events 6 and 7 remain (once the consumer
    # has read them: compaction spares what a consumer has not read).
    wait_until(lambda: len(recorded(record_file)) == 7, "the consumer to read all 7 events")
    notebook.add("dave", "n8")
    notebook.add("dave", "n9")  # snapshot at 9: compacts below it
    wait_until(lambda: len(recorded(record_file)) == 9, "the consumer to read all 9 events")
    assert stored_sequences(store_url, PID, "dave")[0] >= 6
    assert 9 in stored_sequences(store_url, PID, "dave")
    proxy.terminate()
    notebook.channel.close()
    notebook = Notebook(start_proxy(notes_uf.port).port)
    assert notebook.list("dave") == [*texts, "n8", "n9"]
    notebook.channel.close()


def test_without_compaction_every_event_is_kept(
    store_url: str, notes_uf: Process, start_proxy: Callable[..., Process]
) -> None:
    notebook = Notebook(start_proxy(notes_uf.port).port)
    for i in range(7):
        notebook.add("erin", f"n{i}")
    assert stored_sequences(store_url, PID, "erin") == list(range(1, 8))
    notebook.channel.close()
