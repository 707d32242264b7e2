"""A small async client for any gRPC service, built from its service descriptor at run time.

No generated stub needed: every method of the service becomes a snake_case coroutine taking the
request message (or its fields as keywords) and returning the response message::

    from cloudstate.client import ServiceClient
    from shoppingcart.shoppingcart_pb2 import _SHOPPINGCART, AddLineItem, GetShoppingCart

    async with ServiceClient("127.0.0.1:9000", _SHOPPINGCART) as cart:
        await cart.add_item(AddLineItem(user_id="alice", product_id="apple", quantity=1))
        print(await cart.get_cart(user_id="alice"))

Server-streaming methods return an async iterator of responses; client-streaming methods take an
iterable (or async iterable) of requests. Failures raise ``grpc.aio.AioRpcError`` as with any
gRPC stub (``e.code()``, ``e.details()``).
"""

from __future__ import annotations

import asyncio
import keyword
import re
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message

_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")

MetadataArg = Mapping[str, str | bytes] | Sequence[tuple[str, str | bytes]] | None


def snake_case(name: str) -> str:
    """A gRPC method name in Python style (a Python keyword gets a trailing underscore).

    >>> snake_case("AddItem"), snake_case("GetHTTPStatus"), snake_case("Get2Values")
    ('add_item', 'get_http_status', 'get2_values')
    >>> snake_case("Raise")
    'raise_'
    """
    snake = _WORD_BOUNDARY.sub("_", name).lower()
    return snake + "_" if keyword.iskeyword(snake) else snake


def build_request(method: MethodDescriptor, message: Any, fields: Mapping[str, Any]) -> Message:
    """``message`` checked against ``method``'s input type, or a new one built from ``fields``."""
    input_type = method.input_type
    if message is None:
        try:
            return message_factory.GetMessageClass(input_type)(**fields)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{method.full_name} takes {input_type.full_name}: {e}") from None
    if fields:
        raise TypeError("pass either the request message or its fields as keywords, not both")
    if not isinstance(message, Message) or message.DESCRIPTOR.full_name != input_type.full_name:
        got = message.DESCRIPTOR.full_name if isinstance(message, Message) else type(message)
        raise TypeError(f"{method.full_name} takes {input_type.full_name}, not {got}")
    return message


def _metadata(*parts: MetadataArg) -> list[tuple[str, str | bytes]] | None:
    merged: list[tuple[str, str | bytes]] = []
    for part in parts:
        if part:
            merged.extend(part.items() if isinstance(part, Mapping) else part)
    return merged or None


