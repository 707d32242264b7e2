"""Value entities: the state is one value, read when the entity starts and replaced (or deleted)
by commands — the key-value pattern.

* :mod:`~cloudstate.value_entity.entity` — :class:`ValueEntity` and its decorator;
* :mod:`~cloudstate.value_entity.context` — :class:`ValueEntityCommandContext`;
* :mod:`~cloudstate.value_entity.servicer` — the ``cloudstate.valueentity.ValueEntity``
  protocol service: one stream per entity instance.

Service code imports these names from :mod:`cloudstate` (``from cloudstate.value_entity import
ValueEntity`` works too); see docs/valueentity.md.
"""

from __future__ import annotations

from cloudstate.registry import EntityKind, register_kind
from cloudstate.value_entity.context import ValueEntityCommandContext
from cloudstate.value_entity.entity import VALUE_ENTITY_TYPE, ValueEntity
from cloudstate.value_entity.servicer import add_value_entity_servicer

#: The value-entity kind: its protocol service and servicer (:mod:`cloudstate.registry`).
VALUE_ENTITY = register_kind(EntityKind(VALUE_ENTITY_TYPE, add_value_entity_servicer))

__all__ = ["VALUE_ENTITY", "VALUE_ENTITY_TYPE", "ValueEntity", "ValueEntityCommandContext"]
