"""Run the views example's user function: ``python -m cartviews.main``.

Listens on ``$HOST:$PORT`` (default 127.0.0.1:8080) for the Cloudstate proxy. With the proxy in
one command: ``cloudstate run cartviews.main --path examples/shoppingcart_views``.
"""

from __future__ import annotations

import logging

from cartviews.cart import entity
from cartviews.views import confirmation_log, confirmations, popular_products
from cloudstate import CloudState


def server() -> CloudState:
    return (
        CloudState(service_name="shopping-cart-views")
        .register_event_sourced_entity(entity)
        .register_view(popular_products)
        .register_view(confirmations)
        .register_action(confirmation_log)
    )


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    server().start()
