"""What every entity kind contributes to a :class:`~cloudstate.cloudstate.CloudState` server.

An entity kind (event sourced, and later value entity, CRDT, action) is described by an
:class:`EntityKind`: the protocol service it implements (``entity_type``, reported in discovery)
and how to add that service's servicer to a gRPC server for all registered entities of the kind.
Each registered entity is an :class:`EntityDefinition`: its user service, descriptors, and its
entry in the discovery ``EntitySpec``. Adding a new kind means writing these two things; the
server and the discovery service need no change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from google.protobuf.descriptor import FileDescriptor, ServiceDescriptor

from cloudstate.protocol import entity_pb2


@dataclass(frozen=True)
class EntityKind:
    """One kind of entity: its protocol service and its servicer factory."""

    #: Full name of the protocol service, e.g. ``cloudstate.eventsourced.EventSourced``.
    entity_type: str
    #: ``add_servicer(server, entities)`` adds the protocol servicer for ``entities`` (all of
    #: this kind, at least one) to a ``grpc.aio.Server``.
    add_servicer: Callable[[Any, Sequence[Any]], None]


class EntityDefinition(Protocol):
    """A user entity as the server and discovery see it."""

    @property
    def kind(self) -> EntityKind: ...

    @property
    def service_descriptor(self) -> ServiceDescriptor: ...

    @property
    def file_descriptors(self) -> Sequence[FileDescriptor]: ...

    def entity_spec(self) -> entity_pb2.Entity:
        """This entity's entry in ``EntitySpec.entities``."""
        ...

    def validate(self) -> None:
        """Raise if the entity cannot be served (called when the server starts)."""
        ...
