"""The proxy's value entities against a user function it did not write: the hand-written raw
protocol server ``tests/rawuf/value_server.py`` (``rawuf.Register``).

Every reply of the raw server says what its stream saw (command id, how many inits this register
had, whether init carried a stored value), so these tests assert on what the proxy sent — and on
what it stored, read straight from its SQLite file.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import grpc
import httpx
import pytest

from cloudstate.proxy.stores.base import StoredValue
from cloudstate.proxy.stores.registry import open_store
from tests.backends import BACKENDS, new_store_url, sqlite_writes_held
from tests.processes import ROOT, Process, free_port, proxy, wait_serving

RAWUF_DIR = ROOT / "tests" / "rawuf"
if str(RAWUF_DIR) not in sys.path:
    sys.path.insert(0, str(RAWUF_DIR))

from rawuf import register_pb2  # noqa: E402

VALUE_SERVER = RAWUF_DIR / "value_server.py"
PID = "raw-register"
STATE_TYPE_URL = "type.googleapis.com/rawuf.RegisterState"

pytestmark = pytest.mark.xdist_group("value-entity-raw")


def value_user_function(tmp: Path, *flags: str) -> Process:
    port = free_port()
    return Process(
        "raw value-entity user function",
        [sys.executable, str(VALUE_SERVER), "--port", str(port), *flags],
        port,
        tmp / f"rawuf-value-{port}.log",
    )


def start_proxy(tmp: Path, uf_port: int, db: str) -> Process:
    process = proxy(tmp, uf_port, db).start()
    try:
        wait_serving(process.port)
    except TimeoutError as e:
        process.kill()
        raise RuntimeError(f"{e}\n--- proxy log ---\n{process.log()}") from e
    return process


class Setup:
    """A raw value-entity user function, a proxy on a store (``db``: its URL), and a client."""

    def __init__(self, tmp: Path, db: str, *flags: str) -> None:
        self.db = db
        self.uf = value_user_function(tmp, *flags).start()
        self.proxy = start_proxy(tmp, self.uf.port, self.db)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.proxy.port}")

    def call(self, method: str, request: object) -> register_pb2.RegisterValue:
        rpc = self.channel.unary_unary(
            f"/rawuf.Register/{method}",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=register_pb2.RegisterValue.FromString,
        )
        return rpc(request, timeout=10)  # type: ignore[no-any-return]

    def set(self, register: str, value: int) -> register_pb2.RegisterValue:
        return self.call("Set", register_pb2.SetRequest(register_id=register, value=value))

    def add(self, register: str, by: int) -> register_pb2.RegisterValue:
        return self.call("Add", register_pb2.AddRequest(register_id=register, by=by))

    def get(self, register: str) -> register_pb2.RegisterValue:
        return self.call("Get", register_pb2.GetRegister(register_id=register))

    def clear(self, register: str) -> register_pb2.RegisterValue:
        return self.call("Clear", register_pb2.ClearRequest(register_id=register))

    def stored(self, register: str) -> StoredValue | None:
        async def read() -> StoredValue | None:
            store = await open_store(self.db)
            try:
                return await store.load_value(PID, register)
            finally:
                await store.close()

        return asyncio.run(read())

    def stored_value(self, register: str) -> int | None:
        value = self.stored(register)
        if value is None:
            return None
        assert value.payload.type_url == STATE_TYPE_URL
        return int(register_pb2.RegisterState.FromString(value.payload.value).value)

    def close(self) -> None:
        self.channel.close()
        self.proxy.terminate()
        self.uf.terminate()


@pytest.fixture(scope="module", params=BACKENDS)
def raw(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("ve-raw")
    setup = Setup(tmp, new_store_url(request.param, tmp, request))
    yield setup
    setup.close()


def test_init_carries_state_always_and_a_value_only_when_stored(raw: Setup) -> None:
    first = raw.get("r-init")
    assert (first.exists, first.init_had_value, first.command_id, first.inits) == (
        False,
        False,
        1,
        1,
    )
    assert raw.set("r-init", 5).command_id == 2
    assert raw.stored_value("r-init") == 5
    assert raw.add("r-init", 2).value == 7
    assert raw.stored_value("r-init") == 7


def test_delete_then_read_gives_the_initial_state(raw: Setup) -> None:
    raw.set("r-del", 3)
    cleared = raw.clear("r-del")
    assert not cleared.exists
    assert raw.stored("r-del") is None
    assert not raw.get("r-del").exists
    assert raw.add("r-del", 2).value == 2  # from nothing again
    assert raw.stored_value("r-del") == 2


def test_a_reply_is_released_only_after_its_write_is_committed(raw: Setup) -> None:
    """A client never sees a reply whose new state could still be lost: while the test holds
    the SQLite store's write lock, the reply waits; it arrives once the write went through."""
    if not raw.db.startswith("sqlite:"):
        pytest.skip("holding the store's writes from outside uses SQLite's write lock")
    raw.set("r-held", 1)
    with ThreadPoolExecutor(1) as pool:
        with sqlite_writes_held(raw.db, lambda: raw.stored_value("r-held") == 1):
            reply = pool.submit(raw.add, "r-held", 2)
            done, _ = wait([reply], timeout=2.0)
            assert not done, "the reply arrived before its state was committed"
        assert reply.result(timeout=10).value == 3
    assert raw.stored_value("r-held") == 3


