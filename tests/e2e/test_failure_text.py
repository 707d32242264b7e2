"""A user failure's description reaches the client exactly as the user function wrote it.

Language supports word failures their own way — a stringified list (``['a', 'b']``), a wrapped
exception (``Error: wrapped``) — and the proxy passes the text on unchanged: as the gRPC status
message, and as the ``message`` of the HTTP error body (docs/forwards-and-effects.md). Checked with
the raw 0.2 CRDT user function (gRPC and HTTP) and our 0.0-format CRDT model (gRPC).
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from cloudstate.tck.model import crdt_pb2 as m
from cloudstate.tck.model import crdt_pb2_grpc as m_grpc
from tests.crdt00.test_behind_proxy import model_user_function
from tests.processes import ROOT, Process, free_port

sys.path.insert(0, str(ROOT / "tests" / "rawcrdt"))
from rawcrdt import model_pb2

TEXTS = [
    "['a', 'b']",
    "Error: wrapped",
    'Error: wrapped: TypeError: "x" is not a function (ünïcode, tabs\tand {"json": [1]})',
]


def raw_crdt(tmp: Path) -> Process:
    port = free_port()
    return Process(
        "raw CRDT user function",
        [sys.executable, str(ROOT / "tests" / "rawcrdt" / "server.py"), "--port", str(port)],
        port,
        tmp / f"rawcrdt-{port}.log",
    )


@pytest.mark.parametrize("text", TEXTS, ids=["stringified-list", "wrapped", "wrapped-twice"])
def test_a_failure_text_passes_through_unchanged_over_grpc_and_http(
    tmp_path: Path, start_proxy: Callable[..., Process], text: str
) -> None:
    uf = raw_crdt(tmp_path).start()
    try:
        px = start_proxy(uf.port)
        with grpc.insecure_channel(f"127.0.0.1:{px.port}") as channel:
            update = channel.unary_unary(
                "/rawcrdt.Model/Update",
                request_serializer=model_pb2.Request.SerializeToString,
                response_deserializer=model_pb2.View.FromString,
            )
            with pytest.raises(grpc.RpcError) as error:
                update(model_pb2.Request(id="f", fail=text), timeout=10)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error.value.details() == text
        request = urllib.request.Request(
            f"http://127.0.0.1:{px.port}/rawcrdt.Model/Update",
            data=json.dumps({"id": "f", "fail": text}).encode(),
            headers={"content-type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as http_error:
            urllib.request.urlopen(request, timeout=10)
        assert http_error.value.code == 400
        assert json.loads(http_error.value.read())["message"] == text
    finally:
        uf.terminate()


def test_a_failure_text_of_a_protocol_0_0_user_function_passes_through_unchanged(
    tmp_path: Path, start_proxy: Callable[..., Process]
) -> None:
    uf = model_user_function(tmp_path).start()
    try:
        px = start_proxy(uf.port)
        with grpc.insecure_channel(f"127.0.0.1:{px.port}") as channel:
            stub = m_grpc.CrdtTckModelStub(channel)
            for text in TEXTS:
                fail = m.RequestAction(fail=m.Fail(message=text))
                with pytest.raises(grpc.RpcError) as error:
                    stub.Process(m.Request(id="GCounter-f", actions=[fail]), timeout=10)
                assert error.value.details() == text
    finally:
        uf.terminate()
