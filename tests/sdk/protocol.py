"""Drive an entity stream of the SDK the way a proxy does, over a real gRPC channel."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import grpc
from google.protobuf.message import Message

from cloudstate.any_support import pack
from cloudstate.protocol import entity_pb2, event_sourced_pb2, event_sourced_pb2_grpc

TIMEOUT = 10.0


class EntityStream:
    """One ``EventSourced.handle`` stream; command ids count from 1 as a proxy's do."""

    def __init__(self, channel: grpc.aio.Channel, service: str, entity_id: str) -> None:
        self.service = service
        self.entity_id = entity_id
        self.call = event_sourced_pb2_grpc.EventSourcedStub(channel).handle()
        self.next_id = 1

    async def write(self, message: event_sourced_pb2.EventSourcedStreamIn) -> None:
        await asyncio.wait_for(self.call.write(message), TIMEOUT)

    async def read(self) -> Any:
        """The next output message, or ``grpc.aio.EOF``."""
        return await asyncio.wait_for(self.call.read(), TIMEOUT)

    async def init(
        self,
        snapshot: tuple[int, Any] | None = None,
        events: Sequence[tuple[int, Any]] = (),
    ) -> EntityStream:
        init = event_sourced_pb2.EventSourcedInit(
            service_name=self.service, entity_id=self.entity_id
        )
        if snapshot is not None:
            init.snapshot.snapshot_sequence = snapshot[0]
            init.snapshot.snapshot.CopyFrom(pack(snapshot[1]))
        await self.write(event_sourced_pb2.EventSourcedStreamIn(init=init))
        for sequence, payload in events:
            await self.write(
                event_sourced_pb2.EventSourcedStreamIn(
                    event=event_sourced_pb2.EventSourcedEvent(
                        sequence=sequence, payload=pack(payload)
                    )
                )
            )
        return self

    async def send(
        self, name: str, message: Message, metadata: Sequence[tuple[str, str | bytes]] = ()
    ) -> int:
        command_id = self.next_id
        self.next_id += 1
        command = entity_pb2.Command(
            entity_id=self.entity_id, id=command_id, name=name, payload=pack(message)
        )
        for key, value in metadata:
            if isinstance(value, bytes):
                command.metadata.entries.add(key=key, bytes_value=value)
            else:
                command.metadata.entries.add(key=key, string_value=value)
        await self.write(event_sourced_pb2.EventSourcedStreamIn(command=command))
        return command_id

    async def command(
        self, name: str, message: Message, metadata: Sequence[tuple[str, str | bytes]] = ()
    ) -> event_sourced_pb2.EventSourcedReply:
        """Send a command and return its reply (which must be a reply, for this id)."""
        command_id = await self.send(name, message, metadata)
        out = await self.read()
        assert out is not grpc.aio.EOF, "stream ended instead of replying"
        assert out.WhichOneof("message") == "reply", out
        assert out.reply.command_id == command_id
        return out.reply

    async def expect_failure(self) -> entity_pb2.Failure:
        """The stream must send a top-level failure and then end."""
        out = await self.read()
        assert out is not grpc.aio.EOF, "stream ended without a failure"
        assert out.WhichOneof("message") == "failure", out
        assert await self.read() is grpc.aio.EOF
        return out.failure

    async def close(self) -> None:
        """Half-close like a passivating proxy; the SDK must end its side too."""
        await asyncio.wait_for(self.call.done_writing(), TIMEOUT)
        assert await self.read() is grpc.aio.EOF
        assert await asyncio.wait_for(self.call.code(), TIMEOUT) == grpc.StatusCode.OK


def reply(
    command_id: int,
    payload: Message | None = None,
    *,
    events: Sequence[Any] = (),
    snapshot: Any = None,
    forward: tuple[str, str, Message] | None = None,
    side_effects: Sequence[tuple[str, str, Message, bool]] = (),
) -> event_sourced_pb2.EventSourcedReply:
    """The exact reply expected from the SDK."""
    expected = event_sourced_pb2.EventSourcedReply(command_id=command_id)
    if forward is not None:
        service, method, message = forward
        expected.client_action.forward.CopyFrom(
            entity_pb2.Forward(service_name=service, command_name=method, payload=pack(message))
        )
    elif payload is not None:
        expected.client_action.reply.payload.CopyFrom(pack(payload))
    expected.events.extend(pack(event) for event in events)
    for service, method, message, synchronous in side_effects:
        expected.side_effects.add(
            service_name=service,
            command_name=method,
            payload=pack(message),
            synchronous=synchronous,
        )
    if snapshot is not None:
        expected.snapshot.CopyFrom(pack(snapshot))
    return expected


def failure_reply(
    command_id: int, description: str, *, restart: bool = False, code: int = 0
) -> event_sourced_pb2.EventSourcedReply:
    expected = event_sourced_pb2.EventSourcedReply(command_id=command_id)
    expected.client_action.failure.CopyFrom(
        entity_pb2.Failure(
            command_id=command_id, description=description, restart=restart, grpc_status_code=code
        )
    )
    return expected
