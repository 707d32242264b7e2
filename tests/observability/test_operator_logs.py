"""Log lines an operator can act on, read as JSON records from a real proxy process: their level
and what they say (which entity, which command, why, what happened to the command).

User functions: the raw event-sourced one (``tests/rawuf``: ``--hang-on-command``,
``--crash-on-command``, ``--protocol-version``) and the raw CRDT one (``tests/rawcrdt``:
``sleep_ms``), both killed and restarted for real.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2

from cloudstate.protocol import entity_pb2, entity_pb2_grpc
from tests.e2e.rawuf_client import CounterClient
from tests.processes import ROOT, Process, free_port, proxy, raw_user_function, wait_serving

sys.path.insert(0, str(ROOT / "tests" / "rawcrdt"))
from rawcrdt import model_pb2

RAWCRDT = ROOT / "tests" / "rawcrdt" / "server.py"


def records(process: Process) -> list[dict[str, Any]]:
    """Every line of the proxy's output as a JSON record (a line that is not JSON fails)."""
    return [json.loads(line) for line in process.log().splitlines() if line.strip()]


def find(process: Process, level: str, text: str) -> dict[str, Any]:
    found = [r for r in records(process) if r["level"] == level and text in r["message"]]
    assert found, f"no {level} record with {text!r}:\n{process.log()[-3000:]}"
    return found[0]


def raw_crdt(tmp: Path, port: int | None = None) -> Process:
    port = port or free_port()
    return Process(
        "raw CRDT user function",
        [sys.executable, str(RAWCRDT), "--port", str(port)],
        port,
        tmp / f"rawcrdt-{port}.log",
    )


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in reversed(started):
        process.terminate()


def start(processes: list[Process], process: Process) -> Process:
    processes.append(process)
    return process.start()


def json_proxy(tmp: Path, uf: Process, *flags: str) -> Process:
    px = proxy(tmp, uf.port, f"sqlite:///{tmp}/logs-{uf.port}.db", "--log-format", "json", *flags)
    return px


def crdt_update(channel: grpc.Channel, request: model_pb2.Request, timeout: float = 10) -> Any:
    call = channel.unary_unary(
        "/rawcrdt.Model/Update",
        request_serializer=model_pb2.Request.SerializeToString,
        response_deserializer=model_pb2.View.FromString,
    )
    return call(request, timeout=timeout)


def increment(entity: str, amount: int = 1, sleep_ms: int = 0) -> model_pb2.Request:
    request = model_pb2.Request(id=entity, sleep_ms=sleep_ms)
    request.update.gcounter.increment = amount
    return request


# -- commands that time out ------------------------------------------------------------------------


def test_a_command_timeout_is_a_warning_naming_entity_command_and_timeout(
    tmp_path: Path, processes: list[Process]
) -> None:
    uf = start(processes, raw_user_function(tmp_path, "--hang-on-command", "Fail"))
    px = start(processes, json_proxy(tmp_path, uf, "--command-timeout", "0.5"))
    wait_serving(px.port)
    client = CounterClient(px.port)
    client.increase("slow", 1)
    with pytest.raises(grpc.RpcError) as error:
        client.fail("slow")
    assert error.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    client.close()
    record = find(px, "WARNING", "command timed out")
    assert (
        "entity 'slow' of rawuf.Counter did not answer Fail (command 2) within 0.5s"
        in (record["message"])
    )
    assert "nothing of it was persisted" in record["message"]


def test_a_crdt_command_timeout_is_a_warning_too(tmp_path: Path, processes: list[Process]) -> None:
    uf = start(processes, raw_crdt(tmp_path))
    px = start(processes, json_proxy(tmp_path, uf, "--command-timeout", "0.5"))
    wait_serving(px.port)
    with grpc.insecure_channel(f"127.0.0.1:{px.port}") as channel:
        with pytest.raises(grpc.RpcError) as error:
            crdt_update(channel, increment("sleepy", sleep_ms=1500))
        assert error.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    record = find(px, "WARNING", "command timed out")
    expected = "CRDT entity 'sleepy' of rawcrdt.Model did not answer Update (command 1) within 0.5s"
    assert expected in record["message"]


