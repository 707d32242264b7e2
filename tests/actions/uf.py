"""The test user function: every action of ``tests/actions/model.py`` plus the counter entity.

``python -m tests.actions.uf`` (from the repository root) listens on ``$HOST:$PORT``.
"""

from __future__ import annotations

import logging

from cloudstate.cloudstate import CloudState
from tests.actions.model import ACTIONS, counter, register, tally


def build() -> CloudState:
    cloudstate = CloudState(service_name="action-tests")
    for action in ACTIONS:
        cloudstate.register_action(action)
    cloudstate.register_value_entity(register)
    cloudstate.register_crdt_entity(tally)
    return cloudstate.register_event_sourced_entity(counter)


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    build().start()
