"""Entity-type handlers: one module per entity type, registered in :data:`HANDLER_FACTORIES`.

A factory builds the :class:`~cloudstate.proxy.entities.base.EntityHandler` of one discovered
service. The proxy advertises exactly the entity types listed here to the user function, so adding
an entity type is: write its module, add one line below.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc

from cloudstate.proxy.entities.action import ActionHandler
from cloudstate.proxy.entities.base import EntityHandler
from cloudstate.proxy.entities.crdt import CrdtHandler
from cloudstate.proxy.entities.event_sourced import EntitySettings, EventSourcedHandler
from cloudstate.proxy.entities.value_entity import ValueEntityHandler
from cloudstate.proxy.model import (
    ACTION,
    CRDT,
    EVENT_SOURCED,
    VALUE_ENTITY,
    WORKFLOW,
    ServiceModel,
)
from cloudstate.proxy.stores.base import Store

ReportError = Callable[[str], Awaitable[None]]
HandlerFactory = Callable[
    [ServiceModel, grpc.aio.Channel, Store, EntitySettings, ReportError], EntityHandler
]


def workflow_handler(
    service: ServiceModel,
    channel: grpc.aio.Channel,
    store: Store,
    settings: EntitySettings,
    report_error: ReportError,
) -> EntityHandler:
    """The workflow engine of one workflow service (imported here, on use: the engine builds
    on the entity modules of this package)."""
    from cloudstate.proxy.workflows.engine import WorkflowHandler

    return WorkflowHandler(service, channel, store, settings, report_error)


#: entity type (protocol service full name) -> factory of the handler for one service of that type
HANDLER_FACTORIES: dict[str, HandlerFactory] = {
    EVENT_SOURCED: EventSourcedHandler,
    VALUE_ENTITY: ValueEntityHandler,
    CRDT: CrdtHandler,
    ACTION: ActionHandler,
    WORKFLOW: workflow_handler,
}