# -- streams that break during a command -----------------------------------------------------------


def test_a_stream_broken_during_a_command_is_a_warning_with_cause_and_outcome(
    tmp_path: Path, processes: list[Process]
) -> None:
    uf = start(processes, raw_user_function(tmp_path, "--crash-on-command", "Fail"))
    px = start(processes, json_proxy(tmp_path, uf))
    wait_serving(px.port)
    client = CounterClient(px.port)
    client.increase("k", 5)
    with pytest.raises(grpc.RpcError) as error:
        client.fail("k")
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    client.close()
    message = find(px, "WARNING", "broke during Fail")["message"]
    assert "the user function's stream for entity 'k' of rawuf.Counter broke during Fail" in message
    assert "UNAVAILABLE" in message  # the cause
    assert "the command was not applied (no reply came, so nothing of it was persisted)" in message


def test_a_crdt_stream_broken_with_commands_in_flight_says_they_were_not_applied(
    tmp_path: Path, processes: list[Process]
) -> None:
    uf = start(processes, raw_crdt(tmp_path))
    px = start(processes, json_proxy(tmp_path, uf))
    wait_serving(px.port)
    outcome: list[BaseException] = []

    def slow_command() -> None:
        with grpc.insecure_channel(f"127.0.0.1:{px.port}") as channel:
            try:
                crdt_update(channel, increment("doomed", sleep_ms=10_000), timeout=20)
            except grpc.RpcError as error:
                outcome.append(error)

    caller = threading.Thread(target=slow_command)
    caller.start()
    time.sleep(1.0)  # the command sleeps in the user function
    uf.kill()
    caller.join(20)
    assert outcome and outcome[0].code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
    message = find(px, "WARNING", "broke")["message"]
    assert "the user function's stream for CRDT entity 'doomed' of rawcrdt.Model broke" in message
    assert "command 1 not applied (no reply came, so nothing of it was persisted)" in message


# -- discovery -------------------------------------------------------------------------------------


