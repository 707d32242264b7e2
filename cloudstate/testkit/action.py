"""Test kit for actions: every call shape in-process, responses decoded.

::

    from cloudstate.testkit import ActionTestKit

    kit = ActionTestKit(action)
    result = kit.add_item(user_id="alice", product_id="apple", quantity=2)       # unary
    assert result.forward == Forwarded("com.example.shoppingcart.ShoppingCart", "AddItem", ...)
    summary = kit.add_items([AddRequest(...), AddRequest(...)])                   # streamed in
    products = kit.catalog(prefix="a")                                            # streamed out
    quotes = kit.quote([AddRequest(...), AddRequest(...)])                        # duplex

Unary and streamed-in methods give one :class:`~cloudstate.testkit.CommandResult`; streamed-out
and duplex methods give the list of results, one per response (a failure ends the list). The
requests of streamed-in and duplex methods are a list (or any iterable) of messages.

The calls run through the SDK's own action servicer, so what a test sees is what a proxy gets —
except that an exception raised by a handler (a bug) is raised in the test, with its traceback,
instead of becoming an ``INTERNAL`` failure.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from cloudstate.action import servicer as servicer_module
from cloudstate.action.entity import ACTION_ENTITY_TYPE, Action
from cloudstate.action.servicer import ActionServicer
from cloudstate.any_support import pack
from cloudstate.client import build_request
from cloudstate.protocol import action_pb2
from cloudstate.targets import metadata_proto
from cloudstate.testkit.base import EntityTestKit, MetadataArg, register_kind
from cloudstate.testkit.results import CommandResult, Failed, Forwarded

_SERVICER_LOG = servicer_module.log  # where the servicer logs a handler's exception


class ActionTestKit(EntityTestKit[Any]):
    """Calls the methods of one action in-process (see the module documentation)."""

    def __init__(self, action: Action, entity_id: str = "") -> None:
        if not isinstance(action, Action):
            raise TypeError(f"ActionTestKit needs an Action, not {action!r}")
        super().__init__(action, entity_id)  # actions have no id: kept for kit_for()
        self.action = action
        self._servicer = ActionServicer([action])

    async def _invoke(
        self, method: str, message: Any, metadata: MetadataArg, fields: Mapping[str, Any]
    ) -> Any:
        descriptor = self.method(method)
        header = action_pb2.ActionCommand(service_name=self.action.name, name=descriptor.name)
        proto = metadata_proto(metadata) if metadata else None
        if proto is not None:
            header.metadata.CopyFrom(proto)
        payloads: list[action_pb2.ActionCommand] = []
        if descriptor.client_streaming:
            if fields or message is None or not isinstance(message, Iterable):
                raise TypeError(
                    f"{descriptor.full_name} takes a stream: pass a list of "
                    f"{descriptor.input_type.full_name} messages"
                )
            payloads = [
                action_pb2.ActionCommand(payload=pack(build_request(descriptor, m, {})))
                for m in message
            ]
        else:
            header.payload.CopyFrom(pack(build_request(descriptor, message, fields)))
        context = _Collector()
        requests = _stream(header, payloads if descriptor.client_streaming else [])
        servicer: Any = self._servicer
        with _unexpected_errors(f"{self.action.name}.{descriptor.name}") as raise_captured:
            try:
                if descriptor.client_streaming and descriptor.server_streaming:
                    await servicer.handleStreamed(requests, context)
                elif descriptor.client_streaming:
                    context.responses.append(await servicer.handleStreamedIn(requests, context))
                elif descriptor.server_streaming:
                    await servicer.handleStreamedOut(header, context)
                else:
                    context.responses.append(await servicer.handleUnary(header, context))
            finally:
                await requests.aclose()  # a handler that failed early left it unfinished
            raise_captured()
        results = [self._result(descriptor.name, r) for r in context.responses]
        return results if descriptor.server_streaming else results[0]

    def _result(self, name: str, response: action_pb2.ActionResponse) -> CommandResult:
        result = CommandResult(name)
        which = response.WhichOneof("response")
        if which == "failure":
            result.failure = Failed.from_proto(response.failure)
        elif which == "reply":
            result.reply = self.decode(response.reply.payload)
        elif which == "forward":
            result.forward = Forwarded.from_proto(response.forward, self.any_support)
        self._side_effects(result, response.side_effects, succeeded=which != "failure")
        return result


class _Collector:
    """Stands in for the gRPC servicer context: collects what a streaming method writes."""

    def __init__(self) -> None:
        self.responses: list[action_pb2.ActionResponse] = []

    async def write(self, response: action_pb2.ActionResponse) -> None:
        self.responses.append(response)


async def _stream(
    header: action_pb2.ActionCommand, payloads: list[action_pb2.ActionCommand]
) -> AsyncGenerator[action_pb2.ActionCommand, None]:
    yield header
    for payload in payloads:
        yield payload


@contextmanager
def _unexpected_errors(where: str) -> Iterator[Any]:
    """The servicer turns a handler's exception into an INTERNAL failure and logs it; the test
    kit takes the exception from that log record and raises it instead."""
    captured: list[BaseException] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.exc_info and record.exc_info[1] is not None:
                captured.append(record.exc_info[1])

    def raise_captured() -> None:
        if captured:
            error = captured[0]
            error.add_note(f"(raised by the handler of action {where})")
            raise error

    handler = Capture(logging.ERROR)
    _SERVICER_LOG.addHandler(handler)
    try:
        yield raise_captured
    finally:
        _SERVICER_LOG.removeHandler(handler)


register_kind(ACTION_ENTITY_TYPE, ActionTestKit)
