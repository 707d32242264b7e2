"""Internal methods (``(cloudstate.auth) = { internal: true }``): clients are refused on every
transport, forwards still reach them, and ``/openapi.json`` leaves them out;
``--no-http-default-routes`` serves only annotated methods over HTTP/JSON."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from tests.http.conftest import Running
from tests.http.test_grpcweb_and_port import call, frame, trailers
from tests.processes import Process, proxy, wait_serving

sys.path.insert(0, str(Path(__file__).resolve().parent))

from httptest import echo_pb2, echo_pb2_grpc

pytestmark = pytest.mark.timeout(120)

REFUSAL = "httptest.Echo.Internal is internal"


def test_grpc_client_is_refused_but_a_forward_gets_through(echo: Running) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{echo.default.port}") as channel:
        stub = echo_pb2_grpc.EchoStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.Internal(echo_pb2.EchoRequest(id="i1", name="direct"))
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert REFUSAL in (refused.value.details() or "")
        # The same method behind a forward: internal calls are what it is for.
        reply = stub.ViaInternal(echo_pb2.EchoRequest(id="i1", name="forwarded"))
        assert reply.method == "Internal" and reply.request.name == "forwarded"


def test_http_json_client_is_refused_with_403(echo: Running) -> None:
    response = httpx.post(echo.url("/v1/echo/i2/internal"), json={"id": "i2", "name": "direct"})
    assert response.status_code == 403, response.text
    assert REFUSAL in response.json()["message"]


def test_grpc_web_client_is_refused(echo: Running) -> None:
    request = echo_pb2.EchoRequest(id="i3").SerializeToString()
    with httpx.Client() as client:
        response, frames = call(client, echo.url("/httptest.Echo/Internal"), frame(request), False)
    assert response.status_code == 200  # gRPC-web carries the status in the trailers
    status = trailers(frames[-1][1])
    assert status["grpc-status"] == str(grpc.StatusCode.PERMISSION_DENIED.value[0])


def test_openapi_leaves_internal_methods_out(echo: Running) -> None:
    document = httpx.get(echo.url("/openapi.json")).json()
    operations = {
        operation["operationId"]
        for path in document["paths"].values()
        for operation in path.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    assert "httptest.Echo.ViaInternal" in operations
    assert not any(op.startswith("httptest.Echo.Internal") for op in operations)
    assert "/v1/echo/{id}/internal" not in document["paths"]


@pytest.fixture(scope="module")
def annotated_only(echo: Running, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    tmp = tmp_path_factory.mktemp("annotated-only")
    started = proxy(tmp, echo.uf.port, "memory:", "--no-http-default-routes").start()
    try:
        wait_serving(started.port)
        yield started
    finally:
        started.terminate()


def test_no_default_routes_serves_annotated_methods_only(annotated_only: Process) -> None:
    base = f"http://127.0.0.1:{annotated_only.port}"
    plain = httpx.post(base + "/httptest.Echo/Plain", json={"id": "p1"})
    assert plain.status_code == 404, plain.text
    annotated = httpx.get(base + "/v1/echo/p1?name=n")
    assert annotated.status_code == 200 and annotated.json()["method"] == "Get"
    paths = httpx.get(base + "/openapi.json").json()["paths"]
    assert "/httptest.Echo/Plain" not in paths and "/v1/echo/{id}" in paths
    # gRPC itself is not HTTP/JSON: unannotated methods stay callable there.
    with grpc.insecure_channel(f"127.0.0.1:{annotated_only.port}") as channel:
        reply = echo_pb2_grpc.EchoStub(channel).Plain(echo_pb2.EchoRequest(id="p1"))
    assert reply.method == "Plain"
