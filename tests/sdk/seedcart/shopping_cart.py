"""The seed's ``shoppingcart/shopping_cart.py``: the user function's main module.

``python -m tests.sdk.seedcart.shopping_cart`` serves the cart on ``$HOST:$PORT`` until SIGTERM.
"""

import logging

from cloudstate.cloudstate import CloudState
from tests.sdk.seedcart.shopping_cart_entity import entity as shopping_cart_entity

if __name__ == "__main__":
    logging.basicConfig()
    CloudState().register_event_sourced_entity(shopping_cart_entity).start()