class ServiceClient:
    """Async client of one service; see the module documentation.

    :param target: ``host:port`` of the server (for Cloudstate services: the proxy), or an
        existing ``grpc.aio.Channel``.
    :param service: the service's descriptor, e.g. ``shoppingcart_pb2._SHOPPINGCART`` or
        ``entity.service_descriptor``.
    :param metadata: sent with every call (per-call ``metadata=`` adds to it).
    :param timeout: default deadline of every call, in seconds.

    Given an address, the client opens its channel on first use in the running event loop (so
    one client works across the event loops of several tests) and :meth:`close` closes it.
    """

    def __init__(
        self,
        target: str | grpc.aio.Channel,
        service: ServiceDescriptor,
        *,
        metadata: MetadataArg = None,
        timeout: float | None = 30.0,
    ) -> None:
        if not isinstance(service, ServiceDescriptor):
            raise TypeError(f"ServiceClient needs a ServiceDescriptor, not {service!r}")
        self.service = service
        self.timeout = timeout
        self._metadata = metadata
        self._target = target if isinstance(target, str) else None
        self._channels: dict[asyncio.AbstractEventLoop | None, grpc.aio.Channel] = {}
        if not isinstance(target, str):
            self._channels[None] = target
        self._methods = {snake_case(name): m for name, m in service.methods_by_name.items()}

    @property
    def channel(self) -> grpc.aio.Channel:
        """The channel of the running event loop (opened on first use)."""
        fixed = self._channels.get(None)
        if fixed is not None:
            return fixed
        loop = asyncio.get_running_loop()
        channel = self._channels.get(loop)
        if channel is None:
            for old in [old for old in self._channels if old is not None and old.is_closed()]:
                del self._channels[old]
            assert self._target is not None
            channel = grpc.aio.insecure_channel(self._target)
            self._channels[loop] = channel
        return channel

    async def call(
        self,
        method: str,
        message: Any = None,
        /,
        *,
        metadata: MetadataArg = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the gRPC deadline
        **fields: Any,
    ) -> Any:
        """Call a unary method by its name (``"AddItem"``) or snake_case name (``"add_item"``)."""
        descriptor = self.method(method)
        if descriptor.client_streaming or descriptor.server_streaming:
            raise TypeError(f"{descriptor.full_name} is streaming: use client.{snake_case(method)}")
        request = build_request(descriptor, message, fields)
        stub = self._callable(descriptor)
        return await stub(
            request,
            metadata=_metadata(self._metadata, metadata),
            timeout=self.timeout if timeout is None else timeout,
        )

    def method(self, name: str) -> MethodDescriptor:
        """The service's method called ``name`` (or its snake_case spelling)."""
        found = self.service.methods_by_name.get(name) or self._methods.get(name)
        if found is None:
            raise AttributeError(
                f"{self.service.full_name} has no method {name!r}; its methods: "
                f"{', '.join(self._methods)}"
            )
        return found

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_") or "_methods" not in self.__dict__:
            raise AttributeError(name)
        descriptor = self.method(name)
        if descriptor.client_streaming and descriptor.server_streaming:
            return self._bidi(descriptor)
        if descriptor.server_streaming:
            return self._server_stream(descriptor)
        if descriptor.client_streaming:
            return self._client_stream(descriptor)

        async def unary(
            message: Any = None,
            /,
            *,
            metadata: MetadataArg = None,
            timeout: float | None = None,  # noqa: ASYNC109 - the gRPC deadline
            **fields: Any,
        ) -> Any:
            return await self.call(
                descriptor.name, message, metadata=metadata, timeout=timeout, **fields
            )

        unary.__name__ = name
        unary.__doc__ = f"Call {descriptor.full_name}; returns {descriptor.output_type.full_name}."
        return unary

    def __dir__(self) -> Iterable[str]:
        return [*super().__dir__(), *self._methods]

    async def close(self) -> None:
        """Close the channels this client opened (not one it was given)."""
        channels, self._channels = self._channels, {}
        for loop, channel in channels.items():
            if loop is None:
                self._channels[None] = channel
            elif loop is asyncio.get_running_loop():
                await channel.close(None)

    async def __aenter__(self) -> ServiceClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- the four call shapes ----------------------------------------------------------------

    def _path(self, method: MethodDescriptor) -> str:
        return f"/{self.service.full_name}/{method.name}"

    def _callable(self, method: MethodDescriptor) -> Any:
        output = message_factory.GetMessageClass(method.output_type)
        path = self._path(method)
        serialize = _serialize
        if method.client_streaming and method.server_streaming:
            return self.channel.stream_stream(path, serialize, output.FromString)
        if method.server_streaming:
            return self.channel.unary_stream(path, serialize, output.FromString)
        if method.client_streaming:
            return self.channel.stream_unary(path, serialize, output.FromString)
        return self.channel.unary_unary(path, serialize, output.FromString)

    def _server_stream(self, method: MethodDescriptor) -> Callable[..., AsyncIterator[Any]]:
        async def stream(
            message: Any = None,
            /,
            *,
            metadata: MetadataArg = None,
            timeout: float | None = None,  # noqa: ASYNC109 - the gRPC deadline
            **fields: Any,
        ) -> AsyncIterator[Any]:
            request = build_request(method, message, fields)
            call = self._callable(method)(
                request, metadata=_metadata(self._metadata, metadata), timeout=timeout
            )
            try:
                async for response in call:
                    yield response
            finally:
                call.cancel()

        return stream

    def _client_stream(self, method: MethodDescriptor) -> Callable[..., Any]:
        async def send(
            requests: Iterable[Any] | AsyncIterable[Any],
            /,
            *,
            metadata: MetadataArg = None,
            timeout: float | None = None,  # noqa: ASYNC109 - the gRPC deadline
        ) -> Any:
            return await self._callable(method)(
                _checked(method, requests),
                metadata=_metadata(self._metadata, metadata),
                timeout=self.timeout if timeout is None else timeout,
            )

        return send

    def _bidi(self, method: MethodDescriptor) -> Callable[..., AsyncIterator[Any]]:
        async def stream(
            requests: Iterable[Any] | AsyncIterable[Any],
            /,
            *,
            metadata: MetadataArg = None,
            timeout: float | None = None,  # noqa: ASYNC109 - the gRPC deadline
        ) -> AsyncIterator[Any]:
            call = self._callable(method)(
                _checked(method, requests),
                metadata=_metadata(self._metadata, metadata),
                timeout=timeout,
            )
            try:
                async for response in call:
                    yield response
            finally:
                call.cancel()

        return stream


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


async def _checked(
    method: MethodDescriptor, requests: Iterable[Any] | AsyncIterable[Any]
) -> AsyncIterator[Message]:
    if isinstance(requests, AsyncIterable):
        async for request in requests:
            yield build_request(method, request, {})
    else:
        for request in requests:
            yield build_request(method, request, {})


__all__ = ["ServiceClient", "build_request", "snake_case"]
