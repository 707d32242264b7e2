"""Parameter injection by annotation, and the errors reported when a handler is declared."""

from __future__ import annotations

from typing import Any

import pytest
from shoppingcart.domain_pb2 import Cart as DomainCart
from shoppingcart.domain_pb2 import ItemAdded, ItemRemoved
from shoppingcart.shoppingcart_pb2 import _SHOPPINGCART, AddLineItem, GetShoppingCart
from shoppingcart.shoppingcart_pb2 import DESCRIPTOR as CART_FILE

from cloudstate.cloudstate import CloudState
from cloudstate.event_sourced_context import EventSourcedCommandContext, EventSourcedEventContext
from cloudstate.event_sourced_entity import EventSourcedEntity
from cloudstate.handler import Param, resolve_handler


class State:
    pass


class Ctx(EventSourcedCommandContext):
    def __init__(self) -> None:  # a stand-in: no live entity needed to test injection
        pass


STATE, MESSAGE, CONTEXT = State(), AddLineItem(product_id="m"), Ctx()


def resolve(function: Any, message_type: type = AddLineItem) -> Any:
    return resolve_handler(
        function,
        role="test handler",
        kinds=(Param.STATE, Param.MESSAGE, Param.CONTEXT),
        state_type=State,
        message_type=message_type,
        context_type=EventSourcedCommandContext,
    )


def received(function: Any, message_type: type = AddLineItem) -> Any:
    return resolve(function, message_type).invoke(STATE, MESSAGE, CONTEXT)


def test_annotated_parameters_in_any_order() -> None:
    def handler(ctx: EventSourcedCommandContext, item: AddLineItem, state: State) -> Any:
        return ctx, item, state

    assert received(handler) == (CONTEXT, MESSAGE, STATE)


def test_any_subset() -> None:
    def only_context(c: EventSourcedCommandContext) -> Any:
        return c

    def nothing() -> str:
        return "ok"

    def message_and_state(item: AddLineItem, s: State) -> Any:
        return item, s

    assert received(only_context) is CONTEXT
    assert received(nothing) == "ok"
    assert received(message_and_state) == (MESSAGE, STATE)


def test_unannotated_parameters_fall_back_to_position() -> None:
    def positional(a, b, c):  # type: ignore[no-untyped-def]
        return a, b, c

    def state_and_message(s, m):  # type: ignore[no-untyped-def]
        return s, m

    def positional_only(s, m, /):  # type: ignore[no-untyped-def]
        return s, m

    assert received(positional) == (STATE, MESSAGE, CONTEXT)
    assert received(state_and_message) == (STATE, MESSAGE)
    assert received(positional_only) == (STATE, MESSAGE)


def test_mixed_annotated_and_unannotated() -> None:
    def seed_style(item: AddLineItem, ctx):  # type: ignore[no-untyped-def]
        return item, ctx

    def state_last(item: AddLineItem, state):  # type: ignore[no-untyped-def]
        return item, state

    def context_by_name(context, state):  # type: ignore[no-untyped-def]
        return context, state

    assert received(seed_style) == (MESSAGE, CONTEXT)
    assert received(state_last) == (MESSAGE, STATE)
    assert received(context_by_name) == (CONTEXT, STATE)


def test_base_context_annotation_and_defaults_and_varargs() -> None:
    from cloudstate.event_sourced_context import EventSourcedContext

    def handler(ctx: EventSourcedContext, *args: Any, extra: int = 7, **kwargs: Any) -> Any:
        return ctx, args, extra, kwargs

    assert received(handler) == (CONTEXT, (), 7, {})


def test_generic_and_unresolvable_annotations() -> None:
    class Local:  # not resolvable by typing.get_type_hints from this module's globals
        pass

    def generic(event: dict[str, Any], state: State) -> Any:
        return event, state

    def forward_ref(ctx: EventSourcedCommandContext, state: Local) -> Any:
        return ctx, state

    assert resolve(generic, dict).invoke(STATE, {"a": 1}, CONTEXT) == ({"a": 1}, STATE)
    assert received(forward_ref) == (CONTEXT, STATE)


def test_sync_and_async_detection() -> None:
    def sync() -> None:
        pass

    async def asynchronous() -> None:
        pass

    assert not resolve(sync).is_async
    assert resolve(asynchronous).is_async


