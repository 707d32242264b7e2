"""Turning what a command handler returned into the protocol's reply (shared by the servicers of
every entity kind): the payload checked against the method's output type, or the forward the
handler made, and its side effects.

::

    reply = event_sourced_pb2.EventSourcedReply(command_id=command.id)
    fill_reply(reply, ctx, handler, entity.service_descriptor, command.name, result)
"""

from __future__ import annotations

import logging
from typing import Any

from google.protobuf import any_pb2, message_factory
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message

from cloudstate.any_support import PROTOBUF_PREFIX, pack, pack_message
from cloudstate.component.context import CommandContext
from cloudstate.handler import Handler

log = logging.getLogger(__name__)


class PackedReply:
    """A reply payload that is already packed and is sent as is, whatever the method's output
    type (views: ``google.protobuf.Empty`` deletes the row, see cloudstate/view/entity.py)."""

    __slots__ = ("payload",)

    def __init__(self, payload: any_pb2.Any) -> None:
        self.payload = payload


def reply_payload(
    handler: Handler, service: ServiceDescriptor, command_name: str, result: Any
) -> any_pb2.Any:
    """The ``Reply.payload`` for ``result``, checked against the method's output type.

    ``None`` gives the empty output message; a method returning ``google.protobuf.Any`` takes any
    packable value. Anything else must be an instance of the output type::

        payload = reply_payload(handler, _SHOPPINGCART, "GetCart", Cart(items=[...]))
    """
    output = service.methods_by_name[command_name].output_type
    if output.full_name == "google.protobuf.Any":
        if result is None:
            raise TypeError(f"{handler.description} returned None; its method returns an Any")
        inner = pack(result)
        return pack_message(inner)
    if result is None:
        return pack_message(message_factory.GetMessageClass(output)())
    if isinstance(result, Message) and result.DESCRIPTOR.full_name == output.full_name:
        return pack_message(result)
    got = result.DESCRIPTOR.full_name if isinstance(result, Message) else type(result).__name__
    raise TypeError(
        f"{handler.description} returned {got}, but {service.full_name}.{command_name} returns "
        f"{output.full_name} (reply type url would not be {PROTOBUF_PREFIX}{output.full_name})"
    )


def fill_reply(
    reply: Any,
    ctx: CommandContext,
    handler: Handler,
    service: ServiceDescriptor,
    command_name: str,
    result: Any,
    *,
    empty_reply: bool = True,
) -> None:
    """Set ``reply``'s ``client_action`` and ``side_effects`` (any kind's reply message): the
    forward made with ``ctx.forward``, else ``result`` as the reply payload (``None``: the empty
    output message, or no reply at all when not ``empty_reply``); and ``ctx``'s side effects."""
    reply.side_effects.extend(ctx._effects)
    if ctx._forward is not None:
        if result is not None:
            log.debug("%s returned a value and forwarded: the forward wins", handler.description)
        reply.client_action.forward.CopyFrom(ctx._forward)
    elif result is not None or empty_reply:
        payload = reply_payload(handler, service, command_name, result)
        reply.client_action.reply.payload.CopyFrom(payload)
