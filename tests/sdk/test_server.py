"""The CloudState server: registration, binding, and graceful shutdown of the example."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys

import grpc
import pytest
from shoppingcart.shopping_cart_entity import entity as cart_entity

from cloudstate.cloudstate import CloudState
from cloudstate.protocol import entity_pb2, entity_pb2_grpc
from tests.sdk import model
from tests.sdk.conftest import SHOPPINGCART_DIR


async def test_registration_chains_and_rejects_duplicates() -> None:
    cloudstate = CloudState()
    assert cloudstate.register_event_sourced_entity(cart_entity) is cloudstate
    assert cloudstate.register_event_sourced_entity(model.model) is cloudstate
    assert [e.service_descriptor.full_name for e in cloudstate.entities] == [
        "com.example.shoppingcart.ShoppingCart",
        "sdktest.Model",
    ]
    with pytest.raises(ValueError, match="already registered"):
        cloudstate.register_event_sourced_entity(cart_entity)
    with pytest.raises(TypeError, match="EventSourcedEntity"):
        cloudstate.register_event_sourced_entity(object())  # type: ignore[arg-type]


async def test_nothing_to_serve_is_an_error() -> None:
    with pytest.raises(ValueError, match="no entity registered"):
        await CloudState().serve_async(port=0)


async def test_port_zero_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOST", "127.0.0.1")
    monkeypatch.setenv("PORT", "0")
    server = await CloudState().register_event_sourced_entity(cart_entity).serve_async()
    try:
        assert server.port > 0 and server.host == "127.0.0.1"
        async with grpc.aio.insecure_channel(server.address) as channel:
            spec = await entity_pb2_grpc.EntityDiscoveryStub(channel).discover(
                entity_pb2.ProxyInfo(), timeout=10
            )
        assert spec.entities[0].persistence_id == "shopping-cart"
    finally:
        await server.stop(0)


async def test_binding_a_used_port_fails() -> None:
    first = (
        await CloudState(port=0)
        .register_event_sourced_entity(cart_entity)
        .serve_async(host="127.0.0.1")
    )
    try:
        with pytest.raises(OSError, match=f"127.0.0.1:{first.port}"):
            await (
                CloudState("127.0.0.1", first.port)
                .register_event_sourced_entity(cart_entity)
                .serve_async()
            )
    finally:
        await first.stop(0)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_example_main_serves_and_exits_0_on_signal(sig: signal.Signals) -> None:
    env = dict(os.environ, HOST="127.0.0.1", PORT="0", PYTHONUNBUFFERED="1")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shoppingcart.shopping_cart",
        cwd=SHOPPINGCART_DIR,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    try:
        port = None
        output = []
        while port is None:
            line = (await asyncio.wait_for(process.stderr.readline(), 30)).decode()
            assert line, "exited before serving:\n" + "".join(output)
            output.append(line)
            found = re.search(
                r"serving com.example.shoppingcart.ShoppingCart on [\d.]+:(\d+)", line
            )
            if found:
                port = int(found.group(1))
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            spec = await entity_pb2_grpc.EntityDiscoveryStub(channel).discover(
                entity_pb2.ProxyInfo(proxy_name="signal-test"), timeout=10
            )
        assert spec.service_info.support_library_version  # the version is known there too
        process.send_signal(sig)
        rest = await asyncio.wait_for(process.stderr.read(), 30)
        assert await asyncio.wait_for(process.wait(), 30) == 0, rest.decode()
        assert "Shutting down" in rest.decode() and "Stopped" in rest.decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
