"""How an admin operation is registered, and what it may use.

An operation is an ``async`` function from its request message and the running proxy
(:class:`ProxyState`) to its response message, registered under its rpc's name in
``cloudstate.admin.Admin`` (cloudstate/protos/cloudstate/admin.proto). Adding one: declare the rpc
(with its ``google.api.http`` rule) in the proto, run ``make protos``, and register its function
in the module of its concern::

    @operation("ListConsumers")
    async def list_consumers(
        request: admin_pb2.ListConsumersRequest, proxy: ProxyState
    ) -> admin_pb2.ListConsumersResponse:
        return admin_pb2.ListConsumersResponse(...)

The request arrives parsed and checked against the proto; authentication is done before (see
:mod:`.router`); raise a :class:`~cloudstate.proxy.errors.ProxyError` (:class:`NotFound`,
:class:`~cloudstate.proxy.errors.BadRequest`, ...) to answer with an error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import grpc

from cloudstate.proxy.errors import BadRequest, ProxyError

if TYPE_CHECKING:
    from cloudstate.protocol import entity_pb2
    from cloudstate.proxy.config import ProxyConfig
    from cloudstate.proxy.durable.scheduler import DurableScheduler
    from cloudstate.proxy.entities.base import EntityHandler
    from cloudstate.proxy.eventing import EventingManager
    from cloudstate.proxy.eventing.operations import EventingOperations
    from cloudstate.proxy.model import UserFunctionModel
    from cloudstate.proxy.router import Router
    from cloudstate.proxy.stores.base import Store
    from cloudstate.proxy.views import ViewManager
    from cloudstate.proxy.workflows.wiring import WorkflowWiring


class ProxyState(Protocol):
    """What operations read of the running proxy (:class:`cloudstate.proxy.server.Proxy`); the
    parts are None until the proxy has discovered its user function."""

    @property
    def store(self) -> Store | None: ...

    @property
    def model(self) -> UserFunctionModel | None: ...

    @property
    def eventing(self) -> EventingManager | None: ...

    @property
    def views(self) -> ViewManager | None: ...

    @property
    def scheduler(self) -> DurableScheduler | None: ...

    @property
    def router(self) -> Router | None: ...

    @property
    def config(self) -> ProxyConfig:
        """Its settings (``--deletion-grace`` for DeleteEntity)."""
        ...

    @property
    def workflows(self) -> WorkflowWiring:
        """The workflow services' engines (none before discovery)."""
        ...

    @property
    def operations(self) -> EventingOperations | None: ...

    @property
    def handlers(self) -> Mapping[str, EntityHandler]:
        """The entity handlers by service name (empty before discovery)."""
        ...


Handler = Callable[[Any, ProxyState], Awaitable[Any]]

#: A server-streaming operation: also given the caller's metadata (it calls the user function
#: on the caller's behalf), it yields its response messages.
StreamHandler = Callable[[Any, ProxyState, "entity_pb2.Metadata | None"], AsyncIterator[Any]]

#: The registered operations by rpc name (filled by importing the operation modules).
OPERATIONS: dict[str, Handler] = {}
#: The registered server-streaming operations by rpc name.
STREAMS: dict[str, StreamHandler] = {}


class NotFound(ProxyError):
    """The service, entity or dead letter named does not exist (NOT_FOUND, HTTP 404)."""

    status = grpc.StatusCode.NOT_FOUND


class Refused(ProxyError):
    """What is named exists but does not allow the operation, e.g. deleting a value entity
    (FAILED_PRECONDITION, HTTP 409, like a workflow's refused transition)."""

    status = grpc.StatusCode.FAILED_PRECONDITION
    http_status = 409


class Starting(ProxyError):
    """The proxy has not discovered its user function yet (UNAVAILABLE, HTTP 503)."""

    status = grpc.StatusCode.UNAVAILABLE


def operation(name: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as the admin rpc ``name``."""

    def register(handler: Handler) -> Handler:
        if name in OPERATIONS:
            raise ValueError(f"admin operation {name} is registered twice")
        OPERATIONS[name] = handler
        return handler

    return register


def streaming_operation(name: str) -> Callable[[StreamHandler], StreamHandler]:
    """Register the decorated async generator as the server-streaming admin rpc ``name``."""

    def register(handler: StreamHandler) -> StreamHandler:
        if name in OPERATIONS or name in STREAMS:
            raise ValueError(f"admin operation {name} is registered twice")
        STREAMS[name] = handler
        return handler

    return register


def ready(proxy: ProxyState) -> tuple[Store, UserFunctionModel]:
    """The store and model of a started proxy; :class:`Starting` before discovery."""
    if proxy.store is None or proxy.model is None:
        raise Starting(
            "the proxy is starting: its user function is not discovered yet; retry in a moment"
        )
    return proxy.store, proxy.model


def bounded(value: int, default: int, most: int, what: str) -> int:
    """``value`` (0: ``default``) within 1..``most``; BadRequest for a negative one."""
    if value < 0:
        raise BadRequest(f"{what} must be positive (got {value})")
    return min(value or default, most)
