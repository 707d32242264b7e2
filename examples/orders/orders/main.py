"""Run the order saga example's user function: ``python -m orders.main``.

Listens on ``$HOST:$PORT`` (default 127.0.0.1:8080) for the Cloudstate proxy, which must support
workflows (it lists ``cloudstate.workflows/1`` in discovery). With the proxy in one command:
``cloudstate run orders.main --path examples/orders``.
"""

import logging

from cloudstate import CloudState
from orders.components import inventory, payments, shipping
from orders.order_workflow import order

if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    (
        CloudState(service_name="orders")
        .register_value_entity(inventory)
        .register_value_entity(payments)
        .register_value_entity(shipping)
        .register_workflow(order)
        .start()
    )
