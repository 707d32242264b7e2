"""Typed forward / side-effect targets (``cloudstate.targets``), shared by every context."""

from __future__ import annotations

from typing import Any

import pytest
from shoppingcart import shoppingcart_pb2, shoppingcart_pb2_grpc

from cloudstate.any_support import AnySupport, pack_message
from cloudstate.protocol import entity_pb2
from cloudstate.targets import make_forward, make_side_effect, service
from tests.actions.model import FILE, pb

CART = shoppingcart_pb2.DESCRIPTOR.services_by_name["ShoppingCart"]
ADD = shoppingcart_pb2.AddLineItem(user_id="alice", product_id="apple", name="Apple", quantity=2)
EXPECTED = entity_pb2.Forward(
    service_name="com.example.shoppingcart.ShoppingCart",
    command_name="AddItem",
    payload=pack_message(ADD),
)
SUPPORT = AnySupport([shoppingcart_pb2.DESCRIPTOR, FILE])


@pytest.mark.parametrize(
    "args",
    [
        (service(CART).AddItem, ADD),
        (service("com.example.shoppingcart.ShoppingCart").AddItem, ADD),
        (CART.methods_by_name["AddItem"], ADD),
        (CART.methods_by_name["AddItem"], None, ADD),
        (CART, "AddItem", ADD),
        (service(CART), "AddItem", ADD),
        ("com.example.shoppingcart.ShoppingCart", "AddItem", ADD),
        ("com.example.shoppingcart.ShoppingCart/AddItem", ADD),
        ("/com.example.shoppingcart.ShoppingCart/AddItem", ADD),
        ("com.example.shoppingcart.ShoppingCart.AddItem", ADD),
        (shoppingcart_pb2_grpc.ShoppingCartServicer.AddItem, ADD),
        (shoppingcart_pb2_grpc.ShoppingCart.AddItem, ADD),
    ],
    ids=[
        "service ref",
        "service ref by name",
        "method descriptor",
        "method descriptor, None, message",
        "service descriptor and name",
        "service ref and name",
        "names",
        "path",
        "full path",
        "dotted method name",
        "generated servicer method",
        "generated service class method",
    ],
)
def test_every_target_form_gives_the_same_forward(args: tuple[Any, ...]) -> None:
    assert make_forward("ctx.forward()", *args, any_support=SUPPORT) == EXPECTED


def test_side_effects_and_metadata() -> None:
    effect = make_side_effect(
        "ctx.effect()",
        service(CART).AddItem,
        ADD,
        synchronous=True,
        any_support=SUPPORT,
        metadata={"x-trace": "t", "blob-bin": b"\x00"},
    )
    assert effect.synchronous
    assert effect.payload == pack_message(ADD)
    assert [(e.key, e.WhichOneof("value")) for e in effect.metadata.entries] == [
        ("x-trace", "string_value"),
        ("blob-bin", "bytes_value"),
    ]
    forward = make_forward("ctx.forward()", CART, "AddItem", ADD, metadata=[("a", "1")])
    assert [(e.key, e.string_value) for e in forward.metadata.entries] == [("a", "1")]
    assert not make_forward("ctx.forward()", CART, "AddItem", ADD).HasField("metadata")


@pytest.mark.parametrize(
    ("args", "error", "text"),
    [
        (
            ("com.example.Nope", "AddItem", ADD),
            ValueError,
            "ctx.forward(): unknown service 'com.example.Nope': no descriptor this user function "
            "knows defines it",
        ),
        (
            (CART, "AddItems", ADD),
            ValueError,
            "ctx.forward(): service com.example.shoppingcart.ShoppingCart has no method "
            "'AddItems'; its methods: AddItem, RemoveItem, GetCart",
        ),
        (
            (service(CART).AddItem, pb.Note()),
            TypeError,
            "ctx.forward(): com.example.shoppingcart.ShoppingCart.AddItem takes a "
            "com.example.shoppingcart.AddLineItem, not a acttest.Note",
        ),
        (
            (service(CART).AddItem, {"user_id": "alice"}),
            TypeError,
            "takes a com.example.shoppingcart.AddLineItem, not a dict",
        ),
        ((service(CART).AddItem,), TypeError, "needs the message to send"),
        ((service(CART).AddItem, "AddItem", ADD), TypeError, "already names the method"),
        ((CART, ADD), TypeError, "after the service com.example.shoppingcart.ShoppingCart pass"),
        (("ShoppingCart", ADD), ValueError, "names no method"),
        ((42, ADD), TypeError, "the target must be a method descriptor"),
        ((len, ADD), TypeError, "cannot tell which service method 'len' is"),
    ],
)
def test_bad_targets_fail_at_the_call_with_a_clear_message(
    args: tuple[Any, ...], error: type[Exception], text: str
) -> None:
    with pytest.raises(error) as raised:
        make_forward("ctx.forward()", *args, any_support=SUPPORT)
    assert text in str(raised.value)


def test_service_ref_lists_methods_on_a_typo() -> None:
    cart = service(CART)
    assert dir(cart) == ["AddItem", "GetCart", "RemoveItem"]
    with pytest.raises(AttributeError, match="has no method 'AddItems'; its methods: AddItem"):
        _ = cart.AddItems
    with pytest.raises(ValueError, match=r"unknown service 'nope\.Nope'"):
        service("nope.Nope")


async def test_entity_contexts_resolve_targets_the_same_way(action_server: Any) -> None:
    """The event-sourced counter forwards with ``ctx.forward(Relay.Call, hops)`` (a ServiceRef
    attribute) and adds effects with ``ctx.effect(Recorder.Record, note)``."""
    import grpc

    from cloudstate.protocol import event_sourced_pb2, event_sourced_pb2_grpc

    hops = pb.Hops(services=["Relay2"], message="m")
    note = pb.Note(key="k", text="t")
    command = pb.AddRequest(
        id="c", amount=1, forward=hops, effects=[pb.NoteEffect(note=note, synchronous=True)]
    )
    async with grpc.aio.insecure_channel(action_server.address) as channel:
        call = event_sourced_pb2_grpc.EventSourcedStub(channel).handle(timeout=10)
        await call.write(
            event_sourced_pb2.EventSourcedStreamIn(
                init=event_sourced_pb2.EventSourcedInit(
                    service_name="acttest.Counter", entity_id="c"
                )
            )
        )
        await call.write(
            event_sourced_pb2.EventSourcedStreamIn(
                command=entity_pb2.Command(
                    entity_id="c", id=1, name="Add", payload=pack_message(command)
                )
            )
        )
        out = await call.read()
        call.cancel()
    reply = out.reply
    assert reply.client_action.forward == entity_pb2.Forward(
        service_name="acttest.Relay", command_name="Call", payload=pack_message(hops)
    )
    assert list(reply.side_effects) == [
        entity_pb2.SideEffect(
            service_name="acttest.Recorder",
            command_name="Record",
            payload=pack_message(note),
            synchronous=True,
        )
    ]
