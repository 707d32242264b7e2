"""Malformed HTTP/1.1 requests (issue 22) do not flood the proxy's log: each gets its 400, and the
log holds at most a couple of WARNING lines with a count, no ERROR and no traceback."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import Process, proxy, shoppingcart_user_function, wait_serving

MALFORMED = [
    b"GET /carts/a HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n",
    b"GET /carts/\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /carts/a HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
]


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Process]:
    uf = shoppingcart_user_function(tmp_path).start()
    px = proxy(tmp_path, uf.port, "memory:").start()
    try:
        wait_serving(px.port)
        yield px
    finally:
        px.terminate()
        uf.terminate()


def test_fifty_malformed_requests_log_a_count_not_fifty_tracebacks(running: Process) -> None:
    for i in range(50):
        with socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock:
            sock.sendall(MALFORMED[i % len(MALFORMED)])
            reply = sock.recv(1024)
            assert reply.startswith(b"HTTP/1.") and b" 400 " in reply.split(b"\r\n")[0], reply
    deadline = time.monotonic() + 20  # the proxy's interval is 10 s
    while "49 more malformed" not in running.log() and time.monotonic() < deadline:
        time.sleep(0.2)
    log = running.log()
    assert " ERROR " not in log and "Traceback" not in log, log
    lines = [line for line in log.splitlines() if "malformed" in line]
    assert 1 <= len(lines) <= 2, log
    assert all(" WARNING " in line for line in lines), lines
    assert "49 more malformed HTTP requests" in lines[-1], lines
