"""Run the shopping-cart user function: ``python -m shoppingcart.shopping_cart``.

Listens on ``$HOST:$PORT`` (default 127.0.0.1:8080) for the Cloudstate proxy.

It imports ``CloudState`` the way the original Python support did (``cloudstate.cloudstate``),
on purpose: that code keeps running. New code writes ``from cloudstate import CloudState``.
"""

import logging

from cloudstate.cloudstate import CloudState
from shoppingcart.shopping_cart_entity import entity as shopping_cart_entity

if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    CloudState().register_event_sourced_entity(shopping_cart_entity).start()