def test_a_failure_with_a_state_action_stores_nothing(raw: Setup) -> None:
    raw.set("r-fail", 7)
    before = raw.stored("r-fail")
    with pytest.raises(grpc.RpcError) as error:
        raw.call("Fail", register_pb2.FailRequest(register_id="r-fail", value=99))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.details() == "failed on purpose"
    assert raw.stored("r-fail") == before
    after = raw.get("r-fail")
    assert (after.value, after.command_id, after.inits) == (7, 3, 1)  # same stream


def test_a_failure_asking_for_a_restart_restarts_from_the_stored_value(raw: Setup) -> None:
    raw.set("r-restart", 4)
    with pytest.raises(grpc.RpcError) as error:
        raw.call("Fail", register_pb2.FailRequest(register_id="r-restart", value=99, restart=True))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raw.stored_value("r-restart") == 4
    after = raw.get("r-restart")
    assert (after.value, after.command_id, after.inits, after.init_had_value) == (4, 1, 2, True)


@pytest.mark.parametrize(
    ("kind", "complaint"),
    [
        ("update-without-value", "a state update that has no value"),
        ("empty-action", "a state action that is neither update nor delete"),
        ("unknown-action", "a state action that is neither update nor delete"),
    ],
)
def test_a_bad_reply_fails_clearly_restarts_the_entity_and_stores_nothing(
    raw: Setup, kind: str, complaint: str
) -> None:
    register = f"r-bad-{kind}"
    raw.set(register, 11)
    before = raw.stored(register)
    inits = raw.get(register).inits
    with pytest.raises(grpc.RpcError) as error:
        raw.call("BadReply", register_pb2.BadReplyRequest(register_id=register, kind=kind))
    assert error.value.code() == grpc.StatusCode.INTERNAL
    details = error.value.details()
    assert complaint in details
    assert f"BadReply of entity '{register}' of rawuf.Register" in details
    assert "nothing was written and the entity was restarted" in details
    assert raw.stored(register) == before
    after = raw.get(register)
    assert (after.value, after.command_id, after.inits, after.init_had_value) == (
        11,
        1,
        inits + 1,
        True,
    )
    deadline = time.monotonic() + 5  # reportError is sent before the client's error
    while complaint not in raw.uf.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert f"REPORTED ERROR: the user function replied to BadReply of entity '{register}'" in (
        raw.uf.log()
    )


def test_passivation_reloads_the_stored_value(tmp_path: Path, store_url: str) -> None:
    setup = Setup(tmp_path, store_url, "--passivation-ms", "200")
    try:
        setup.set("r-passive", 9)
        time.sleep(1.0)  # well past the 200 ms idle timeout: the entity is passivated
        after = setup.get("r-passive")
        assert (after.value, after.command_id, after.inits, after.init_had_value) == (
            9,
            1,
            2,
            True,
        )
    finally:
        setup.close()


def test_the_raw_server_rejects_a_missing_init_state(
    tmp_path: Path,
) -> None:
    """The raw server's own strictness (what keeps the proxy honest): init without ``state``."""
    from cloudstate.protocol import value_entity_pb2, value_entity_pb2_grpc

    uf = value_user_function(tmp_path).start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{uf.port}") as channel:
            call = value_entity_pb2_grpc.ValueEntityStub(channel).handle(
                iter(
                    [
                        value_entity_pb2.ValueEntityStreamIn(
                            init=value_entity_pb2.ValueEntityInit(
                                service_name="rawuf.Register", entity_id="x"
                            )
                        )
                    ]
                ),
                timeout=10,
            )
            out = list(call)
        assert [o.WhichOneof("message") for o in out] == ["failure"]
        assert "state must always be present" in out[0].failure.description
    finally:
        uf.terminate()


def test_a_bad_reply_over_http_is_a_500_with_the_explanation(raw: Setup) -> None:
    """Through the HTTP API's default binding (``POST /rawuf.Register/<Method>``)."""
    raw.set("r-http", 6)
    before = raw.stored("r-http")
    with httpx.Client(base_url=f"http://127.0.0.1:{raw.proxy.port}", timeout=10) as http:
        bad = http.post(
            "/rawuf.Register/BadReply", json={"registerId": "r-http", "kind": "empty-action"}
        )
        assert bad.status_code == 500
        assert "a state action that is neither update nor delete" in bad.json()["message"]
        assert raw.stored("r-http") == before
        after = http.post("/rawuf.Register/Get", json={"registerId": "r-http"}).json()
        assert after["value"] == "6" and after["commandId"] == "1"  # int64 as JSON strings
