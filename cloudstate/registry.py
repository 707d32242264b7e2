"""What every component kind contributes to a :class:`~cloudstate.server.CloudState` server.

A component kind (event sourced, value entity, CRDT, action; a view is an action on the wire) is
an :class:`EntityKind`: the protocol service it implements (``entity_type``, reported in
discovery) and how to add that service's servicer to a gRPC server for all registered components
of the kind. Each kind's package registers its kind when it is imported::

    EVENT_SOURCED = register_kind(EntityKind(EVENT_SOURCED_ENTITY_TYPE, add_event_sourced_servicer))

Each registered component is an :class:`EntityDefinition`: its user service, descriptors, and
its entry in the discovery ``EntitySpec``; its ``kind`` is looked up here by its entity type
(:func:`kind_of`). Adding a new kind means writing these two things (see
:mod:`cloudstate.component` for the base classes); the server and the discovery service need no
change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from google.protobuf.descriptor import FileDescriptor, ServiceDescriptor

from cloudstate.protocol import entity_pb2


@dataclass(frozen=True)
class EntityKind:
    """One kind of component: its protocol service and its servicer factory."""

    #: Full name of the protocol service, e.g. ``cloudstate.eventsourced.EventSourced``.
    entity_type: str
    #: ``add_servicer(server, entities)`` adds the protocol servicer for ``entities`` (all of
    #: this kind, at least one) to a ``grpc.aio.Server``.
    add_servicer: Callable[[Any, Sequence[Any]], None]
    #: The protocol extension a proxy must list in ``ProxyInfo.extensions`` to be told about
    #: components of this kind (``cloudstate.workflows/1``); ``None``: part of the base protocol.
    #: Discovery fails, naming the component and the extension, when the proxy does not list it.
    extension: str | None = None


_KINDS: dict[str, EntityKind] = {}


def register_kind(kind: EntityKind) -> EntityKind:
    """Make ``kind`` the one serving components of ``kind.entity_type``; returns it."""
    _KINDS[kind.entity_type] = kind
    return kind


def kind_of(entity_type: str) -> EntityKind:
    """The registered kind serving ``entity_type``."""
    kind = _KINDS.get(entity_type)
    if kind is None:
        raise LookupError(
            f"no component kind serves {entity_type}; registered: {', '.join(sorted(_KINDS))}"
        )
    return kind


class EntityDefinition(Protocol):
    """A user component (entity, action, view) as the server and discovery see it."""

    @property
    def kind(self) -> EntityKind: ...

    @property
    def service_descriptor(self) -> ServiceDescriptor: ...

    @property
    def file_descriptors(self) -> Sequence[FileDescriptor]: ...

    def entity_spec(self) -> entity_pb2.Entity:
        """This component's entry in ``EntitySpec.entities``."""
        ...

    def validate(self) -> None:
        """Raise if the component cannot be served (called when the server starts)."""
        ...
