"""Actions (``cloudstate.action.ActionProtocol``): stateless functions, no actors.

Every client call becomes one call of the user function, of the shape of the user's method:

==================  =====================  ==================================================
user method         protocol call          what is sent
==================  =====================  ==================================================
unary               ``handleUnary``        ``ActionCommand{service_name, name, payload, metadata}``
server streaming    ``handleStreamedOut``  the same, once
client streaming    ``handleStreamedIn``   ``{service_name, name, metadata}`` first (no payload),
                                           then ``{payload}`` per client message
duplex              ``handleStreamed``     as client streaming
==================  =====================  ==================================================

Each ``ActionResponse`` becomes an :class:`~cloudstate.proxy.entities.base.Outcome` for the
router, which performs its side effects and forward. Unary calls are bounded by the command
timeout; streams are not (they may legitimately stay open for long). When the consumer of
:meth:`ActionHandler.handle_streamed` stops early — the client cancelled, an error — the user
function's call is cancelled and the task feeding it the client's messages is stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import any_pb2

from cloudstate.protocol import action_pb2, action_pb2_grpc, entity_pb2
from cloudstate.proxy.entities.actor import EntitySettings
from cloudstate.proxy.entities.base import _EOF, Outcome, rpc_failed
from cloudstate.proxy.errors import (
    CommandTimeout,
    ProtocolError,
    ProxyError,
    UserFunctionUnavailable,
)
from cloudstate.proxy.model import MethodModel, ServiceModel
from cloudstate.proxy.reannounce import announced
from cloudstate.proxy.stores.base import Store

log = logging.getLogger(__name__)

#: Loop iterations a request pump waits for a client cancellation before half-closing.
_CANCEL_TICKS = 3


def outcome_of(response: action_pb2.ActionResponse) -> Outcome:
    """The router's view of an ``ActionResponse`` (an unset response means "no reply")."""
    action = entity_pb2.ClientAction()
    kind = response.WhichOneof("response")
    if kind == "reply":
        action.reply.CopyFrom(response.reply)
    elif kind == "forward":
        action.forward.CopyFrom(response.forward)
    elif kind == "failure":
        action.failure.CopyFrom(response.failure)
    return Outcome(action, list(response.side_effects))


class ActionHandler:
    """Serves the methods of one action service (``HANDLER_FACTORIES`` builds one per service).

    Example::

        handler = ActionHandler(service, channel, store, EntitySettings(), report_error)
        outcome = await handler.handle(method, "", request_bytes, metadata)
        async for outcome in handler.handle_streamed(method, "", requests, metadata): ...
    """

    def __init__(
        self,
        service: ServiceModel,
        channel: grpc.aio.Channel,
        store: Store,
        settings: EntitySettings,
        report_error: Callable[[str], Awaitable[None]],
    ) -> None:
        self.service = service
        self.settings = settings
        self.report_error = report_error
        self.channel = channel
        self.stub = action_pb2_grpc.ActionProtocolStub(channel)
        #: Streamed calls to the user function currently open (for tests and diagnostics).
        self.open_streams = 0

    async def handle(
        self,
        method: MethodModel,
        entity_id: str,
        payload: bytes,
        metadata: entity_pb2.Metadata | None,
    ) -> Outcome:
        command = _command(method, metadata, payload)
        await announced(self.channel)
        try:
            response = await self.stub.handleUnary(command, timeout=self.settings.command_timeout)
        except grpc.aio.AioRpcError as error:
            raise self._rpc_error(method, error) from error
        return outcome_of(response)

    async def handle_any(
        self, method: MethodModel, payload: any_pb2.Any, metadata: entity_pb2.Metadata | None
    ) -> Outcome:
        """Like :meth:`handle`, with the command's payload given as is (for a method taking
        ``google.protobuf.Any``: eventing passes the consumed event itself)."""
        command = _command(method, metadata, b"")
        command.payload.CopyFrom(payload)
        await announced(self.channel)
        try:
            response = await self.stub.handleUnary(command, timeout=self.settings.command_timeout)
        except grpc.aio.AioRpcError as error:
            raise self._rpc_error(method, error) from error
        return outcome_of(response)

    async def handle_streamed(
        self,
        method: MethodModel,
        entity_id: str,
        requests: bytes | AsyncIterator[bytes],
        metadata: entity_pb2.Metadata | None,
    ) -> AsyncIterator[Outcome]:
        await announced(self.channel)
        if not method.client_streaming:
            if not isinstance(requests, bytes):
                raise ProtocolError(f"{_name(method)} is server-streaming: it takes one request")
            call = self.stub.handleStreamedOut(_command(method, metadata, requests))
            self.open_streams += 1
            try:
                async for response in self._responses(method, call, None):
                    yield outcome_of(response)
            finally:
                self.open_streams -= 1
                call.cancel()
            return
        if isinstance(requests, bytes):
            requests = _single(requests)
        if method.server_streaming:
            call = self.stub.handleStreamed()
        else:
            call = self.stub.handleStreamedIn()
        self.open_streams += 1
        pump = _RequestPump(call, method, metadata, requests)
        try:
            if method.server_streaming:
                async for response in self._responses(method, call, pump):
                    yield outcome_of(response)
            else:
                try:
                    response = await call
                except (grpc.aio.AioRpcError, asyncio.CancelledError) as error:
                    raise self._stream_error(method, error, pump) from error
                yield outcome_of(response)
        finally:
            self.open_streams -= 1
            call.cancel()
            await pump.stop()

    async def _responses(
        self, method: MethodModel, call: Any, pump: _RequestPump | None
    ) -> AsyncIterator[action_pb2.ActionResponse]:
        while True:
            try:
                response = await call.read()
            except (grpc.aio.AioRpcError, asyncio.CancelledError) as error:
                raise self._stream_error(method, error, pump) from error
            if response is _EOF:
                return
            yield response

    def _stream_error(
        self,
        method: MethodModel,
        error: grpc.aio.AioRpcError | asyncio.CancelledError,
        pump: _RequestPump | None,
    ) -> BaseException:
        """What ends the stream: the client's own request error if that is why the call was
        cancelled, the user function's error otherwise; a real cancellation stays one."""
        if isinstance(error, asyncio.CancelledError):
            task = asyncio.current_task()
            if pump is not None and pump.error is not None and not (task and task.cancelling()):
                return pump.error
            return error
        if pump is not None and pump.error is not None:
            return pump.error
        return self._rpc_error(method, error)

    def _rpc_error(self, method: MethodModel, error: grpc.aio.AioRpcError) -> ProxyError:
        code = error.code()
        details = error.details() or code.name
        if code == grpc.StatusCode.UNAVAILABLE:
            return UserFunctionUnavailable(
                f"the user function could not be reached for action {_name(method)}: {details}"
            )
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return CommandTimeout(
                f"action {_name(method)} did not answer within "
                f"{self.settings.command_timeout:g}s (--command-timeout)"
            )
        # Any other status the user function chose passes through to the client.
        return ProxyError(details, code)

    async def close(self) -> None:
        """Nothing to stop: actions hold no state and no long-lived streams of their own."""


