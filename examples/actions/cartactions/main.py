"""Run the actions together with the shopping cart they call: ``python -m cartactions.main``.

Listens on ``$HOST:$PORT`` (default 127.0.0.1:8080) for the Cloudstate proxy. One user function
serves both: the proxy routes the actions' forwards and side effects to the cart.
"""

import logging

from shoppingcart.shopping_cart_entity import entity as shopping_cart

from cartactions.actions import action
from cloudstate import CloudState

if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    CloudState().register_action(action).register_event_sourced_entity(shopping_cart).start()
