"""The views example's user function with a slow ``PopularProducts`` update handler
(``$CONSOLE_VIEW_DELAY`` seconds per event, default 0.4): a burst of ``AddItem`` calls makes its
consumer's lag rise, and the lag falls back to 0 once the handler has caught up. Run it as
``cloudstate run tests.console.slow_views --path examples/shoppingcart_views`` from the
repository root (tests/console/test_console.py does)."""

from __future__ import annotations

import asyncio
import os

from cartviews import views
from cartviews.cart import entity
from cartviews.cartviews_pb2 import DESCRIPTOR, ItemAdded, ProductPopularity

from cloudstate import CloudState, View

slow_products = View(DESCRIPTOR.services_by_name["PopularProducts"], [DESCRIPTOR])


@slow_products.update_handler("OnItemAdded")
async def on_item_added(event: ItemAdded, row: ProductPopularity | None) -> ProductPopularity:
    await asyncio.sleep(float(os.environ.get("CONSOLE_VIEW_DELAY", "0.4")))
    return views.on_item_added(event, row)


def server() -> CloudState:
    return (
        CloudState(service_name="shopping-cart-views")
        .register_event_sourced_entity(entity)
        .register_view(slow_products)
        .register_view(views.confirmations)
        .register_action(views.confirmation_log)
    )


if __name__ == "__main__":
    server().start()
