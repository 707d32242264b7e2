"""In-process HTTP APIs for tests: the real client port and HTTP API over the test proto's model,
with a fake router standing in for the entities (streams, reply metadata, chosen failures)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from google.api.httpbody_pb2 import HttpBody
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import FileDescriptor

sys.path.insert(0, str(Path(__file__).resolve().parent))

from httptest import echo_pb2

from cloudstate.protocol import entity_pb2
from cloudstate.proxy.errors import ProxyError
from cloudstate.proxy.http.api import HttpApi, HttpOptions
from cloudstate.proxy.http.listener import ClientPort
from cloudstate.proxy.model import ACTION, EVENT_SOURCED, UserFunctionModel, build_model
from cloudstate.proxy.router import RouterReply


def file_set(root: FileDescriptor) -> descriptor_pb2.FileDescriptorSet:
    """``root`` and its imports, dependencies first."""
    result = descriptor_pb2.FileDescriptorSet()
    seen: set[str] = set()

    def add(fd: FileDescriptor) -> None:
        if fd.name in seen:
            return
        seen.add(fd.name)
        for dep in fd.dependencies:
            add(dep)
        proto = descriptor_pb2.FileDescriptorProto()
        fd.CopyToProto(proto)
        result.file.append(proto)

    add(root)
    return result


def echo_model() -> UserFunctionModel:
    spec = entity_pb2.EntitySpec(
        proto=file_set(echo_pb2.DESCRIPTOR).SerializeToString(),
        entities=[
            entity_pb2.Entity(entity_type=EVENT_SOURCED, service_name="httptest.Echo"),
            entity_pb2.Entity(entity_type=ACTION, service_name="httptest.Ticker"),
        ],
    )
    return build_model(spec, [EVENT_SOURCED, ACTION])


Reply = Callable[[str, bytes, entity_pb2.Metadata | None], RouterReply]


class FakeRouter:
    """Echo/Ticker without a user function. ``call`` echoes like tests/http/echo_uf.py and adds
    reply metadata; ``stream`` implements the Ticker (the router.stream interface)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes, entity_pb2.Metadata | None]] = []
        self.fail_with: ProxyError | None = None
        self.closed_streams = 0  # server streams whose generator was closed (finished or not)

    def check_docs_access(self, metadata: entity_pb2.Metadata | None, what: str) -> None:
        return None

    async def call(
        self, method: object, payload: bytes, metadata: entity_pb2.Metadata | None
    ) -> RouterReply:
        name = getattr(method, "name", "")
        self.calls.append((name, payload, metadata))
        if self.fail_with is not None:
            raise self.fail_with
        request = echo_pb2.EchoRequest.FromString(payload)
        reply = echo_pb2.EchoReply(request=request, method=name)
        reply.inner.CopyFrom(request.inner)
        reply.items.extend(request.items)
        for entry in metadata.entries if metadata else ():
            reply.metadata[entry.key] = entry.string_value or "bytes:" + entry.bytes_value.hex()
        reply_metadata = entity_pb2.Metadata(
            entries=[
                entity_pb2.MetadataEntry(key="x-reply", string_value="yes"),
                entity_pb2.MetadataEntry(key="trace-bin", bytes_value=b"\x01\x02"),
                entity_pb2.MetadataEntry(key="content-length", string_value="999"),
            ]
        )
        return RouterReply(reply.SerializeToString(), reply_metadata)

    async def stream(
        self,
        method: object,
        requests: bytes | AsyncIterator[bytes],
        metadata: entity_pb2.Metadata | None,
    ) -> AsyncIterator[RouterReply]:
        name = getattr(method, "name", "")
        first_metadata = entity_pb2.Metadata(
            entries=[entity_pb2.MetadataEntry(key="x-stream", string_value="1")]
        )
        if name in ("Ticks", "Files"):
            assert isinstance(requests, bytes)
            request = echo_pb2.TickRequest.FromString(requests)
            if request.fail_at == "start":
                raise ProxyError("ticker refused to start", _status("NOT_FOUND"))
            try:
                async for reply in self._ticks(name, request, first_metadata):
                    yield reply
            finally:
                self.closed_streams += 1
            return
        assert not isinstance(requests, bytes)
        total = 0
        async for data in requests:
            tick = echo_pb2.Tick.FromString(data)
            total += tick.n
            if name == "Chat":
                yield RouterReply(echo_pb2.Tick(n=tick.n * 10).SerializeToString())
        if name == "Sum":
            yield RouterReply(echo_pb2.Tick(n=total).SerializeToString(), first_metadata)

    async def _ticks(
        self, name: str, request: echo_pb2.TickRequest, first_metadata: entity_pb2.Metadata
    ) -> AsyncIterator[RouterReply]:
        for n in range(request.count):
            if request.fail_at == str(n):
                raise ProxyError(f"tick {n} failed", _status("UNAVAILABLE"))
            await asyncio.sleep(0.05 if request.fail_at == "slow" else 0)
            metadata = first_metadata if n == 0 else None
            if name == "Files":
                body = HttpBody(content_type="text/plain", data=f"chunk{n};".encode())
                yield RouterReply(body.SerializeToString(), metadata)
            else:
                yield RouterReply(echo_pb2.Tick(n=n).SerializeToString(), metadata)


def _status(name: str) -> object:
    import grpc

    return getattr(grpc.StatusCode, name)


async def serve(options: HttpOptions | None = None) -> tuple[ClientPort, FakeRouter, HttpApi]:
    """A client port on a free loopback port serving the fake router (no gRPC upstream)."""
    api = HttpApi(options)
    router = FakeRouter()
    api.activate(echo_model(), router)
    port = ClientPort(api, "127.0.0.1", 0, "/nonexistent/grpc.sock")
    await port.start()
    return port, router, api
