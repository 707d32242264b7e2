"""Slow and idle HTTP/1.1 clients (issue 22): headers or a body trickling in byte by byte get 408
and the connection is closed after ``--http-header-timeout`` / ``--http-body-timeout``; an idle
keep-alive connection is closed after ``--http-idle-timeout``; at ``--http-max-connections`` new
connections are closed at once with one WARNING line (not one per connection), and once the slow
ones are cut off new clients are served again.

Before, slow-header and slow-body connections stayed open as long as bytes trickled in, and at
the file-descriptor limit every new client got a connection reset, with nothing logged.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.observability.scrape import scrape, value
from tests.processes import Process, free_port, proxy, shoppingcart_user_function, wait_serving

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
IDLE_TIMEOUT = 2.0
MAX_CONNECTIONS = 12
MAX_BUFFERED = 256 * 1024
ADMIN = free_port()


@pytest.fixture(scope="module")
def bounded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    tmp: Path = tmp_path_factory.mktemp("slow-clients")
    uf = shoppingcart_user_function(tmp).start()
    px = proxy(
        tmp,
        uf.port,
        "memory:",
        "--admin-port",
        str(ADMIN),
        "--http-header-timeout",
        str(HEADER_TIMEOUT),
        "--http-body-timeout",
        str(BODY_TIMEOUT),
        "--http-idle-timeout",
        str(IDLE_TIMEOUT),
        "--http-max-connections",
        str(MAX_CONNECTIONS),
        "--http-max-buffered",
        str(MAX_BUFFERED),
    ).start()
    try:
        wait_serving(px.port)
        yield px
    finally:
        px.terminate()
        uf.terminate()


def get_cart(port: int, cart: str = "served") -> int:
    """One GET on a new connection: its status (0: the connection was closed unanswered)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(f"GET /carts/{cart} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
        except OSError:
            return 0
        reply = read_all(sock)
    return int(reply[9:12]) if reply.startswith(b"HTTP/1.1 ") else 0


def read_all(sock: socket.socket, timeout: float = 15.0) -> bytes:
    """Everything the proxy sends until it closes the connection."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
            if b"\r\n\r\n" in data and b"connection: close" not in data.lower():
                head, _, body = data.partition(b"\r\n\r\n")
                length = [
                    int(line.split(b":")[1])
                    for line in head.lower().split(b"\r\n")
                    if line.startswith(b"content-length:")
                ]
                if length and len(body) >= length[0]:
                    return data  # a complete keep-alive response
    except ConnectionResetError:
        pass
    return data


class Trickle(threading.Thread):
    """Sends ``text`` one byte every ``pause`` seconds until the proxy closes the connection (or
    ``text`` is exhausted), then reads what the proxy answered."""

    def __init__(self, port: int, head: bytes, text: bytes, pause: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.head, self.text, self.pause = head, text, pause
        self.answer = b""
        self.sent = 0
        self.closed_after = 0.0

    def run(self) -> None:
        started = time.monotonic()
        try:
            self.sock.sendall(self.head)
            for i in range(len(self.text)):
                self.sock.sendall(self.text[i : i + 1])
                self.sent += 1
                time.sleep(self.pause)
                self.sock.setblocking(False)
                try:
                    if self.sock.recv(1, socket.MSG_PEEK):
                        break  # the proxy answered
                except BlockingIOError:
                    pass
                finally:
                    self.sock.setblocking(True)
        except OSError:
            pass
        self.answer = read_all(self.sock)
        self.closed_after = time.monotonic() - started
        self.sock.close()


SLOW_HEADER = b"x-slow: " + b"a" * 200 + b"\r\n\r\n"


def test_slow_headers_get_408_and_the_connection_closes(bounded: Process) -> None:
    slow = Trickle(bounded.port, b"GET /carts/slow HTTP/1.1\r\nhost: x\r\n", SLOW_HEADER)
    slow.start()
    time.sleep(0.3)
    assert get_cart(bounded.port) == 200  # others are served meanwhile
    slow.join(20)
    assert slow.answer.startswith(b"HTTP/1.1 408 "), slow.answer
    assert b"--http-header-timeout" in slow.answer
    assert HEADER_TIMEOUT <= slow.closed_after < HEADER_TIMEOUT + 5, slow.closed_after
    assert slow.sent < len(SLOW_HEADER)


def test_a_slow_body_gets_408_and_the_connection_closes(bounded: Process) -> None:
    body = b'{"productId":"p","name":"' + b"n" * 200 + b'","quantity":1}'
    head = (
        b"POST /cart/slow/items/add HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n" % len(body)
    )
    slow = Trickle(bounded.port, head, body)
    slow.start()
    slow.join(20)
    assert slow.answer.startswith(b"HTTP/1.1 408 "), slow.answer
    assert b"--http-body-timeout" in slow.answer
    assert BODY_TIMEOUT <= slow.closed_after < BODY_TIMEOUT + 5, slow.closed_after
    assert slow.sent < len(body)


def test_an_idle_keep_alive_connection_is_closed(bounded: Process) -> None:
    with socket.create_connection(("127.0.0.1", bounded.port), timeout=30) as sock:
        sock.sendall(b"GET /carts/idle HTTP/1.1\r\nhost: x\r\n\r\n")
        assert read_all(sock).startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
        assert read_all(sock, timeout=IDLE_TIMEOUT + 10) == b""  # closed by the proxy
        assert time.monotonic() - started >= IDLE_TIMEOUT - 0.1


def test_at_the_connection_cap_new_clients_wait_for_the_slow_ones_to_be_cut_off(
    bounded: Process,
) -> None:
    """Slow clients fill the cap; new connections are closed at once and logged once; after the
    header timeout the slow ones are gone and new clients are served."""
    slow: list[Trickle] = []
    while (open_now := open_connections()) < MAX_CONNECTIONS:  # others may hold a few
        slow.append(
            Trickle(bounded.port, b"GET /carts/slow HTTP/1.1\r\nhost: x\r\n", SLOW_HEADER, 0.3)
        )
        slow[-1].start()
        deadline = time.monotonic() + 10
        while open_connections() == open_now:
            assert time.monotonic() < deadline, "the slow client's connection is not counted"
            time.sleep(0.01)
    assert len(slow) >= MAX_CONNECTIONS - 2, len(slow)
    refused = [get_cart(bounded.port, f"refused-{n}") for n in range(20)]
    assert refused == [0] * 20, refused  # closed at once: no HTTP answer
    for client in slow:
        client.join(20)
        assert client.answer.startswith(b"HTTP/1.1 408 "), client.answer
    deadline = time.monotonic() + 10
    while get_cart(bounded.port) != 200:
        assert time.monotonic() < deadline, "new clients still refused after the slow ones left"
        time.sleep(0.1)
    log = bounded.log().splitlines()
    lines = [line for line in log if "connection refused:" in line]
    assert len(lines) == 1, lines  # one line; more in its interval are counted, not logged
    assert " WARNING " in lines[0], lines
    assert f"{MAX_CONNECTIONS} connections are open" in lines[0], lines
    assert "--http-max-connections" in lines[0], lines
    cut = value(scrape(ADMIN), "cloudstate_connections_cut_total", limit="max_connections")
    assert cut >= 20, cut


def open_connections() -> float:
    return value(scrape(ADMIN), "cloudstate_connections_open")


def test_bodies_past_the_bytes_all_connections_may_hold_get_503(bounded: Process) -> None:
    """--http-max-buffered 256 KiB: a body that would take the request bytes held past it is
    refused with 503 and Retry-After (not buffered); smaller ones are served."""

    def add(name_size: int) -> bytes:
        body = b'{"productId":"p","name":"' + b"n" * name_size + b'","quantity":1}'
        with socket.create_connection(("127.0.0.1", bounded.port), timeout=10) as sock:
            sock.sendall(
                b"POST /cart/big/items/add HTTP/1.1\r\nhost: x\r\n"
                b"content-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body) + body
            )
            return read_all(sock)

    refused = add(MAX_BUFFERED + 1)
    assert refused.startswith(b"HTTP/1.1 503 "), refused[:200]
    assert b"retry-after: 1" in refused.lower() and b"--http-max-buffered" in refused
    assert add(MAX_BUFFERED // 4).startswith(b"HTTP/1.1 200 ")
