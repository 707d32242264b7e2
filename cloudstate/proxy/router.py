"""Routes a call to the entity that owns it, then performs what the entity asked for: side
effects, then the reply or a forward to another method (whose reply becomes the caller's)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cloudstate import entity_pb2
from cloudstate.proxy.entities.base import EntityHandler
from cloudstate.proxy.errors import BadRequest, ProtocolError, ProxyError, UnknownMethod
from cloudstate.proxy.model import MethodModel, UserFunctionModel

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RouterReply:
    """A reply for the client: the serialized output message and optional reply metadata
    (which ingresses turn into response headers)."""

    payload: bytes
    metadata: entity_pb2.Metadata | None = None


_EMPTY_REPLY = RouterReply(b"")


class Router:
    """Dispatches commands to the handler of their service.

    Example::

        router = Router(model, {"com.example.ShoppingCart": handler}, report_error)
        reply = await router.call(method, request_bytes, metadata)
        reply.payload, reply.metadata  # response bytes, response headers (or None)
    """

    def __init__(
        self,
        model: UserFunctionModel,
        handlers: dict[str, EntityHandler],
        report_error: Callable[[str], Awaitable[None]],
        *,
        max_forward_depth: int = 32,
        max_async_effects: int = 1024,
    ) -> None:
        self.model = model
        self.handlers = handlers
        self.report_error = report_error
        self.max_forward_depth = max_forward_depth
        self._async_effects: set[asyncio.Task[RouterReply]] = set()
        self._async_effect_slots = asyncio.Semaphore(max_async_effects)

    def method(self, service_name: str, method_name: str) -> MethodModel:
        method = self.model.method(service_name, method_name)
        if method is None:
            raise UnknownMethod(f"unknown method {service_name}/{method_name}")
        return method

    async def call(
        self,
        method: MethodModel,
        payload: bytes,
        metadata: entity_pb2.Metadata | None,
        depth: int = 0,
        trace: str = "",
    ) -> RouterReply:
        """Call ``method`` with serialized request bytes; returns the serialized response."""
        handler = self.handlers.get(method.service.name)
        if handler is None:
            raise UnknownMethod(
                f"{method.service.name} ({method.service.entity_type}) is not served by this proxy"
            )
        entity_id = method.entity_id(payload) if method.key_fields else ""
        outcome = await handler.handle(method, entity_id, payload, metadata)
        where = f"{method.service.name}.{method.name}" + trace
        for effect in outcome.side_effects:
            await self._side_effect(effect, depth, where)
        action = outcome.client_action
        kind = action.WhichOneof("action")
        if kind == "reply":
            reply = action.reply
            if reply.payload.type_url and reply.payload.type_url != method.output_type_url:
                problem = (
                    f"{where} replied with {reply.payload.type_url} but the method returns "
                    f"{method.output_type.full_name}"
                )
                log.warning("%s", problem)
                await self.report_error("Warning: " + problem)
            return RouterReply(
                bytes(reply.payload.value), reply.metadata if reply.HasField("metadata") else None
            )
        if kind == "forward":
            forward = action.forward
            if depth >= self.max_forward_depth:
                raise ProtocolError(
                    f"forward chain longer than {self.max_forward_depth} at {where}: "
                    "probably a forwarding loop"
                )
            target = self.model.method(forward.service_name, forward.command_name)
            if target is None:
                problem = (
                    f"{where} forwarded to unknown method "
                    f"{forward.service_name}/{forward.command_name}"
                )
                await self.report_error(problem)
                raise ProtocolError(problem)
            self._check_payload_type(target, forward.payload.type_url, f"forward from {where}")
            forward_metadata = forward.metadata if forward.HasField("metadata") else metadata
            return await self.call(
                target,
                bytes(forward.payload.value),
                forward_metadata,
                depth + 1,
                f" (forwarded from {where})",
            )
        # No client action: a unary client still needs a message; send the empty output message.
        return _EMPTY_REPLY

    def _check_payload_type(self, target: MethodModel, type_url: str, context: str) -> None:
        if type_url and type_url.rsplit("/", 1)[-1] != target.input_type.full_name:
            raise BadRequest(
                f"{context}: payload is {type_url} but {target.service.name}.{target.name} "
                f"takes {target.input_type.full_name}"
            )

    async def _side_effect(self, effect: entity_pb2.SideEffect, depth: int, where: str) -> None:
        target = self.model.method(effect.service_name, effect.command_name)
        if target is None:
            problem = (
                f"side effect of {where} targets unknown method "
                f"{effect.service_name}/{effect.command_name}"
            )
            await self.report_error(problem)
            raise ProtocolError(problem)
        if depth >= self.max_forward_depth:
            raise ProtocolError(
                f"side-effect chain longer than {self.max_forward_depth} at {where}"
            )
        self._check_payload_type(target, effect.payload.type_url, f"side effect of {where}")
        metadata = effect.metadata if effect.HasField("metadata") else None
        coro = self.call(
            target, bytes(effect.payload.value), metadata, depth + 1, f" (side effect of {where})"
        )
        if effect.synchronous:
            await coro
            return
        await self._async_effect_slots.acquire()
        task = asyncio.create_task(coro)
        self._async_effects.add(task)
        task.add_done_callback(self._async_effect_done)

    def _async_effect_done(self, task: asyncio.Task[RouterReply]) -> None:
        self._async_effects.discard(task)
        self._async_effect_slots.release()
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            message = error.message if isinstance(error, ProxyError) else repr(error)
            log.warning("asynchronous side effect failed: %s", message)

    async def drain(self) -> None:
        """Wait for running asynchronous side effects (at shutdown)."""
        if self._async_effects:
            await asyncio.gather(*self._async_effects, return_exceptions=True)
