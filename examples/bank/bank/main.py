"""Run the bank example's user function: ``python -m bank.main``.

Listens on ``$HOST:$PORT`` (default 127.0.0.1:8080) for the Cloudstate proxy, which must support
durable calls and workflows (it lists ``cloudstate.durable-calls/1`` and
``cloudstate.workflows/1`` in discovery). With the proxy in one
command: ``cloudstate run bank.main --path examples/bank``.
"""

import logging

from bank import account_entity, transfer_entity, transfer_workflow
from cloudstate import CloudState

if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    CloudState(service_name="bank").register_event_sourced_entity(
        account_entity.entity
    ).register_event_sourced_entity(transfer_entity.entity).register_workflow(
        transfer_workflow.transfer
    ).start()
