"""The views test user function: ``Cart`` (event sourced, persistence id ``vcart``) journals
``ItemAdded`` / ``ProductRemoved``; the ``Popularity`` view sums the quantity added per product
(the update handler gets the event and the current row) and deletes a product's row when it is
removed; ``Catalog`` publishes products to the topic ``catalog``, whose messages are the rows of
the ``CatalogView`` view as they are (no handler); the states of the ``Stock`` value entity
(persistence id ``vstock``) are the rows of ``StockView``.

Served in-process by the tests (:func:`build`); ``python -m tests.views.model`` serves it on
``$HOST:$PORT`` (the benchmark does).
"""

from __future__ import annotations

import atexit
import importlib
import logging
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from google.protobuf import empty_pb2

from cloudstate.action import Action
from cloudstate.action_context import ActionContext
from cloudstate.cloudstate import CloudState
from cloudstate.event_sourced_context import EventSourcedCommandContext
from cloudstate.event_sourced_entity import EventSourcedEntity
from cloudstate.protoc import run
from cloudstate.value_entity import ValueEntity
from cloudstate.value_entity_context import ValueEntityCommandContext
from cloudstate.view import DELETE, View

PROTO_ROOT = Path(__file__).resolve().parent / "proto"


def _compile() -> None:
    out = tempfile.mkdtemp(prefix="viewtest-protos-")
    atexit.register(shutil.rmtree, out, True)
    if run([f"-I{PROTO_ROOT}", f"--python_out={out}", "viewtest/views.proto"]) != 0:
        raise RuntimeError("protoc failed on tests/views/proto/viewtest/views.proto")
    sys.path.insert(0, out)


if "viewtest.views_pb2" not in sys.modules:
    _compile()
pb: Any = importlib.import_module("viewtest.views_pb2")
FILE = pb.DESCRIPTOR


def cart() -> EventSourcedEntity:
    entity = EventSourcedEntity(
        FILE.services_by_name["Cart"], [FILE], lambda: 0, persistence_id="vcart"
    )

    def add(state: int, request: Any, ctx: EventSourcedCommandContext) -> Any:
        ctx.emit(
            pb.ItemAdded(
                product_id=request.product_id, name=request.name, quantity=request.quantity
            )
        )
        return empty_pb2.Empty()

    def remove(state: int, request: Any, ctx: EventSourcedCommandContext) -> Any:
        ctx.emit(pb.ProductRemoved(product_id=request.product_id))
        return empty_pb2.Empty()

    entity.command_handler("Add")(add)
    entity.command_handler("Remove")(remove)
    entity.event_handler(pb.ItemAdded)(lambda state, event: state)
    entity.event_handler(pb.ProductRemoved)(lambda state, event: state)
    return entity


#: Products whose ItemAdded events the Popularity view's handler fails on (a test's poison).
POISONED: set[str] = set()


def popularity() -> View:
    view = View(FILE.services_by_name["Popularity"], [FILE])

    @view.update_handler("OnAdded")
    def on_added(event: Any, row: Any | None, ctx: ActionContext) -> Any:
        assert ctx.metadata.get("cloudstate-view-table") == "products"
        if event.product_id in POISONED:
            raise RuntimeError(f"poisoned product {event.product_id}")
        if row is None:
            row = pb.Product(product_id=event.product_id, name=event.name)
        row.quantity += event.quantity
        return row

    @view.update_handler("OnRemoved")
    async def on_removed(event: Any, row: Any | None) -> Any:
        return DELETE

    return view


def catalog() -> Action:
    action = Action(FILE.services_by_name["Catalog"], [FILE])
    action.unary("Publish")(lambda product, ctx: product)
    return action


def stock() -> ValueEntity:
    entity = ValueEntity(
        FILE.services_by_name["Stock"], [FILE], lambda: pb.StockLevel(), persistence_id="vstock"
    )

    def set_stock(state: Any, request: Any, ctx: ValueEntityCommandContext) -> Any:
        ctx.update_state(pb.StockLevel(sku=request.sku, count=request.count))
        return empty_pb2.Empty()

    def clear(state: Any, request: Any, ctx: ValueEntityCommandContext) -> Any:
        ctx.delete_state()
        return empty_pb2.Empty()

    entity.command_handler("Set")(set_stock)
    entity.command_handler("Clear")(clear)
    return entity


def build() -> CloudState:
    server = CloudState(service_name="view-tests")
    server.register_event_sourced_entity(cart())
    server.register_view(popularity())
    server.register_action(catalog())
    server.register_value_entity(stock())
    server.register_view(View(FILE.services_by_name["StockView"], [FILE]))
    return server.register_view(View(FILE.services_by_name["CatalogView"], [FILE]))


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    build().start()
