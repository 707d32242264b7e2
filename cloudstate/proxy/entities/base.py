"""What every entity-type handler gives the router, and the pieces entity actors share."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import grpc
from google.protobuf import any_pb2

from cloudstate.protocol import entity_pb2
from cloudstate.proxy.errors import ProxyError, UserFunctionUnavailable
from cloudstate.proxy.model import MethodModel
from cloudstate.proxy.reannounce import announced, connection_lost

if TYPE_CHECKING:
    from cloudstate.proxy.durable.keys import KeyedCall

log = logging.getLogger(__name__)

_EOF: Any = grpc.aio.EOF  # type: ignore[attr-defined]  # end-of-stream marker of grpc.aio

# gRPC transport headers that are not request metadata for the user function.
_TRANSPORT_HEADERS = frozenset(
    {
        ":authority",
        ":path",
        ":method",
        ":scheme",
        "content-type",
        "te",
        "user-agent",
        "accept-encoding",
        "grpc-accept-encoding",
        "grpc-encoding",
        "grpc-timeout",
    }
)


def metadata_from_grpc(
    pairs: Iterable[tuple[str, str | bytes]] | None,
) -> entity_pb2.Metadata | None:
    """Client request headers as protocol Metadata; None when there are none worth passing on
    (so the Command's metadata stays unset, as the reference proxy leaves it)."""
    if not pairs:
        return None
    entries = []
    for key, value in pairs:
        if key in _TRANSPORT_HEADERS:
            continue
        if isinstance(value, bytes):
            entries.append(entity_pb2.MetadataEntry(key=key, bytes_value=value))
        else:
            entries.append(entity_pb2.MetadataEntry(key=key, string_value=value))
    return entity_pb2.Metadata(entries=entries) if entries else None


def headers_from_metadata(metadata: entity_pb2.Metadata) -> list[tuple[str, str | bytes]]:
    """Reply metadata as response headers: string entries as they are, bytes entries under keys
    ending in ``-bin`` (gRPC's rule for binary headers); transport headers are dropped."""
    headers: list[tuple[str, str | bytes]] = []
    for entry in metadata.entries:
        key = entry.key.lower()
        if key in _TRANSPORT_HEADERS or key.startswith(("grpc-", ":")):
            continue
        if entry.WhichOneof("value") == "bytes_value":
            headers.append((key if key.endswith("-bin") else key + "-bin", entry.bytes_value))
        else:
            headers.append((key, entry.string_value))
    return headers


@dataclass(slots=True)
class Outcome:
    """What an entity answered for one command, after its state changes are durable."""

    client_action: entity_pb2.ClientAction
    side_effects: list[entity_pb2.SideEffect] = field(default_factory=list)
    #: The reply was published to its ``out.topic`` with the entity's write (the outbox): the
    #: router must not publish it again.
    published: bool = False
    #: The answer stored for the call's idempotency key, given again: the router performs its
    #: client action only (reply, failure, forward), never side effects.
    replayed: bool = False


@dataclass(slots=True)
class PendingCommand:
    """A command waiting for its entity: the request and the future its outcome goes to."""

    method: MethodModel
    payload: bytes
    metadata: entity_pb2.Metadata | None
    future: asyncio.Future[Outcome]
    #: How often the command was re-run because another proxy node changed its entity first.
    attempts: int = 0
    #: The command's idempotency key and request fingerprint (None: no key).
    keyed: KeyedCall | None = None

    def payload_any(self) -> any_pb2.Any:
        return any_pb2.Any(type_url=self.method.input_type_url, value=self.payload)

    def fail(self, error: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(error)

    def succeed(self, outcome: Outcome) -> None:
        if not self.future.done():
            self.future.set_result(outcome)


class EntityHandler(Protocol):
    """Routes commands for one entity service (one per service the user function reports)."""

    async def handle(
        self,
        method: MethodModel,
        entity_id: str,
        payload: bytes,
        metadata: entity_pb2.Metadata | None,
    ) -> Outcome: ...

    async def close(self) -> None: ...


class StreamingEntityHandler(EntityHandler, Protocol):
    """A handler that also serves streamed methods (actions of every shape, CRDT server streams).

    ``requests`` is the single request of a server-streaming call, or an async iterator of the
    requests of a client-streaming / duplex call. Each yielded Outcome is one message for the
    client (its side effects run first; an Outcome without a client action sends nothing). The
    iterator ends when the stream ends; the caller cancelling it (``aclose``) must cancel the
    user function's stream.
    """

    def handle_streamed(
        self,
        method: MethodModel,
        entity_id: str,
        requests: bytes | AsyncIterator[bytes],
        metadata: entity_pb2.Metadata | None,
    ) -> AsyncIterator[Outcome]: ...


#: Channels without a connection to the user function, and since when (one line per outage,
#: however many entities wait for it).
_unreachable_since: dict[int, float] = {}
#: Seconds of waiting for a connection before saying so: reconnecting to a user function that
#: is up takes milliseconds.
_QUIET_WAIT = 0.5


async def wait_until_reachable(channel: grpc.aio.Channel, within: float, what: str) -> None:
    """Return once ``channel`` is connected to the user function, waiting up to ``within``
    seconds (raises :class:`~cloudstate.proxy.errors.UserFunctionUnavailable` after that).

    Opening an entity stream on a channel without a connection — the user function restarting,
    say — fails at once with ``Connection refused``; activations wait here instead. ``what``
    (``entity 'c1' of shop.Cart``) says who waits, in the one INFO line of an outage.

    Once connected after an outage, the proxy first tells the (restarted) user function what it
    supports (:mod:`cloudstate.proxy.reannounce`), then returns.
    """
    if channel.get_state(try_to_connect=True) is grpc.ChannelConnectivity.READY:
        await announced(channel)
        return
    connection_lost(channel)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        async with asyncio.timeout(min(_QUIET_WAIT, within)):
            await channel.channel_ready()
    except TimeoutError:
        pass
    else:
        await announced(channel)
        return
    key = id(channel)
    if key not in _unreachable_since:
        _unreachable_since[key] = started
        log.info(
            "the user function is not reachable (%s); activating %s waits up to %gs for it",
            channel.get_state().name,
            what,
            within,
        )
    try:
        async with asyncio.timeout(max(0.0, within - (loop.time() - started))):
            await channel.channel_ready()
    except TimeoutError:
        raise UserFunctionUnavailable(
            f"the user function was not reachable within {within:g}s; {what} was not "
            "activated and the command was not applied"
        ) from None
    since = _unreachable_since.pop(key, None)
    if since is not None:
        log.info("the user function is reachable again (after %.1fs)", loop.time() - since)
    await announced(channel)


def rpc_failed(error: BaseException) -> bool:
    """True for the errors a broken gRPC stream raises on read or write."""
    return isinstance(error, grpc.aio.AioRpcError | asyncio.InvalidStateError | grpc.aio.UsageError)


async def finish_stream(call: Any, grace: float = 1.0) -> None:
    """Half-close an entity stream and wait briefly for the user function to close its side.

    Some language supports never complete their side after the proxy half-closes it, so after
    ``grace`` seconds the call is cancelled instead of waiting forever.
    """
    try:
        with contextlib.suppress(Exception):
            await call.done_writing()
        async with asyncio.timeout(grace):
            while True:
                message = await call.read()
                if message is _EOF:
                    return
                log.debug("ignoring message after half-close: %s", message)
    except (TimeoutError, Exception):
        call.cancel()


def failure_error(failure: entity_pb2.Failure, default: grpc.StatusCode) -> ProxyError:
    """The client-facing error for a user failure."""
    from cloudstate.proxy.errors import CommandFailed, status_from_number

    return CommandFailed(
        failure.description or "command failed",
        status_from_number(failure.grpc_status_code, default),
    )
