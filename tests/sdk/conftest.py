"""Fixtures for the SDK tests: in-process user functions on port 0 and channels to them."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import grpc
import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
SHOPPINGCART_DIR = ROOT / "examples" / "shoppingcart"
if str(SHOPPINGCART_DIR) not in sys.path:
    sys.path.insert(0, str(SHOPPINGCART_DIR))

from shoppingcart.shopping_cart_entity import entity as shopping_cart_entity  # noqa: E402

from cloudstate import CloudState, CloudStateServer, EventSourcedEntity  # noqa: E402
from tests.sdk import model  # noqa: E402
from tests.sdk.protocol import EntityStream  # noqa: E402

CART = "com.example.shoppingcart.ShoppingCart"


@pytest.fixture(scope="session")
async def cart_server() -> AsyncIterator[CloudStateServer]:
    """The example's user function, as ``shopping_cart.py`` builds it, on a free port."""
    server = (
        await CloudState()
        .register_event_sourced_entity(shopping_cart_entity)
        .serve_async(host="127.0.0.1", port=0)
    )
    yield server
    await server.stop(0)


@pytest.fixture(scope="session")
async def cart_channel(cart_server: CloudStateServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(cart_server.address) as channel:
        yield channel


@pytest.fixture(scope="session")
async def model_server() -> AsyncIterator[CloudStateServer]:
    """The test-only entities (``tests/sdk/model.py``) on a free port."""
    cloudstate = CloudState(service_name="sdk-tests", service_version="1.2.3")
    for entity in (model.model, model.two, model.probe):
        cloudstate.register_event_sourced_entity(entity)
    server = await cloudstate.serve_async(host="127.0.0.1", port=0)
    yield server
    await server.stop(0)


@pytest.fixture(scope="session")
async def model_channel(model_server: CloudStateServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(model_server.address) as channel:
        yield channel


@pytest.fixture
def cart_stream(cart_channel: grpc.aio.Channel) -> Callable[[str], EntityStream]:
    """``cart_stream(user_id)`` opens a new (not yet initialised) shopping-cart stream."""
    return lambda entity_id: EntityStream(cart_channel, CART, entity_id)


@pytest.fixture
def model_stream(model_channel: grpc.aio.Channel) -> Callable[..., EntityStream]:
    """``model_stream(entity_id, service="sdktest.Model")`` opens a new stream."""
    return lambda entity_id, service="sdktest.Model": EntityStream(
        model_channel, service, entity_id
    )


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[grpc.aio.Channel]]]:
    """``await serve(*entities)`` runs a dedicated server for this test; returns a channel."""
    servers: list[CloudStateServer] = []
    channels: list[grpc.aio.Channel] = []

    async def start(*entities: EventSourcedEntity) -> grpc.aio.Channel:
        cloudstate = CloudState()
        for entity in entities:
            cloudstate.register_event_sourced_entity(entity)
        server = await cloudstate.serve_async(host="127.0.0.1", port=0)
        servers.append(server)
        channel = grpc.aio.insecure_channel(server.address)
        channels.append(channel)
        return channel

    yield start
    for channel in channels:
        await channel.close()
    for server in servers:
        await server.stop(0)