def test_two_parameters_for_one_value_are_rejected() -> None:
    def handler(a: State, b: State) -> None:
        pass

    with pytest.raises(TypeError, match=r"handler\(\): cannot inject parameter 'b'.*'a'"):
        resolve(handler)


def test_too_many_parameters_are_rejected() -> None:
    def handler(a, b, c, d):  # type: ignore[no-untyped-def]
        pass

    with pytest.raises(TypeError, match=r"test handler .*handler\(\).*'d'"):
        resolve(handler)


def test_wrong_context_and_message_types_are_rejected() -> None:
    def wrong_context(ctx: EventSourcedEventContext) -> None:
        pass

    def wrong_message(item: ItemRemoved) -> None:
        pass

    with pytest.raises(TypeError, match="EventSourcedEventContext"):
        resolve(wrong_context)
    with pytest.raises(TypeError, match=r"ItemRemoved.*State.*AddLineItem"):
        resolve(wrong_message)


# -- decoration-time errors of EventSourcedEntity -------------------------------------------------


def new_entity(**options: Any) -> EventSourcedEntity:
    def init(entity_id: str) -> State:
        return State()

    return EventSourcedEntity(_SHOPPINGCART, [CART_FILE], init, **options)


def test_unknown_command_names_the_service_and_its_methods() -> None:
    entity = new_entity()
    with pytest.raises(ValueError) as error:
        entity.command_handler("AddItems")
    message = str(error.value)
    assert "com.example.shoppingcart.ShoppingCart" in message and "'AddItems'" in message
    assert "AddItem, RemoveItem, GetCart" in message


def test_handler_errors_name_the_function_and_command() -> None:
    entity = new_entity()
    with pytest.raises(TypeError, match=r"ShoppingCart\.AddItem: .*add_item\(\).*'extra'"):

        @entity.command_handler("AddItem")
        def add_item(state: State, item: AddLineItem, ctx: EventSourcedCommandContext, extra):  # type: ignore[no-untyped-def]
            pass

    with pytest.raises(TypeError, match=r"event handler for ItemAdded.*on_added\(\)"):

        @entity.event_handler(ItemAdded)
        def on_added(event: ItemAdded, ctx: EventSourcedCommandContext) -> None:
            pass


def test_duplicates_and_bad_arguments() -> None:
    entity = new_entity()

    @entity.command_handler("GetCart")
    def get_cart(command: GetShoppingCart) -> None:
        pass

    assert get_cart(GetShoppingCart()) is None  # decorators return the function unchanged
    with pytest.raises(ValueError, match="registered twice"):
        entity.command_handler("GetCart")
    with pytest.raises(TypeError, match="event class"):
        entity.event_handler("ItemAdded")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="snapshot_every"):
        new_entity(snapshot_every=-1)
    with pytest.raises(ValueError, match="passivation_timeout"):
        new_entity(passivation_timeout=0)
    with pytest.raises(TypeError, match="ServiceDescriptor"):
        EventSourcedEntity(CART_FILE, [CART_FILE], lambda entity_id: None)  # type: ignore[arg-type]


def test_snapshot_decorators_infer_types() -> None:
    entity = new_entity(snapshot_every=3)

    @entity.snapshot
    def snapshot(state: State, ctx: EventSourcedEventContext) -> DomainCart:
        return DomainCart()

    @entity.snapshot_handler()
    def restore(cart: DomainCart, state: State) -> None:
        pass

    assert entity.snapshot_function is not None
    assert entity.snapshot_function.keywords == (("state", Param.STATE), ("ctx", Param.CONTEXT))
    assert entity.snapshot_handler_function is not None
    assert entity.snapshot_handler_function.keywords == (
        ("cart", Param.MESSAGE),
        ("state", Param.STATE),
    )
    assert entity.state_type is State
    assert entity.persistence_id == "ShoppingCart"


async def test_snapshots_without_snapshot_functions_are_refused_at_start() -> None:
    with pytest.raises(ValueError, match=r"snapshot_every=5.*@entity.snapshot\(\)"):
        await (
            CloudState()
            .register_event_sourced_entity(new_entity(snapshot_every=5))
            .serve_async(port=0)
        )
