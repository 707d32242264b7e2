"""The ``cloudstate.action.ActionProtocol`` gRPC service: runs action handlers.

* ``handleUnary`` / ``handleStreamedOut`` get one ``ActionCommand{service_name, name, payload,
  metadata}``; ``handleStreamedIn`` / ``handleStreamed`` get a header ``{service_name, name,
  metadata}`` first, then one ``{payload}`` per client message.
* Responses follow :mod:`cloudstate.action.context`. ``ctx.fail()`` gives
  ``Failure{command_id: 0, description}`` (side effects added before it are kept, as the
  protocol's conformance kit expects; proxies perform none of them). An unknown service or
  method, an undecodable payload, or an exception in the handler (logged with its traceback)
  give a failure as well; a stream ends after it.
* When the proxy cancels a streamed call, the handler's generator is closed (its ``finally``
  blocks run) and nothing more is read or written.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message

from cloudstate.action.context import NO_REPLY, ActionContext, Failure, Forward
from cloudstate.action.entity import Action, ActionMethod, FunctionKind, Shape
from cloudstate.any_support import PROTOBUF_PREFIX, AnySupport, pack, pack_message
from cloudstate.component.replies import PackedReply
from cloudstate.component.servicer import ComponentServicer, failure
from cloudstate.errors import CommandFailure, UnknownTypeError
from cloudstate.protocol import action_pb2, action_pb2_grpc
from cloudstate.tracing import handler_span

log = logging.getLogger(__name__)

_ANY = "google.protobuf.Any"
_UNIMPLEMENTED = grpc.StatusCode.UNIMPLEMENTED.value[0]
_INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT.value[0]
_INTERNAL = grpc.StatusCode.INTERNAL.value[0]
#: Loop iterations to wait, at the end of a request stream, for a cancellation (see _payloads).
_CANCEL_TICKS = 3

Response = action_pb2.ActionResponse


class _CallFailed(Exception):
    """Ends a call with a failure response (unknown method, bad payload, ...)."""

    def __init__(self, description: str, code: int) -> None:
        super().__init__(description)
        self.description = description
        self.code = code


def _failure(description: str, code: int = 0, effects: Sequence[Any] = ()) -> Response:
    response = Response(failure=failure(0, description, code=code))
    response.side_effects.extend(effects)
    return response


class _Call:
    """One call of one action method: its context and how its values become responses."""

    def __init__(
        self, action: Action, method: ActionMethod, support: AnySupport, command: Any
    ) -> None:
        self.action = action
        self.method = method
        self.support = support
        metadata = command.metadata if command.HasField("metadata") else None
        self.ctx = ActionContext(action.name, method.name, metadata, support)

    @property
    def where(self) -> str:
        return f"{self.action.name}.{self.method.name}"

    def decode(self, payload: any_pb2.Any) -> Any:
        migrations = self.action.migrations
        try:
            value = migrations.decode(payload, self.support)
            if isinstance(value, any_pb2.Any):  # a method taking google.protobuf.Any
                with contextlib.suppress(UnknownTypeError):
                    value = migrations.decode(value, self.support)
            return value
        except Exception as e:
            raise _CallFailed(
                f"cannot decode the request for {self.where} ({payload.type_url}): {e}",
                _INVALID_ARGUMENT,
            ) from e

    def invoke(self, message: Any) -> Any:
        return self.method.handler.invoke(None, message, self.ctx)

    def response(self, value: Any, *, unary: bool) -> Response:
        """The response for a value the handler returned or yielded (module doc)."""
        forward, effects = self.ctx._take()
        if isinstance(value, Failure):
            return _failure(value.description, value.status_code, effects)
        response = Response()
        response.side_effects.extend(effects)
        if isinstance(value, Forward):
            response.forward.CopyFrom(value.proto)
        elif forward is not None:
            if value is not None and value is not NO_REPLY:
                log.debug("%s forwarded and produced a value: the forward wins", self.where)
            response.forward.CopyFrom(forward.proto)
        elif value is NO_REPLY or (value is None and not unary):
            pass
        else:
            response.reply.payload.CopyFrom(self._payload(value))
        return response

    def failed(self, error: BaseException) -> Response:
        """The failure response for an exception that ended the handler."""
        _, effects = self.ctx._take()
        if isinstance(error, CommandFailure):
            return _failure(error.description, error.status_code, effects)
        if isinstance(error, _CallFailed):
            return _failure(error.description, error.code)
        log.error("Unexpected error in action %s", self.where, exc_info=error)
        return _failure(
            f"Unexpected error in action {self.where}: {type(error).__name__}: {error}", _INTERNAL
        )

    def _payload(self, value: Any) -> any_pb2.Any:
        if isinstance(value, PackedReply):
            return value.payload
        output = self.method.output_type
        if output.full_name == _ANY:
            return pack_message(pack(value))
        if value is None:
            return pack_message(_empty(output))
        if isinstance(value, Message) and value.DESCRIPTOR.full_name == output.full_name:
            return pack_message(value)
        got = value.DESCRIPTOR.full_name if isinstance(value, Message) else type(value).__name__
        raise TypeError(
            f"{self.method.handler.description} produced a {got}, but {self.where} returns "
            f"{output.full_name} (reply type url would not be {PROTOBUF_PREFIX}{output.full_name})"
        )

    async def values(self, result: Any) -> AsyncIterator[Any]:
        """Every response value of what a streaming handler returned: an async or sync
        iterator / generator, an awaitable of one, or a single value."""
        if inspect.isawaitable(result):
            result = await result
        if hasattr(result, "__aiter__"):
            closer = contextlib.aclosing(result) if hasattr(result, "aclose") else _no_close()
            async with closer:
                async for value in result:
                    yield value
        elif _is_iterable(result):
            iterator = iter(result)
            try:
                for value in iterator:
                    yield value
            finally:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()
        else:
            yield result

    async def per_message(self, requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
        """Duplex handlers that are not async generators: one call per request."""
        async for message in requests:
            result = self.invoke(message)
            if self.method.kind in (FunctionKind.GENERATOR, FunctionKind.ASYNC_GENERATOR):
                async for value in self.values(result):
                    yield value
            else:
                if inspect.isawaitable(result):
                    result = await result
                yield result


@contextlib.asynccontextmanager
async def _no_close() -> AsyncIterator[None]:
    yield


def _is_iterable(value: Any) -> bool:
    if isinstance(value, str | bytes | bytearray | dict | Message):
        return False
    return hasattr(value, "__iter__")


def _empty(descriptor: Any) -> Message:
    from google.protobuf import message_factory

    cls: Any = message_factory.GetMessageClass(descriptor)
    return cls()  # type: ignore[no-any-return]


class ActionServicer(ComponentServicer[Action]):
    """Serves every registered action (dispatching on ``ActionCommand.service_name``)."""

    def _call(self, command: Any, shape: Shape) -> _Call:
        action = self._components.get(command.service_name)
        if action is None:
            raise _CallFailed(
                f"Unknown service: {command.service_name!r}; this user function's actions are "
                f"{sorted(self._components)}",
                _UNIMPLEMENTED,
            )
        method = action.methods.get(command.name)
        if method is None:
            raise _CallFailed(
                f"action {action.name} has no handler for {command.name!r}", _UNIMPLEMENTED
            )
        if method.shape is not shape:
            raise _CallFailed(
                f"{action.name}.{command.name} is {method.shape.description} but was called "
                f"with {shape.value[1]}",
                _INVALID_ARGUMENT,
            )
        return _Call(action, method, self._any_support[action.name], command)

    async def handleUnary(
        self, command: action_pb2.ActionCommand, context: grpc.aio.ServicerContext[Any, Any]
    ) -> Response:
        try:
            call = self._call(command, Shape.UNARY)
        except _CallFailed as e:
            return _failure(e.description, e.code)
        try:
            with handler_span(call.action.name, command):
                result = call.invoke(call.decode(command.payload))
                if inspect.isawaitable(result):
                    result = await result
            return call.response(result, unary=True)
        except Exception as e:
            return call.failed(e)
        finally:
            call.ctx._finish()

    async def handleStreamedIn(
        self,
        requests: AsyncIterator[action_pb2.ActionCommand],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> Response:
        header = await anext(aiter(requests), None)
        if header is None:
            return _failure(
                "Protocol error: a streamed-in call must start with a header naming "
                "the service and method",
                _INVALID_ARGUMENT,
            )
        try:
            call = self._call(header, Shape.STREAMED_IN)
        except _CallFailed as e:
            return _failure(e.description, e.code)
        try:
            stream = _payloads(call, header, requests)
            with handler_span(call.action.name, header):
                if call.method.kind is FunctionKind.COROUTINE:
                    result = await call.invoke(stream)
                else:
                    result = call.invoke([message async for message in stream])
                    if inspect.isawaitable(result):
                        result = await result
            return call.response(result, unary=True)
        except Exception as e:
            return call.failed(e)
        finally:
            call.ctx._finish()

    async def handleStreamedOut(
        self, command: action_pb2.ActionCommand, context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        try:
            call = self._call(command, Shape.STREAMED_OUT)
            message = call.decode(command.payload)
        except _CallFailed as e:
            await context.write(_failure(e.description, e.code))
            return
        with handler_span(call.action.name, command):
            await _write_all(call, context, lambda: call.values(call.invoke(message)))

    async def handleStreamed(
        self,
        requests: AsyncIterator[action_pb2.ActionCommand],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> None:
        header = await anext(aiter(requests), None)
        if header is None:
            return
        try:
            call = self._call(header, Shape.STREAMED)
        except _CallFailed as e:
            await context.write(_failure(e.description, e.code))
            return
        stream = _payloads(call, header, requests)
        with handler_span(call.action.name, header):
            if call.method.per_message:
                await _write_all(call, context, lambda: call.per_message(stream))
            else:
                await _write_all(call, context, lambda: call.values(call.invoke(stream)))


async def _payloads(
    call: _Call, header: action_pb2.ActionCommand, requests: AsyncIterator[Any]
) -> AsyncIterator[Any]:
    """The decoded client messages of a streamed-in / duplex call (a payload on the header, which
    the protocol does not send, is taken as the first message)."""
    if header.HasField("payload"):
        yield call.decode(header.payload)
    async for command in requests:
        if command.HasField("payload"):
            yield call.decode(command.payload)
    # grpc.aio ends the request stream the same way when the proxy half-closes it and when it
    # cancels the call; a cancellation reaches this task a moment later. Waiting a few loop
    # iterations lets it arrive here, so the handler sees a cancellation, not a completed stream.
    for _ in range(_CANCEL_TICKS):
        await asyncio.sleep(0)


async def _write_all(call: _Call, context: Any, values: Any) -> None:
    """Write one response per value; a failure is the last response. Closing (cancellation by
    the proxy) closes the handler's generators."""
    try:
        async with contextlib.aclosing(values()) as stream:
            async for value in stream:
                await context.write(call.response(value, unary=False))
        if call.ctx._has_pending():
            await context.write(call.response(NO_REPLY, unary=False))
    except Exception as e:
        if isinstance(e, grpc.aio.AioRpcError | grpc.aio.UsageError):
            raise
        await context.write(call.failed(e))
    finally:
        call.ctx._finish()


def add_action_servicer(server: Any, actions: Sequence[Action]) -> None:
    """Add the ``ActionProtocol`` servicer for ``actions`` to a ``grpc.aio.Server``."""
    action_pb2_grpc.add_ActionProtocolServicer_to_server(ActionServicer(actions), server)
