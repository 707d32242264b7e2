"""Run the CRDT example's user function: ``python -m crdts.main``.

Listens on ``$HOST:$PORT`` (default 127.0.0.1:8080) for the Cloudstate proxy. With the proxy in
one command: ``cloudstate run crdts.main --path examples/crdts``.
"""

import logging

from cloudstate import CloudState
from crdts import likes, presence

if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    CloudState().register_crdt_entity(likes.entity).register_crdt_entity(presence.entity).start()
