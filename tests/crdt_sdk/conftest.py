"""Fixtures for the CRDT SDK tests: the test entities served in-process on a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import grpc
import pytest

from cloudstate import CloudState, CloudStateServer
from tests.crdt_sdk import model
from tests.crdt_sdk.protocol import CrdtStream

SERVICE = "crdtsdk.CrdtModel"


@pytest.fixture(scope="session")
async def crdt_server() -> AsyncIterator[CloudStateServer]:
    cloudstate = CloudState(service_name="crdt-sdk-tests")
    for entity in (model.model, model.two, model.probe):
        cloudstate.register_crdt_entity(entity)
    server = await cloudstate.serve_async(host="127.0.0.1", port=0)
    yield server
    await server.stop(0)


@pytest.fixture(scope="session")
async def crdt_channel(crdt_server: CloudStateServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(crdt_server.address) as channel:
        yield channel


@pytest.fixture
def crdt_stream(crdt_channel: grpc.aio.Channel) -> Callable[..., CrdtStream]:
    """``crdt_stream(entity_id, service="crdtsdk.CrdtModel")`` opens a new stream."""
    return lambda entity_id, service=SERVICE: CrdtStream(crdt_channel, service, entity_id)
