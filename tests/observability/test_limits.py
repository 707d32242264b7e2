"""Overload: ten times more concurrent requests than the limits allow.

With no line (``--max-queued-requests 0``) the excess is refused at once with RESOURCE_EXHAUSTED
(gRPC, with ``grpc-retry-pushback-ms``) / 429 (HTTP, with ``Retry-After``); every accepted
command completes and is durable (the carts hold exactly the accepted items); the proxy's memory
does not grow from wave to wave; the refusals are counted in the metrics.

Each limit alone, exactly: commands held at the raw user function (``--hold-command``) stay in
flight until the test releases them, so the test knows how many are in flight when it sends more.
The line: requests beyond ``--max-concurrent-requests`` wait (up to ``--max-queued-requests``)
and are served when a slot frees, or refused after ``--queue-timeout``. Goodput under overload:
test_goodput.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import grpc
import httpx
import pytest
from shoppingcart import shoppingcart_pb2, shoppingcart_pb2_grpc

from tests.e2e.rawuf_client import CounterClient
from tests.observability.scrape import scrape, value
from tests.processes import (
    Process,
    free_port,
    proxy,
    raw_user_function,
    shoppingcart_user_function,
    wait_serving,
)

MAX_REQUESTS = 20
PER_ENTITY = 4
CONCURRENT = 10 * MAX_REQUESTS
CARTS = 4


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Process, int]]:
    tmp: Path = tmp_path_factory.mktemp("limits")
    uf = shoppingcart_user_function(tmp).start()
    admin = free_port()
    px = proxy(
        tmp,
        uf.port,
        f"sqlite:///{tmp}/limits.db",
        "--admin-port",
        str(admin),
        "--max-concurrent-requests",
        str(MAX_REQUESTS),
        "--max-queued-requests",
        "0",
        "--max-requests-per-entity",
        str(PER_ENTITY),
        "--max-message-size",
        "65536",
    ).start()
    try:
        wait_serving(px.port)
        yield px, admin
    finally:
        px.terminate()
        uf.terminate()


def rss_kib(process: Process) -> int:
    assert process.process is not None
    for line in Path(f"/proc/{process.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def grpc_wave(port: int, wave: int) -> tuple[dict[str, int], list[str]]:
    """CONCURRENT AddItems at once over CARTS carts; accepted adds per cart, refusal messages."""
    accepted = {f"w{wave}-c{i}": 0 for i in range(CARTS)}
    refusals: list[str] = []
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = shoppingcart_pb2_grpc.ShoppingCartStub(channel)

        async def add(n: int) -> None:
            user = f"w{wave}-c{n % CARTS}"
            try:
                await stub.AddItem(
                    shoppingcart_pb2.AddLineItem(
                        user_id=user, product_id="p", name="P", quantity=1
                    ),
                    timeout=60,
                )
                accepted[user] += 1
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
                pushback = dict(error.trailing_metadata() or ()).get("grpc-retry-pushback-ms")
                assert pushback is not None and int(pushback) > 0, error.trailing_metadata()
                refusals.append(error.details() or "")

        await asyncio.gather(*(add(n) for n in range(CONCURRENT)))
        for user, count in accepted.items():
            cart = await stub.GetCart(shoppingcart_pb2.GetShoppingCart(user_id=user), timeout=30)
            held = sum(item.quantity for item in cart.items)
            assert held == count, f"{user}: {count} adds accepted, cart holds {held}"
    return accepted, refusals


def test_overload_refuses_excess_and_loses_nothing(limited: tuple[Process, int]) -> None:
    px, admin = limited
    before = scrape(admin)
    sizes: list[int] = []
    refused_total = 0
    accepted_total = 0
    for wave in range(3):
        accepted, refusals = asyncio.run(grpc_wave(px.port, wave))
        sizes.append(rss_kib(px))
        assert refusals, "10x the limit at once, yet nothing was refused"
        assert all("refused" in r and "--max-" in r for r in refusals), refusals[:3]
        assert sum(accepted.values()) > 0
        refused_total += len(refusals)
        accepted_total += sum(accepted.values())
        assert sum(accepted.values()) + len(refusals) == CONCURRENT
    # Memory bounded: later waves do not grow the proxy beyond the first wave's footprint.
    assert sizes[-1] - sizes[0] < 32 * 1024, sizes
    after = scrape(admin)
    rejected = sum(
        value(after, "cloudstate_requests_rejected_total", limit=limit)
        - value(before, "cloudstate_requests_rejected_total", limit=limit)
        for limit in ("max_requests", "per_entity")
    )
    assert rejected == refused_total
    add = {"service": "com.example.shoppingcart.ShoppingCart", "method": "AddItem"}
    ok = value(after, "cloudstate_requests_total", **add, status="OK") - value(
        before, "cloudstate_requests_total", **add, status="OK"
    )
    assert ok == accepted_total
    assert value(after, "cloudstate_requests_in_flight") == 0


def test_http_excess_gets_429(limited: tuple[Process, int]) -> None:
    px, _ = limited

    async def wave() -> list[int]:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{px.port}",
            timeout=60,
            limits=httpx.Limits(max_connections=CONCURRENT),
        ) as client:

            async def add(n: int) -> int:
                reply = await client.post(
                    f"/cart/http-c{n % CARTS}/items/add",
                    json={"productId": "p", "name": "P", "quantity": 1},
                )
                if reply.status_code == 429:
                    retry_after = reply.headers.get("retry-after", "")
                    assert retry_after.isdigit() and int(retry_after) >= 1, reply.headers
                return reply.status_code

            return await asyncio.gather(*(add(n) for n in range(CONCURRENT)))

    statuses = asyncio.run(wave())
    assert set(statuses) <= {200, 429}, statuses
    assert 429 in statuses and 200 in statuses


def test_oversized_message_is_refused(limited: tuple[Process, int]) -> None:
    px, _ = limited
    with grpc.insecure_channel(f"127.0.0.1:{px.port}") as channel:
        stub = shoppingcart_pb2_grpc.ShoppingCartStub(channel)
        with pytest.raises(grpc.RpcError) as too_big:
            stub.AddItem(
                shoppingcart_pb2.AddLineItem(
                    user_id="big", product_id="p", name="x" * 100_000, quantity=1
                ),
                timeout=10,
            )
        assert too_big.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        stub.AddItem(
            shoppingcart_pb2.AddLineItem(user_id="big", product_id="p", name="small", quantity=1),
            timeout=10,
        )


class Held:
    """The raw user function holding every ``Get`` until released, and a proxy with ``flags``."""

    def __init__(self, tmp: Path, *flags: str) -> None:
        self.dir = tmp / "hold"
        self.dir.mkdir()
        self.uf = raw_user_function(
            tmp, "--hold-command", "Get", "--hold-dir", str(self.dir)
        ).start()
        self.admin = free_port()
        self.proxy = proxy(
            tmp, self.uf.port, f"sqlite:///{tmp}/held.db", "--admin-port", str(self.admin), *flags
        ).start()
        wait_serving(self.proxy.port)
        self.client = CounterClient(self.proxy.port)
        self.pool = ThreadPoolExecutor(16)

    def hold(self, counter: str) -> Future[object]:
        """A Get that stays in flight (held at the user function) until :meth:`release`."""
        return self.pool.submit(self.client.get, counter)

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 20
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.01)

    def held(self) -> int:
        return len(list(self.dir.glob("held-*")))

    def in_flight(self) -> float:
        return value(scrape(self.admin), "cloudstate_requests_in_flight")

    def refused(self, counter: str, timeout: float = 2) -> str:
        """A Get that must be refused (at once, or within ``timeout``): the refusal's message;
        it carries a retry hint."""
        with pytest.raises(grpc.RpcError) as error:
            self.client.get(counter, timeout=timeout)
        assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error.value
        trailers = dict(error.value.trailing_metadata() or ())  # type: ignore[attr-defined]
        assert int(trailers.get("grpc-retry-pushback-ms", "0")) > 0, trailers
        return error.value.details() or ""

    def queued(self) -> float:
        return value(scrape(self.admin), "cloudstate_requests_queued")

    def release(self) -> None:
        (self.dir / "release").touch()

    def close(self) -> None:
        self.release()
        self.pool.shutdown()
        self.client.close()
        self.proxy.terminate()
        self.uf.terminate()


@pytest.fixture
def held(tmp_path: Path) -> Iterator[Callable[..., Held]]:
    started: list[Held] = []

    def start(*flags: str) -> Held:
        started.append(Held(tmp_path, *flags))
        return started[-1]

    yield start
    for setup in started:
        setup.close()


def test_the_global_limit_counts_requests_to_every_entity(held: Callable[..., Held]) -> None:
    """--max-concurrent-requests 4 (no line): four commands in flight on four entities fill it; a
    request to any other entity (no per-entity limit in play) is refused at once, naming the flag,
    until one of them is answered."""
    setup = held("--max-concurrent-requests", "4", "--max-queued-requests", "0")
    first = [setup.hold(f"g{n}") for n in range(4)]
    setup.wait_for(lambda: setup.held() == 4, "four commands held at the user function")
    for n in range(4, 12):
        message = setup.refused(f"g{n}")
        assert "--max-concurrent-requests" in message, message
    metrics = scrape(setup.admin)
    assert value(metrics, "cloudstate_requests_rejected_total", limit="max_requests") == 8
    setup.release()
    assert [f.result(timeout=10).value for f in first] == [0] * 4  # type: ignore[attr-defined]
    assert setup.client.get("g11").value == 0  # room again


def test_the_per_entity_limit_counts_the_requests_of_one_entity(held: Callable[..., Held]) -> None:
    """--max-requests-per-entity 2: one command held at the user function and one queued behind
    it fill the entity; more for it are refused at once, naming the flag, while other entities
    are served."""
    setup = held("--max-requests-per-entity", "2")
    first = setup.hold("one")
    setup.wait_for(lambda: setup.held() == 1, "the first command held at the user function")
    second = setup.hold("one")
    setup.wait_for(lambda: setup.in_flight() == 2, "the second command queued in the entity")
    for _ in range(3):
        message = setup.refused("one")
        assert "--max-requests-per-entity" in message, message
    assert setup.client.increase("another", 1).value == 1
    setup.release()
    assert first.result(timeout=10).value == 0  # type: ignore[attr-defined]
    assert second.result(timeout=10).value == 0  # type: ignore[attr-defined]


def test_the_excess_waits_in_line_then_is_served_or_refused(held: Callable[..., Held]) -> None:
    """--max-concurrent-requests 2 --max-queued-requests 2 --queue-timeout 1: with two commands
    held, a third waits its second in line and is refused naming --queue-timeout; two more wait,
    a fifth is refused at once (the line is full, naming --max-queued-requests); once the held
    commands are answered, the two in line are served."""
    setup = held(
        "--max-concurrent-requests", "2", "--max-queued-requests", "2", "--queue-timeout", "1"
    )
    first = [setup.hold(f"q{n}") for n in range(2)]
    setup.wait_for(lambda: setup.held() == 2, "two commands held at the user function")
    started = time.monotonic()
    message = setup.refused("waits", timeout=10)
    assert time.monotonic() - started >= 0.9, "refused before its --queue-timeout"
    assert "--queue-timeout" in message, message
    in_line = [setup.hold(f"line{n}") for n in range(2)]
    setup.wait_for(lambda: setup.queued() == 2, "two requests waiting in line")
    message = setup.refused("beyond")
    assert "--max-queued-requests" in message, message
    metrics = scrape(setup.admin)
    assert value(metrics, "cloudstate_requests_rejected_total", limit="queue_timeout") == 1
    assert value(metrics, "cloudstate_requests_rejected_total", limit="max_requests") == 1
    setup.release()
    for future in first + in_line:
        assert future.result(timeout=10).value == 0  # type: ignore[attr-defined]
    assert setup.queued() == 0