def proxy_exit(tmp: Path, uf_port: int, *flags: str) -> tuple[int, str]:
    """Run a proxy that must refuse the user function; its exit status and whole output."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cloudstate.proxy",
            "--user-function",
            f"127.0.0.1:{uf_port}",
            "--port",
            str(free_port()),
            "--store",
            "memory:",
            *flags,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp,
    )
    return result.returncode, result.stdout + result.stderr


class MysteryDiscovery(entity_pb2_grpc.EntityDiscoveryServicer):
    """A user function that reports an entity type no proxy serves."""

    def discover(self, request: entity_pb2.ProxyInfo, context: Any) -> entity_pb2.EntitySpec:
        return entity_pb2.EntitySpec(
            proto=b"",
            entities=[
                entity_pb2.Entity(entity_type="cloudstate.mystery.Mystery", service_name="m.M")
            ],
            service_info=entity_pb2.ServiceInfo(
                service_name="mystery", support_library_name="mystery-support"
            ),
        )

    def reportError(self, request: entity_pb2.UserFunctionError, context: Any) -> empty_pb2.Empty:
        return empty_pb2.Empty()


@pytest.fixture
def mystery_user_function() -> Iterator[int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    entity_pb2_grpc.add_EntityDiscoveryServicer_to_server(MysteryDiscovery(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield port
    server.stop(0)


def test_refusing_an_entity_type_at_discovery_is_one_error_line(
    tmp_path: Path, mystery_user_function: int
) -> None:
    code, output = proxy_exit(tmp_path, mystery_user_function, "--log-format", "json")
    assert code == 1
    lines = output.splitlines()
    assert all(line.startswith("{") for line in lines), output  # no plain-text second line
    logged = [json.loads(line) for line in lines]
    errors = [r for r in logged if r["level"] == "ERROR"]
    assert len(errors) == 1, output
    assert "entity type 'cloudstate.mystery.Mystery' is not supported" in errors[0]["message"]
    assert "Traceback" not in output


def test_refusing_a_protocol_version_is_one_error_line_naming_what_to_upgrade(
    tmp_path: Path, processes: list[Process]
) -> None:
    uf = start(processes, raw_user_function(tmp_path, "--protocol-version", "1.0"))
    code, output = proxy_exit(tmp_path, uf.port)  # plain text logs
    assert code == 1
    assert "Traceback" not in output
    error_lines = [line for line in output.splitlines() if "ERROR" in line or "error" in line]
    assert len(error_lines) == 1, output
    assert "incompatible protocol version 1.0, only 0.2 is supported" in error_lines[0]
    assert "user function 'rawuf-counter' (language support rawuf 0.1)" in error_lines[0]
    assert "language support reporting 0.2" in error_lines[0]


def test_the_discovery_line_names_the_service_its_language_support_and_protocols(
    tmp_path: Path, processes: list[Process]
) -> None:
    uf = start(processes, raw_user_function(tmp_path))
    px = start(processes, json_proxy(tmp_path, uf))
    wait_serving(px.port)
    message = find(px, "INFO", "discovered")["message"]
    assert message.startswith(
        "discovered user function 'rawuf-counter' (language support rawuf 0.1), runtime Python"
    ), message
    assert "rawuf.Counter [EventSourced, served with protocol 0.2]" in message


def test_a_user_function_without_a_name_is_named_by_its_address(
    tmp_path: Path, processes: list[Process]
) -> None:
    uf = start(processes, raw_crdt(tmp_path))  # reports no service name, no library version
    px = start(processes, json_proxy(tmp_path, uf))
    wait_serving(px.port)
    message = find(px, "INFO", "discovered")["message"]
    assert message.startswith(
        f"discovered user function at 127.0.0.1:{uf.port} (it reports no service name) "
        "(language support rawcrdt version not reported)"
    ), message
    assert "?" not in message


# -- a user function that restarts -----------------------------------------------------------------


def test_reactivation_after_a_user_function_restart_waits_for_it_quietly(
    tmp_path: Path, processes: list[Process]
) -> None:
    uf = start(processes, raw_user_function(tmp_path))
    px = start(processes, json_proxy(tmp_path, uf))
    wait_serving(px.port)
    client = CounterClient(px.port)
    client.increase("back", 2)
    uf_port = uf.port
    uf.kill()
    time.sleep(1.0)  # the proxy sees the entity's stream end
    restarted = raw_user_function(tmp_path, port=uf_port)
    processes.append(restarted)
    threading.Timer(1.5, restarted.start).start()  # comes back while the command waits
    value = client.increase("back", 3)  # waits for the user function instead of failing
    assert value.value == 5
    client.close()
    logged = records(px)
    assert not [r for r in logged if r["level"] in ("WARNING", "ERROR")], px.log()
    assert not [r for r in logged if "refused" in r["message"].lower()], px.log()
    waiting = find(px, "INFO", "the user function is not reachable")["message"]
    assert "activating entity 'back' of rawuf.Counter waits up to 30s for it" in waiting
    find(px, "INFO", "the user function is reachable again")


def test_crdt_reactivation_waits_for_the_restarted_user_function_too(
    tmp_path: Path, processes: list[Process]
) -> None:
    uf = start(processes, raw_crdt(tmp_path))
    px = start(processes, json_proxy(tmp_path, uf))
    wait_serving(px.port)
    with grpc.insecure_channel(f"127.0.0.1:{px.port}") as channel:
        crdt_update(channel, increment("again", 2))
        port = uf.port
        uf.kill()
        time.sleep(1.0)
        restarted = raw_crdt(tmp_path, port=port)
        processes.append(restarted)
        threading.Timer(1.5, restarted.start).start()
        view = crdt_update(channel, increment("again", 3), timeout=30)
        assert view.value == "gcounter:5"
    logged = records(px)
    assert not [r for r in logged if r["level"] in ("WARNING", "ERROR")], px.log()
    find(px, "INFO", "activating CRDT entity 'again' of rawcrdt.Model waits up to 30s")
