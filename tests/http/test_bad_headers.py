"""A header value that is not UTF-8 (issue 22): a 400 naming the header over HTTP/1.1 and h2c,
never a 500 or a dropped connection; the connection serves the next request. A ``-bin`` header
is binary metadata and carries any bytes."""

from __future__ import annotations

import json
import socket

import h2.config
import h2.connection
import h2.events

from tests.http.conftest import Running


def _http1_exchange(sock: socket.socket, request: bytes) -> tuple[int, bytes]:
    """Send one HTTP/1.1 request, read one response (Content-Length framed)."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed; got {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = next(
        int(line.split(b":", 1)[1]) for line in lines if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        body += chunk
    return status, body


def test_http1_non_utf8_header_is_400_and_the_connection_goes_on(echo: Running) -> None:
    with socket.create_connection(("127.0.0.1", echo.default.port), timeout=10) as sock:
        status, body = _http1_exchange(
            sock, b"GET /v1/echo/m HTTP/1.1\r\nHost: x\r\nX-Bad: a\xff\xfeb\r\n\r\n"
        )
        assert status == 400, body
        assert "'x-bad'" in json.loads(body)["message"], body
        # A binary (-bin) header carries the raw bytes.
        status, body = _http1_exchange(
            sock, b"GET /v1/echo/m HTTP/1.1\r\nHost: x\r\nToken-Bin: \xff\xfe\r\n\r\n"
        )
        assert status == 200, body
        assert json.loads(body)["metadata"] == {"token-bin": "bytes:fffe"}
        status, body = _http1_exchange(
            sock, b"GET /v1/echo/m HTTP/1.1\r\nHost: x\r\nX-Good: yes\r\n\r\n"
        )
        assert status == 200, body
        assert json.loads(body)["metadata"] == {"x-good": "yes"}
    assert "Traceback" not in echo.default.log()


def _h2_request(
    sock: socket.socket, conn: h2.connection.H2Connection, extra: list[tuple[bytes, bytes]]
) -> tuple[int, bytes]:
    stream_id = conn.get_next_available_stream_id()
    headers = [
        (b":method", b"GET"),
        (b":path", b"/v1/echo/m"),
        (b":scheme", b"http"),
        (b":authority", b"127.0.0.1"),
        *extra,
    ]
    conn.send_headers(stream_id, headers, end_stream=True)
    sock.sendall(conn.data_to_send())
    status, body = 0, b""
    while True:
        data = sock.recv(65536)
        assert data, "the proxy closed the HTTP/2 connection"
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream_id:
                status = int(dict(event.headers)[b":status"])
            elif isinstance(event, h2.events.DataReceived) and event.stream_id == stream_id:
                body += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, stream_id)
            elif isinstance(event, h2.events.StreamEnded) and event.stream_id == stream_id:
                sock.sendall(conn.data_to_send())
                return status, body
            elif isinstance(event, h2.events.StreamReset) and event.stream_id == stream_id:
                raise AssertionError(f"stream reset: {event.error_code}")
        sock.sendall(conn.data_to_send())


def test_h2c_non_utf8_header_is_400_and_the_connection_goes_on(echo: Running) -> None:
    config = h2.config.H2Configuration(client_side=True, header_encoding=None)
    conn = h2.connection.H2Connection(config)
    with socket.create_connection(("127.0.0.1", echo.default.port), timeout=10) as sock:
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        status, body = _h2_request(sock, conn, [(b"x-bad", b"a\xff\xfeb")])
        assert status == 400, body
        assert "'x-bad'" in json.loads(body)["message"], body
        status, body = _h2_request(sock, conn, [(b"token-bin", b"\xff\xfe")])
        assert status == 200, body
        assert json.loads(body)["metadata"] == {"token-bin": "bytes:fffe"}
        status, body = _h2_request(sock, conn, [(b"x-good", b"yes")])
        assert status == 200, body
        assert json.loads(body)["metadata"] == {"x-good": "yes"}
    assert "Traceback" not in echo.default.log()