class _RequestPump:
    """Feeds the client's messages into a client-streaming / duplex user-function call.

    Sends the header (service, method, metadata; no payload) first, then one
    ``ActionCommand{payload}`` per client message, then half-closes. If reading the client's
    messages fails, the error is kept in :attr:`error` and the user function's call is cancelled.
    """

    def __init__(
        self,
        call: Any,
        method: MethodModel,
        metadata: entity_pb2.Metadata | None,
        requests: AsyncIterator[bytes],
    ) -> None:
        self.error: BaseException | None = None
        self._call = call
        self._method = method
        self._requests = requests
        header = action_pb2.ActionCommand(service_name=method.service.name, name=method.name)
        if metadata is not None:
            header.metadata.CopyFrom(metadata)
        self._owner = asyncio.current_task()
        self._task = asyncio.create_task(self._run(header), name=f"requests of {_name(method)}")

    async def _run(self, header: action_pb2.ActionCommand) -> None:
        call = self._call
        type_url = self._method.input_type_url
        try:
            await call.write(header)
            async for request in self._requests:
                await call.write(
                    action_pb2.ActionCommand(payload=any_pb2.Any(type_url=type_url, value=request))
                )
            if await self._consumer_cancelled():
                return  # the client cancelled: the consumer cancels the call, no half-close
            await call.done_writing()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if rpc_failed(error):
                return  # the user function's side ended: the reading side reports why
            self.error = error
            call.cancel()

    async def _consumer_cancelled(self) -> bool:
        """Whether the task consuming the responses is being cancelled.

        grpc.aio ends a server's request stream the same way when the client half-closes and when
        it cancels; the cancellation reaches the handler's task a moment later. Looking for it for
        a few loop iterations before half-closing keeps a cancelled client call from reaching the
        user function as a completed request stream (almost always; a late cancellation still
        cancels the user function's stream right after).
        """
        owner = self._owner
        for _ in range(_CANCEL_TICKS):
            if owner is None or owner.done() or owner.cancelling():
                return owner is not None
            await asyncio.sleep(0)
        return owner is not None and (owner.done() or owner.cancelling() > 0)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        close = getattr(self._requests, "aclose", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()


def _command(
    method: MethodModel, metadata: entity_pb2.Metadata | None, payload: bytes
) -> action_pb2.ActionCommand:
    command = action_pb2.ActionCommand(
        service_name=method.service.name,
        name=method.name,
        payload=any_pb2.Any(type_url=method.input_type_url, value=payload),
    )
    if metadata is not None:
        command.metadata.CopyFrom(metadata)
    return command


def _name(method: MethodModel) -> str:
    return f"{method.service.name}.{method.name}"


async def _single(request: bytes) -> AsyncIterator[bytes]:
    yield request
