"""Talking to a user function directly, as a proxy would: one protocol stream per entity.

Every read has a deadline (the run's ``--timeout``); a late, missing or different message fails
the case with what was expected and what arrived::

    stream = await t.event_sourced(ES_MODEL, entity_id).start()
    await stream.command(es_request(entity_id, es_emit("A")))
    await stream.expect(es_reply(1, es_response("A"), events=[es_persisted("A")]))
    await stream.close()
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message

from cloudstate.protocol import (
    crdt_pb2,
    crdt_pb2_grpc,
    entity_pb2,
    event_sourced_pb2_grpc,
    value_entity_pb2_grpc,
)
from cloudstate.tck import messages as m
from cloudstate.tck.framework import CaseFailed
from cloudstate.tck.render import render

_EOF: Any = grpc.aio.EOF  # type: ignore[attr-defined]

#: Rendered in place of a message when the stream ended instead.
END_OF_STREAM = "<end of stream>"

Normalizer = Callable[[Message], Message]


def compare(what: str, expected: Any, actual: Any, normalize: Normalizer | None = None) -> None:
    """Fail unless ``actual == expected`` (both normalized first when ``normalize`` is given)."""
    if normalize is not None and isinstance(expected, Message) and isinstance(actual, Message):
        expected, actual = normalize(expected), normalize(actual)
    if expected != actual:
        raise CaseFailed(what, expected, actual)


class ProtocolStream:
    """A bidirectional protocol stream opened by the TCK, with deadline-bound reads."""

    def __init__(self, call: Any, description: str, timeout: float) -> None:
        self.call = call
        self.description = description
        self.timeout = timeout
        self.last_sent = "opening the stream"
        self._reading: asyncio.Task[Any] | None = None

    async def send(self, message: Message, what: str | None = None) -> None:
        self.last_sent = what or _short(message)
        try:
            await asyncio.wait_for(self.call.write(message), self.timeout)
        except (grpc.aio.AioRpcError, grpc.aio.UsageError, asyncio.InvalidStateError) as e:
            raise CaseFailed(
                f"{self.description}: could not send {self.last_sent}: the stream failed "
                f"({await self._status()})"
            ) from e
        except TimeoutError as e:
            raise CaseFailed(f"{self.description}: sending {self.last_sent} blocked") from e

    async def receive(self, seconds: float | None = None) -> Message | None:
        """The next message from the user function, or None at the end of the stream."""
        try:
            message = await self._read(seconds or self.timeout)
        except TimeoutError:
            raise CaseFailed(
                f"{self.description}: nothing received within {seconds or self.timeout:g}s "
                f"after {self.last_sent}"
            ) from None
        except grpc.aio.AioRpcError as e:
            raise CaseFailed(
                f"{self.description}: the stream failed after {self.last_sent}: "
                f"{e.code().name}: {e.details()}"
            ) from e
        return None if message is _EOF else message

    async def expect(
        self, expected: Message, what: str | None = None, normalize: Normalizer | None = None
    ) -> Message:
        """The next message must equal ``expected``; returns it."""
        actual = await self.receive()
        label = f"{self.description}: {what or 'unexpected message'} after {self.last_sent}"
        if actual is None:
            raise CaseFailed(label + " (the stream ended)", expected, END_OF_STREAM)
        compare(label, expected, actual, normalize)
        return actual

    async def expect_end(self) -> None:
        """The user function must complete its side of the stream, successfully."""
        actual = await self.receive()
        if actual is not None:
            raise CaseFailed(
                f"{self.description}: expected the stream to end after {self.last_sent}",
                END_OF_STREAM,
                actual,
            )
        status = await self._status()
        if status != "OK":
            raise CaseFailed(
                f"{self.description}: the stream ended with an error after {self.last_sent}",
                "OK",
                status,
            )

    async def close(self) -> None:
        """Half-close (as a passivating proxy does); the user function must end its side."""
        self.last_sent = "the end of the input stream (passivation)"
        try:
            await asyncio.wait_for(self.call.done_writing(), self.timeout)
        except (grpc.aio.AioRpcError, grpc.aio.UsageError, asyncio.InvalidStateError) as e:
            raise CaseFailed(f"{self.description}: could not half-close the stream: {e}") from e
        await self.expect_end()

    async def expect_silence(self, seconds: float) -> None:
        """Nothing may arrive within ``seconds``."""
        try:
            message = await self._read(seconds)
        except TimeoutError:
            return
        except grpc.aio.AioRpcError as e:
            message = f"stream error {e.code().name}"
        raise CaseFailed(
            f"{self.description}: expected nothing after {self.last_sent}",
            "nothing",
            END_OF_STREAM if message is _EOF else message,
        )

    async def _read(self, seconds: float) -> Any:
        """Read with a deadline; a read that times out stays pending for the next call."""
        if self._reading is None:
            self._reading = asyncio.ensure_future(self.call.read())
        reading = self._reading
        try:
            result = await asyncio.wait_for(asyncio.shield(reading), seconds)
        except TimeoutError:
            raise
        except BaseException:
            if reading.done():
                self._reading = None
            raise
        self._reading = None
        return result

    def cancel(self) -> None:
        self.call.cancel()
        if self._reading is not None:
            self._reading.cancel()

    async def _status(self) -> str:
        try:
            code = await asyncio.wait_for(self.call.code(), self.timeout)
            details = await self.call.details()
        except (TimeoutError, asyncio.CancelledError):
            return "unknown status"
        return code.name if code == grpc.StatusCode.OK else f"{code.name}: {details}"


class EntityStream(ProtocolStream):
    """An entity stream: init, then commands numbered from 1."""

    def __init__(self, call: Any, kind: str, service: str, entity_id: str, timeout: float) -> None:
        super().__init__(call, f"{kind} stream of {service} (entity {entity_id!r})", timeout)
        self.service = service
        self.entity_id = entity_id
        self.next_command_id = 1

    def _command_message(self, command_id: int, payload: Message, name: str) -> Message:
        raise NotImplementedError

    async def command(self, payload: Message, name: str = "Process") -> int:
        """Send the next command (ids count from 1 on every stream); returns its id."""
        command_id = self.next_command_id
        self.next_command_id += 1
        await self.send(
            self._command_message(command_id, payload, name), f"command {command_id} ({name})"
        )
        return command_id


class EventSourcedStream(EntityStream):
    """An ``EventSourced.handle`` stream."""

    def __init__(self, channel: grpc.aio.Channel, service: str, entity_id: str, timeout: float):
        call = event_sourced_pb2_grpc.EventSourcedStub(channel).handle()
        super().__init__(call, "event-sourced", service, entity_id, timeout)

    async def start(
        self,
        snapshot: tuple[int, any_pb2.Any] | None = None,
        events: list[tuple[int, any_pb2.Any]] | None = None,
    ) -> EventSourcedStream:
        """Send ``init`` (with the snapshot, if any) and replay ``events``."""
        await self.send(m.es_init(self.service, self.entity_id, snapshot), "init")
        for sequence, payload in events or []:
            await self.send(m.es_event(sequence, payload), f"event {sequence}")
        return self

    def _command_message(self, command_id: int, payload: Message, name: str) -> Message:
        return m.es_command(command_id, self.entity_id, payload, name)


class ValueEntityStream(EntityStream):
    """A ``ValueEntity.handle`` stream."""

    def __init__(self, channel: grpc.aio.Channel, service: str, entity_id: str, timeout: float):
        call = value_entity_pb2_grpc.ValueEntityStub(channel).handle()
        super().__init__(call, "value entity", service, entity_id, timeout)

    async def start(self, state: any_pb2.Any | None = None) -> ValueEntityStream:
        """Send ``init`` (``state`` present; with a value if given)."""
        await self.send(m.ve_init(self.service, self.entity_id, state), "init")
        return self

    def _command_message(self, command_id: int, payload: Message, name: str) -> Message:
        return m.ve_command(command_id, self.entity_id, payload, name)


class CrdtStream(EntityStream):
    """A ``Crdt.handle`` stream. Expectations sort the unordered lists of deltas (set elements,
    map entries) before comparing."""

    def __init__(self, channel: grpc.aio.Channel, service: str, entity_id: str, timeout: float):
        call = crdt_pb2_grpc.CrdtStub(channel).handle()
        super().__init__(call, "CRDT", service, entity_id, timeout)

    async def start(self, delta: crdt_pb2.CrdtDelta | None = None) -> CrdtStream:
        """Send ``init`` (with the entity's current value as ``delta``, if it has one)."""
        from cloudstate.tck.crdt_messages import crdt_init

        await self.send(crdt_init(self.service, self.entity_id, delta), "init")
        return self

    async def delta(self, delta: crdt_pb2.CrdtDelta) -> None:
        """A change made elsewhere, as the proxy sends it."""
        await self.send(crdt_pb2.CrdtStreamIn(delta=delta), "a delta")

    async def delete(self) -> None:
        """The entity was deleted elsewhere."""
        await self.send(crdt_pb2.CrdtStreamIn(delete=crdt_pb2.CrdtDelete()), "a delete")

    async def streamed_command(self, payload: Message, name: str = "ProcessStreamed") -> int:
        """Send the next command, as a streamed command (server-streaming method)."""
        command_id = self.next_command_id
        self.next_command_id += 1
        message = crdt_pb2.CrdtStreamIn(
            command=m.command(command_id, self.entity_id, name, payload, streamed=True)
        )
        await self.send(message, f"streamed command {command_id} ({name})")
        return command_id

    async def cancel_streamed(self, command_id: int) -> None:
        """The client of streamed command ``command_id`` went away."""
        message = crdt_pb2.CrdtStreamIn(
            stream_cancelled=entity_pb2.StreamCancelled(entity_id=self.entity_id, id=command_id)
        )
        await self.send(message, f"the cancellation of streamed command {command_id}")

    def _command_message(self, command_id: int, payload: Message, name: str) -> Message:
        return crdt_pb2.CrdtStreamIn(command=m.command(command_id, self.entity_id, name, payload))

    async def expect(
        self, expected: Message, what: str | None = None, normalize: Normalizer | None = None
    ) -> Message:
        from cloudstate.tck.crdt_messages import sorted_crdt

        return await super().expect(expected, what, normalize or sorted_crdt)


class ActionStream(ProtocolStream):
    """A streamed ``ActionProtocol`` call: ``handleStreamedIn``, ``handleStreamedOut`` or
    ``handleStreamed``."""

    async def result(self) -> Message:
        """The single response of a ``handleStreamedIn`` call (after :meth:`done`)."""
        try:
            response: Message = await asyncio.wait_for(self.call, self.timeout)
        except TimeoutError:
            raise CaseFailed(
                f"{self.description}: no response within {self.timeout:g}s after {self.last_sent}"
            ) from None
        except grpc.aio.AioRpcError as e:
            raise CaseFailed(
                f"{self.description}: the call failed after {self.last_sent}: "
                f"{e.code().name}: {e.details()}"
            ) from e
        return response

    async def done(self) -> None:
        """Half-close the request stream."""
        self.last_sent = "the end of the request stream"
        try:
            await asyncio.wait_for(self.call.done_writing(), self.timeout)
        except (grpc.aio.AioRpcError, grpc.aio.UsageError, asyncio.InvalidStateError) as e:
            raise CaseFailed(f"{self.description}: could not half-close the stream: {e}") from e


def _short(message: Message) -> str:
    text = render(message).splitlines()
    return text[0] + (" ..." if len(text) > 1 else "")


__all__ = [
    "END_OF_STREAM",
    "ActionStream",
    "CrdtStream",
    "EventSourcedStream",
    "ProtocolStream",
    "ValueEntityStream",
    "compare",
]
