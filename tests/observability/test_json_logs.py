"""``--log-format json``: every line of the proxy's log is a JSON object, and records written
while an entity handles a command name the service, command, entity and request id."""

from __future__ import annotations

import json
import time
from pathlib import Path

import grpc
import pytest
from shoppingcart import shoppingcart_pb2, shoppingcart_pb2_grpc

from tests.processes import proxy, shoppingcart_user_function, wait_serving

SERVICE = "com.example.shoppingcart.ShoppingCart"


def test_json_log_lines_carry_entity_command_and_request_id(tmp_path: Path) -> None:
    uf = shoppingcart_user_function(tmp_path).start()
    px = proxy(
        tmp_path,
        uf.port,
        f"sqlite:///{tmp_path}/logs.db",
        "--log-format",
        "json",
        "--log-level",
        "DEBUG",
        "--passivation-timeout",
        "0.2",
    ).start()
    try:
        wait_serving(px.port)
        with grpc.insecure_channel(f"127.0.0.1:{px.port}") as channel:
            stub = shoppingcart_pb2_grpc.ShoppingCartStub(channel)
            stub.AddItem(
                shoppingcart_pb2.AddLineItem(user_id="ann", product_id="p", name="P", quantity=1),
                metadata=[("x-request-id", "req-42")],
                timeout=10,
            )
        # The entity passivates after 0.2 s idle and logs it (DEBUG) in its command's context.
        deadline = time.monotonic() + 20
        while "passivating" not in px.log():
            assert time.monotonic() < deadline, px.log()[-2000:]
            time.sleep(0.1)
    finally:
        px.terminate()
        uf.terminate()
    records = [json.loads(line) for line in px.log().splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert any(r["level"] == "INFO" and "proxy serving" in r["message"] for r in records)
    passivated = [r for r in records if r["message"].startswith("passivating")]
    assert passivated, records
    assert passivated[0]["service"] == SERVICE
    assert passivated[0]["command"] == "AddItem"
    assert passivated[0]["entity"] == "ann"
    assert passivated[0]["request_id"] == "req-42"


@pytest.mark.parametrize("level", ["WARNING"])
def test_log_level_hides_lower_records(tmp_path: Path, level: str) -> None:
    uf = shoppingcart_user_function(tmp_path).start()
    px = proxy(tmp_path, uf.port, "memory:", "--log-format", "json", "--log-level", level).start()
    try:
        wait_serving(px.port)
    finally:
        px.terminate()
        uf.terminate()
    records = [json.loads(line) for line in px.log().splitlines() if line.strip()]
    assert all(r["level"] in ("WARNING", "ERROR", "CRITICAL") for r in records), records
    assert not any("proxy serving" in r["message"] for r in records)
