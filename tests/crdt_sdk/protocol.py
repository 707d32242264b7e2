"""Drive a ``Crdt.handle`` stream of the SDK the way a proxy does, over a real gRPC channel, and
build the messages the conformance kit expects (its notation: ``reply``, ``fail``, ``strm``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import grpc
from google.protobuf.message import Message

from cloudstate.any_support import pack
from cloudstate.protocol import crdt_pb2, crdt_pb2_grpc, entity_pb2

TIMEOUT = 10.0
Out = crdt_pb2.CrdtStreamOut
In = crdt_pb2.CrdtStreamIn
Delta = crdt_pb2.CrdtDelta


class CrdtStream:
    """One ``Crdt.handle`` stream; command ids count from 1 as a proxy's do."""

    def __init__(self, channel: grpc.aio.Channel, service: str, entity_id: str) -> None:
        self.service = service
        self.entity_id = entity_id
        self.call = crdt_pb2_grpc.CrdtStub(channel).handle()
        self.next_id = 1

    async def write(self, message: In) -> None:
        await asyncio.wait_for(self.call.write(message), TIMEOUT)

    async def read(self) -> Any:
        """The next output message, or ``grpc.aio.EOF``."""
        return await asyncio.wait_for(self.call.read(), TIMEOUT)

    async def init(self, delta: Delta | None = None) -> CrdtStream:
        init = crdt_pb2.CrdtInit(service_name=self.service, entity_id=self.entity_id)
        if delta is not None:
            init.delta.CopyFrom(delta)
        await self.write(In(init=init))
        return self

    async def delta(self, delta: Delta) -> None:
        await self.write(In(delta=delta))

    async def delete(self) -> None:
        await self.write(In(delete=crdt_pb2.CrdtDelete()))

    async def cancel(self, command_id: int) -> None:
        cancelled = entity_pb2.StreamCancelled(entity_id=self.entity_id, id=command_id)
        await self.write(In(stream_cancelled=cancelled))

    async def send(
        self,
        name: str,
        message: Message,
        *,
        streamed: bool = False,
        command_id: int | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> int:
        if command_id is None:
            command_id = self.next_id
            self.next_id += 1
        command = entity_pb2.Command(
            entity_id=self.entity_id,
            id=command_id,
            name=name,
            payload=pack(message),
            streamed=streamed,
        )
        for key, value in (metadata or {}).items():
            command.metadata.entries.add(key=key, string_value=value)
        await self.write(In(command=command))
        return command_id

    async def expect(self, *expected: Out) -> None:
        """The next messages must be ``expected`` (delta lists compared sorted, as the kit does)."""
        for want in expected:
            got = await self.read()
            assert got is not grpc.aio.EOF, f"stream ended, expected {want}"
            got, want = sorted_out(got), sorted_out(want)
            assert got == want, f"\ngot:\n{got}\nexpected:\n{want}"

    async def expect_failure(self) -> entity_pb2.Failure:
        """The stream must send a top-level failure and then end."""
        out = await self.read()
        assert out is not grpc.aio.EOF, "stream ended without a failure"
        assert out.WhichOneof("message") == "failure", out
        assert await self.read() is grpc.aio.EOF
        return out.failure

    async def close(self) -> None:
        """Half-close like a passivating proxy; the SDK must end its side without output."""
        await asyncio.wait_for(self.call.done_writing(), TIMEOUT)
        assert await self.read() is grpc.aio.EOF
        assert await asyncio.wait_for(self.call.code(), TIMEOUT) == grpc.StatusCode.OK


# -- expected messages ---------------------------------------------------------------------------


def reply(
    command_id: int,
    payload: Message | None = None,
    *,
    update: Delta | None = None,
    delete: bool = False,
    consistency: int = crdt_pb2.LOCAL,
    effects: Sequence[entity_pb2.SideEffect] = (),
    forward: entity_pb2.Forward | None = None,
    streamed: bool = False,
) -> Out:
    """``CrdtReply{command_id, reply|forward, side_effects, state_action, streamed}``."""
    out = crdt_pb2.CrdtReply(command_id=command_id, streamed=streamed)
    if forward is not None:
        out.client_action.forward.CopyFrom(forward)
    elif payload is not None:
        out.client_action.reply.payload.CopyFrom(pack(payload))
    out.side_effects.extend(effects)
    if delete:
        out.state_action.delete.SetInParent()
    elif update is not None:
        out.state_action.update.CopyFrom(update)
    if delete or update is not None:
        out.state_action.write_consistency = consistency  # type: ignore[assignment]
    return Out(reply=out)


def fail(command_id: int, description: str) -> Out:
    out = crdt_pb2.CrdtReply(command_id=command_id)
    out.client_action.failure.CopyFrom(
        entity_pb2.Failure(command_id=command_id, description=description)
    )
    return Out(reply=out)


def strm(
    command_id: int,
    payload: Message | None = None,
    *,
    effects: Sequence[entity_pb2.SideEffect] = (),
    end: bool = False,
) -> Out:
    out = crdt_pb2.CrdtStreamedMessage(command_id=command_id, end_stream=end)
    if payload is not None:
        out.client_action.reply.payload.CopyFrom(pack(payload))
    out.side_effects.extend(effects)
    return Out(streamed_message=out)


def cancelled(command_id: int, update: Delta | None = None) -> Out:
    out = crdt_pb2.CrdtStreamCancelledResponse(command_id=command_id)
    if update is not None:
        out.state_action.update.CopyFrom(update)
    return Out(stream_cancelled_response=out)


# -- deltas --------------------------------------------------------------------------------------


def gcounter(increment: int) -> Delta:
    return Delta(gcounter={"increment": increment})


def pncounter(change: int) -> Delta:
    return Delta(pncounter={"change": change})


def gset(*added: str) -> Delta:
    return Delta(gset={"added": [pack(e) for e in added]})


def orset(
    added: Iterable[str] = (), removed: Iterable[str] = (), *, cleared: bool = False
) -> Delta:
    return Delta(
        orset={
            "cleared": cleared,
            "removed": [pack(e) for e in removed],
            "added": [pack(e) for e in added],
        }
    )


def flag(value: bool) -> Delta:
    return Delta(flag={"value": value})


def vote(self_vote: bool, votes_for: int | None = None, total: int | None = None) -> Delta:
    """``VoteDelta``: from the proxy with the tally; from the user function only ``self_vote``."""
    d = Delta(vote={"self_vote": self_vote})
    if votes_for is not None:
        d.vote.votes_for = votes_for
    if total is not None:
        d.vote.total_voters = total
    return d


def ormap(
    *,
    cleared: bool = False,
    removed: Iterable[str] = (),
    updated: Mapping[str, Delta] | None = None,
    added: Mapping[str, Delta] | None = None,
) -> Delta:
    d = Delta(ormap={"cleared": cleared, "removed": [pack(k) for k in removed]})
    for key, value in (updated or {}).items():
        d.ormap.updated.add(key=pack(key), delta=value)
    for key, value in (added or {}).items():
        d.ormap.added.add(key=pack(key), delta=value)
    return d


def sort_delta(delta: Delta) -> None:
    """Sort the lists of a delta in place (the kit's ``Delta.sorted``)."""

    def by_bytes(items: Any) -> list[Any]:
        return sorted(items, key=lambda a: (a.type_url, a.value))

    which = delta.WhichOneof("delta")
    if which == "gset":
        added = by_bytes(delta.gset.added)
        del delta.gset.added[:]
        delta.gset.added.extend(added)
    elif which == "orset":
        for field in (delta.orset.added, delta.orset.removed):
            items = by_bytes(field)
            del field[:]
            field.extend(items)
    elif which == "ormap":
        removed = by_bytes(delta.ormap.removed)
        del delta.ormap.removed[:]
        delta.ormap.removed.extend(removed)
        for field in (delta.ormap.updated, delta.ormap.added):
            entries = sorted(field, key=lambda e: (e.key.type_url, e.key.value))
            copies = [crdt_pb2.ORMapEntryDelta() for _ in entries]
            for copy, entry in zip(copies, entries, strict=True):
                copy.CopyFrom(entry)
                sort_delta(copy.delta)
            del field[:]
            field.extend(copies)


def sorted_out(out: Out) -> Out:
    """A copy of ``out`` with every delta's lists sorted."""
    copy = Out()
    copy.CopyFrom(out)
    which = copy.WhichOneof("message")
    if which in ("reply", "stream_cancelled_response"):
        action = getattr(copy, which).state_action
        if action.HasField("update"):
            sort_delta(action.update)
    return copy
