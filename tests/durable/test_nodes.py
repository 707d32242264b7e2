"""Two proxy nodes on one PostgreSQL database: one node at a time delivers durable tasks (the
``durable-tasks`` advisory lock), so a timer written through either node is delivered once; when
the delivering node is SIGKILLed the other takes the deliveries over and fires its timers.

Both proxies are subprocesses in front of one user function in this process, which records
every delivery."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2

from tests.durable.harness import effect, timer
from tests.durable.uf import UserFunction, jobs_pb2
from tests.processes import Process, proxy, wait_serving

OWNER_LINE = "this node now delivers timers and durable calls"


@pytest.fixture
def uf() -> Iterator[UserFunction]:
    function = UserFunction(("Jobs",)).start()
    yield function
    function.stop()


def start_node(tmp: Path, uf: UserFunction, store: str) -> Process:
    node = proxy(tmp, uf.port, store, "--durable-retry-min", "100ms", "--shutdown-grace", "1")
    node.start()
    try:
        wait_serving(node.port)
    except TimeoutError as error:
        node.kill()
        raise RuntimeError(f"{error}\n--- proxy log ---\n{node.log()}") from error
    return node


def ask(node: Process, *calls: jobs_pb2.Call) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{node.port}") as channel:
        method = channel.unary_unary(
            "/durabletest.Jobs/Ask",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=empty_pb2.Empty.FromString,
        )
        method(jobs_pb2.Plan(calls=calls), timeout=10)


def wait_for_line(node: Process, line: str, within: float = 15) -> None:
    deadline = time.monotonic() + within
    while line not in node.log():
        assert time.monotonic() < deadline, f"no {line!r} in the log:\n{node.log()[-3000:]}"
        time.sleep(0.05)


def test_two_nodes_deliver_once_and_the_survivor_takes_over(
    tmp_path: Path, uf: UserFunction, fresh_postgres_url: str
) -> None:
    first = start_node(tmp_path, uf, fresh_postgres_url)
    second: Process | None = None
    try:
        wait_for_line(first, OWNER_LINE)  # the first node delivers
        second = start_node(tmp_path, uf, fresh_postgres_url)
        # Written through the node that does not deliver: still delivered, once.
        ask(second, timer("n1", "once", 300), effect("once-effect"))
        uf.wait_for_sync(lambda: uf.delivered("once") and uf.delivered("once-effect"))
        time.sleep(1.5)  # both nodes polled the tasks several times since
        assert len(uf.delivered("once")) == 1 and len(uf.delivered("once-effect")) == 1
        assert OWNER_LINE not in second.log()

        ask(first, timer("n2", "takeover", 1500))
        first.kill()  # the owner dies before the timer is due
        killed_at = time.time()
        uf.wait_for_sync(lambda: uf.delivered("takeover"), within=20)
        (delivery,) = uf.delivered("takeover")
        assert delivery.at >= killed_at
        wait_for_line(second, OWNER_LINE, within=1)
        ask(second, effect("after"))
        uf.wait_for_sync(lambda: uf.delivered("after"))
    finally:
        first.kill()
        if second is not None:
            second.terminate()
