"""Run the value-entity shopping-cart user function: ``python -m valueentity.shopping_cart``.

Listens on ``$HOST:$PORT`` (default 127.0.0.1:8080) for the Cloudstate proxy. With the proxy in
one command: ``cloudstate run valueentity.shopping_cart --path examples/valueentity``.
"""

import logging

from cloudstate import CloudState
from valueentity.shopping_cart_entity import entity as shopping_cart_entity

if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    CloudState().register_value_entity(shopping_cart_entity).start()
