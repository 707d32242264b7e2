"""The views of the example and the action logging order confirmations.

``PopularProducts`` ranks products by the quantity added over all carts: its update handler gets
each ``ItemAdded`` event and the product's current row. ``Confirmations`` keeps every order
confirmation published at checkout, as it is (no handler). ``ConfirmationLog`` logs them (and
appends them to ``$CONFIRMATIONS_FILE`` if set).
"""

from __future__ import annotations

import logging
import os

from google.protobuf.empty_pb2 import Empty

from cartviews.cartviews_pb2 import DESCRIPTOR, ItemAdded, OrderConfirmation, ProductPopularity
from cloudstate import Action, View

log = logging.getLogger(__name__)

popular_products = View(DESCRIPTOR.services_by_name["PopularProducts"], [DESCRIPTOR])


@popular_products.update_handler("OnItemAdded")
def on_item_added(event: ItemAdded, row: ProductPopularity | None) -> ProductPopularity:
    if row is None:
        row = ProductPopularity(product_id=event.item.product_id, name=event.item.name)
    row.quantity += event.item.quantity
    row.carts += 1
    return row


# No handler: the proxy stores each published confirmation as the row of its cart.
confirmations = View(DESCRIPTOR.services_by_name["Confirmations"], [DESCRIPTOR])

confirmation_log = Action(DESCRIPTOR.services_by_name["ConfirmationLog"], [DESCRIPTOR])


@confirmation_log.unary("OnConfirmation")
def on_confirmation(confirmation: OrderConfirmation) -> Empty:
    log.info(
        "order confirmed: cart %s, %d lines, %d items",
        confirmation.cart_id,
        confirmation.lines,
        confirmation.total_quantity,
    )
    path = os.environ.get("CONFIRMATIONS_FILE")
    if path:
        with open(path, "a") as out:
            out.write(f"{confirmation.cart_id} {confirmation.total_quantity}\n")
    return Empty()
