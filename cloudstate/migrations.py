"""Event schema evolution: migrations that turn a stored event or snapshot of an old type into
the message a handler takes today (docs/schema-evolution.md).

A journal keeps every event as it was written, for years. When an event's message changes in a
way old bytes cannot be read as (a field's type changed, the message was split or renamed), give
the new message a **new name** and register a migration keyed by the **old type URL**. The SDK
applies it wherever it decodes a stored payload: replaying an event-sourced entity (event
handlers and the snapshot handler) and delivering events to actions and views that subscribe to
an entity's event log.

Example::

    entity.migrate(
        "type.googleapis.com/com.example.shoppingcart.persistence.ItemAdded",
        to=ItemAddedV2,
        transform=lambda old: ItemAddedV2(product_id=ItemAddedV1.FromString(old).item.productId),
    )
    # a rename only (the bytes are the same on the wire): no transform
    entity.migrate("type.googleapis.com/com.example.shoppingcart.persistence.ItemRemoved",
                   to=ItemRemovedV2)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf import any_pb2
from google.protobuf.message import Message

from cloudstate.any_support import AnySupport

#: Turns the old payload's bytes into the new message.
Transform = Callable[[bytes], Message]


@dataclass(frozen=True, slots=True)
class Migration:
    """One registered migration: payloads typed ``type_url`` become ``to`` instances."""

    type_url: str
    to: type[Message]
    transform: Transform | None

    def apply(self, value: bytes) -> Message:
        """The new message for the old payload's bytes (``to.FromString`` without a transform)."""
        if self.transform is None:
            return self.to.FromString(value)
        result = self.transform(value)
        if not isinstance(result, self.to):
            raise TypeError(
                f"the migration of {self.type_url} returned {type(result).__name__}, not "
                f"{self.to.__name__}: its transform must return the message named by to="
            )
        return result


class Migrations:
    """The migrations of one component (an entity, an action or a view), by old type URL.

    Example::

        migrations = Migrations("ShoppingCart")
        migrations.add("type.googleapis.com/shop.ItemAdded", ItemAddedV2, upgrade_item_added)
        value = migrations.decode(stored_any, any_support)  # an ItemAddedV2
    """

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._by_url: dict[str, Migration] = {}

    def add(self, type_url: str, to: type[Message], transform: Transform | None = None) -> None:
        """Register a migration of ``type_url`` (the full type URL as stored, e.g.
        ``"type.googleapis.com/pkg.Old"``) to the message class ``to``; ``transform(old_bytes)``
        builds the new message (default: ``to.FromString``, for a rename of a wire-compatible
        message). Raises ``ValueError`` or ``TypeError`` naming what is wrong."""
        if not isinstance(type_url, str) or "/" not in type_url:
            raise ValueError(
                f"{self.owner}: migrate() takes the stored type URL "
                f"('type.googleapis.com/<package>.<Message>'), not {type_url!r}"
            )
        if not (isinstance(to, type) and issubclass(to, Message)):
            raise TypeError(f"{self.owner}: migrate(to=...) takes a message class, not {to!r}")
        if transform is not None and not callable(transform):
            raise TypeError(f"{self.owner}: migrate(transform=...) must be callable")
        if type_url.rsplit("/", 1)[-1] == to.DESCRIPTOR.full_name:
            raise ValueError(
                f"{self.owner}: the migration of {type_url} leads to the same type name; give the "
                "changed message a new name (e.g. ...V2) so that new events are not migrated too"
            )
        if type_url in self._by_url:
            raise ValueError(f"{self.owner}: a migration of {type_url} is registered already")
        self._by_url[type_url] = Migration(type_url, to, transform)

    def get(self, type_url: str) -> Migration | None:
        """The migration registered for ``type_url``, if any."""
        return self._by_url.get(type_url)

    def decode(self, payload: any_pb2.Any, support: AnySupport) -> Any:
        """``payload`` decoded: through its migration if one is registered for its type URL,
        else as :meth:`AnySupport.unpack` does."""
        migration = self._by_url.get(payload.type_url)
        if migration is None:
            return support.unpack(payload)
        return migration.apply(payload.value)

    def __len__(self) -> int:
        return len(self._by_url)


def missing_migration_advice(type_url: str, registrar: str) -> str:
    """What to do about a stored payload whose type URL nothing decodes (the end of the error)."""
    return (
        f"register the file descriptor that declares it, or a migration: "
        f"{registrar}.migrate({type_url!r}, to=<the new message class>, "
        "transform=<old bytes -> new message>) (docs/schema-evolution.md)"
    )


__all__ = ["Migration", "Migrations", "Transform", "missing_migration_advice"]
