"""The TCK model user function built with the Python SDK: every model service our SDK supports.

Run it (``HOST``/``PORT`` or the flags choose the address, default ``127.0.0.1:8080``)::

    python -m cloudstate.tck.model --port 8080

or embed it::

    server = await model_user_function().serve_async(port=0)
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from cloudstate.registry import EntityDefinition
from cloudstate.server import CloudState
from cloudstate.tck.model import action, crdt, durable, event_sourced, value_entity, workflow
from cloudstate.tck.model import eventing as model_eventing

log = logging.getLogger(__name__)


def model_entities(eventing: bool = True, workflows: bool = True) -> list[EntityDefinition]:
    """Fresh definitions of every model service; the event-log eventing ones unless
    ``eventing`` is false (a proxy serving them must deliver event logs to the subscriber); the
    workflow unless ``workflows`` is false (with it, discovery refuses a proxy that does not
    list ``cloudstate.workflows/1``)."""
    return [
        *event_sourced.entities(),
        *value_entity.entities(),
        *crdt.entities(),
        *action.actions(),
        *durable.entities(),
        *(model_eventing.entities() if eventing else []),
        *(workflow.entities() if workflows else []),
    ]


def model_user_function(
    host: str | None = None,
    port: int | None = None,
    eventing: bool = True,
    workflows: bool = True,
) -> CloudState:
    """A :class:`CloudState` serving the TCK model."""
    server = CloudState(host, port, service_name="cloudstate-tck-model")
    for entity in model_entities(eventing, workflows):
        server.register_entity(entity)
    return server


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m cloudstate.tck.model",
        description="Serve the Cloudstate TCK model services, implemented with the Python SDK.",
    )
    parser.add_argument("--host", help="interface to listen on (default $HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default $PORT or 8080)")
    parser.add_argument(
        "--no-eventing",
        dest="eventing",
        action="store_false",
        help="leave out the event-log eventing model (for proxies without event-log support)",
    )
    parser.add_argument(
        "--no-workflows",
        dest="workflows",
        action="store_false",
        help="leave out the workflow model (for proxies without cloudstate.workflows/1, which "
        "a user function serving a workflow refuses in discovery)",
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    model_user_function(args.host, args.port, args.eventing, args.workflows).start()
