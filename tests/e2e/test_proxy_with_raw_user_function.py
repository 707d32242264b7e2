"""The proxy against a user function it did not write: the hand-written raw protocol server.

The raw user function reports, in every reply, how many events were replayed into its stream and
whether init carried a snapshot — so these tests assert on what the user function received.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import grpc
import pytest

from cloudstate.proxy.stores.registry import open_store
from tests.backends import sqlite_writes_held
from tests.e2e.rawuf_client import CounterClient
from tests.processes import Process, raw_user_function

PID = "raw-counter"


@pytest.fixture
def rawuf(tmp_path: Path) -> Iterator[Callable[..., Process]]:
    started: list[Process] = []

    def start(*flags: str, port: int | None = None) -> Process:
        process = raw_user_function(tmp_path, *flags, port=port).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.terminate()


def journal(url: str, entity_id: str) -> list[tuple[int, str]]:
    async def read() -> list[tuple[int, str]]:
        store = await open_store(url)
        try:
            return [
                (e.sequence, e.payload.type_url) async for e in store.read_events(PID, entity_id)
            ]
        finally:
            await store.close()

    return asyncio.run(read())


def test_commands_events_and_snapshot_replay(
    store_url: str, rawuf: Callable[..., Process], start_proxy: Callable[..., Process]
) -> None:
    uf = rawuf("--snapshot-every", "3")
    proxy = start_proxy(uf.port)
    client = CounterClient(proxy.port)
    for i in range(1, 8):
        value = client.increase("c1", i)
    assert value.value == sum(range(1, 8))
    assert value.events_seen == 0 and not value.from_snapshot
    client.close()
    proxy.terminate()
    assert journal(store_url, "c1") == [
        (seq, "type.googleapis.com/rawuf.Increased") for seq in range(1, 8)
    ]

    # A new proxy activates the entity from the snapshot at sequence 6 plus the one event after it.
    proxy = start_proxy(uf.port)
    client = CounterClient(proxy.port)
    value = client.get("c1")
    assert value.value == 28
    assert value.from_snapshot
    assert value.events_seen == 1
    client.close()


def test_a_reply_is_released_only_after_its_events_are_committed(
    store_url: str, rawuf: Callable[..., Process], start_proxy: Callable[..., Process]
) -> None:
    """A client never sees a reply whose events could still be lost. While the test holds the
    SQLite store's write lock, the proxy cannot commit: the reply must wait (2 s here, within
    the store's 5 s busy timeout), and arrive once the lock is released."""
    if not store_url.startswith("sqlite:"):
        pytest.skip("holding the store's writes from outside uses SQLite's write lock")
    uf = rawuf()
    client = CounterClient(start_proxy(uf.port).port)
    client.increase("held", 1)  # the entity is active: the next command only needs the write
    with ThreadPoolExecutor(1) as pool:
        with sqlite_writes_held(store_url, lambda: len(journal(store_url, "held")) == 1):
            reply = pool.submit(client.increase, "held", 2)
            done, _ = wait([reply], timeout=2.0)
            assert not done, "the reply arrived before its event was committed"
        assert reply.result(timeout=10).value == 3
    client.close()
    assert [seq for seq, _ in journal(store_url, "held")] == [1, 2]


def test_failure_reaches_client_and_persists_nothing(
    store_url: str, rawuf: Callable[..., Process], start_proxy: Callable[..., Process]
) -> None:
    uf = rawuf()
    proxy = start_proxy(uf.port)
    client = CounterClient(proxy.port)
    client.increase("f", 2)
    with pytest.raises(grpc.RpcError) as error:
        client.increase("f", -1)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "by must be positive" in error.value.details()
    with pytest.raises(grpc.RpcError) as error:
        client.fail("f")
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert client.get("f").value == 2
    client.close()
    proxy.terminate()
    assert len(journal(store_url, "f")) == 1


def test_several_entity_keys_are_joined_unambiguously(
    rawuf: Callable[..., Process], start_proxy: Callable[..., Process]
) -> None:
    uf = rawuf()
    client = CounterClient(start_proxy(uf.port).port)
    assert client.entity_id_of("acme", "bob") == "acme-bob"
    # Without escaping, ("a-b", "c") and ("a", "b-c") would both be "a-b-c".
    assert client.entity_id_of("a-b", "c") == "a\\-b-c"
    assert client.entity_id_of("a", "b-c") == "a-b\\-c"
    client.close()


def test_bad_requests_get_clear_statuses_and_the_proxy_keeps_serving(
    rawuf: Callable[..., Process], start_proxy: Callable[..., Process]
) -> None:
    uf = rawuf()
    client = CounterClient(start_proxy(uf.port).port)
    cases = [
        ("/rawuf.Nope/Get", b"", grpc.StatusCode.UNIMPLEMENTED, None),
        ("/rawuf.Counter/Nope", b"", grpc.StatusCode.UNIMPLEMENTED, None),
        ("/rawuf.Counter/Get", b"", grpc.StatusCode.INVALID_ARGUMENT, "counter_id"),
        ("/rawuf.Counter/Get", b"\x0a\x05ab", grpc.StatusCode.INVALID_ARGUMENT, "rawuf.GetRequest"),
        ("/rawuf.Counter/Get", b"\xff\xff\xff", grpc.StatusCode.INVALID_ARGUMENT, None),
    ]
    for method, data, code, mentions in cases:
        with pytest.raises(grpc.RpcError) as error:
            client.raw(method, data)
        assert error.value.code() == code, (method, data, error.value.details())
        if mentions:
            assert mentions in (error.value.details() or ""), error.value.details()
    assert client.increase("still-ok", 1).value == 1
    client.close()


def test_user_function_killed_mid_command(
    rawuf: Callable[..., Process], start_proxy: Callable[..., Process]
) -> None:
    uf = rawuf("--crash-on-command", "Fail")
    client = CounterClient(start_proxy(uf.port).port)
    client.increase("k", 5)
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as error:
        client.fail("k")
    assert time.monotonic() - started < 10
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    assert uf.process is not None and uf.process.wait(5) == 1  # it really died
    # The user function comes back (same port): the next command replays and succeeds.
    rawuf(port=uf.port)
    value = client.increase("k", 1)
    assert value.value == 6
    assert value.events_seen == 1
    client.close()


def test_protocol_version_0_0_is_served_with_a_warning_and_refused_when_strict(
    tmp_path: Path, rawuf: Callable[..., Process], start_proxy: Callable[..., Process]
) -> None:
    uf = rawuf("--protocol-version", "0.0")
    proxy = start_proxy(uf.port)
    client = CounterClient(proxy.port)
    assert client.increase("v", 3).value == 3
    client.close()
    assert "protocol version 0.0" in proxy.log()

    with pytest.raises(RuntimeError) as error:
        start_proxy(
            uf.port,
            "--strict-protocol",
            "--discovery-timeout",
            "5",
            store=f"sqlite:///{tmp_path}/strict.db",
        )
    assert "incompatible protocol version 0.0" in str(error.value)
    deadline = time.monotonic() + 5
    while "REPORTED ERROR" not in uf.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "REPORTED ERROR: incompatible protocol version 0.0" in uf.log()


def test_failure_with_restart_replays_into_a_fresh_stream(
    store_url: str, rawuf: Callable[..., Process], start_proxy: Callable[..., Process]
) -> None:
    uf = rawuf()
    client = CounterClient(start_proxy(uf.port).port)
    client.increase("r", 4)
    with pytest.raises(grpc.RpcError) as error:
        client.fail_with("r", 100)  # the user function applied +100, then failed with restart
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "failed after emitting" in error.value.details()
    value = client.get("r")
    assert value.value == 4  # the discarded event is gone: the entity was replayed
    assert value.events_seen == 1
    client.close()
    assert len(journal(store_url, "r")) == 1


def test_a_failure_sent_with_events_journals_none_of_them(
    store_url: str, rawuf: Callable[..., Process], start_proxy: Callable[..., Process]
) -> None:
    """A failed command changes nothing, even when the user function sends events with the
    failure (without asking for a restart): they are not journaled, so no later activation
    replays them."""
    uf = rawuf()
    proxy = start_proxy(uf.port)
    client = CounterClient(proxy.port)
    client.increase("fe", 3)
    with pytest.raises(grpc.RpcError) as error:
        client.fail_with("fe", 50)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.details() == "failed with an event attached"
    assert client.increase("fe", 1).value == 4  # the same stream goes on
    client.close()
    proxy.terminate()
    assert [seq for seq, _ in journal(store_url, "fe")] == [1, 2]
    # A new proxy replays the journal: only the two accepted increases.
    client = CounterClient(start_proxy(uf.port).port)
    value = client.get("fe")
    assert (value.value, value.events_seen) == (4, 2)
    client.close()


def test_entity_passivates_after_its_own_timeout_and_reactivates(
    rawuf: Callable[..., Process], start_proxy: Callable[..., Process]
) -> None:
    uf = rawuf("--passivation-ms", "200")
    client = CounterClient(start_proxy(uf.port).port)
    client.increase("p", 1)
    assert client.get("p").events_seen == 0  # same stream: nothing replayed
    time.sleep(1.0)
    value = client.get("p")
    assert value.value == 1
    assert value.events_seen == 1  # a new stream replayed the journal
    client.close()


def test_proxy_default_passivation_timeout(
    rawuf: Callable[..., Process], start_proxy: Callable[..., Process]
) -> None:
    uf = rawuf()
    client = CounterClient(start_proxy(uf.port, "--passivation-timeout", "0.2").port)
    client.increase("q", 2)
    time.sleep(1.0)
    assert client.get("q").events_seen == 1
    client.close()


def test_command_timeout_fails_the_command_and_restarts_the_entity(
    rawuf: Callable[..., Process], start_proxy: Callable[..., Process]
) -> None:
    uf = rawuf("--hang-on-command", "Fail")
    client = CounterClient(start_proxy(uf.port, "--command-timeout", "1").port)
    client.increase("t", 3)
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as error:
        client.fail("t")
    assert error.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 5
    value = client.get("t")
    assert value.value == 3 and value.events_seen == 1
    client.close()


def test_stream_broken_while_idle_is_replayed_before_the_next_command(
    rawuf: Callable[..., Process], start_proxy: Callable[..., Process]
) -> None:
    uf = rawuf()
    client = CounterClient(start_proxy(uf.port).port)
    client.increase("idle", 2)
    uf.kill()  # the user function dies while the entity is idle...
    rawuf(port=uf.port)  # ...and comes back
    time.sleep(1.0)  # the proxy sees the old stream end
    value = client.increase("idle", 3)  # not a failed command: replayed first, then sent
    assert value.value == 5 and value.events_seen == 1
    client.close()
