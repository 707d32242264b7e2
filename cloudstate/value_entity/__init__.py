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

from cloudstate.value_entity.context import ValueEntityCommandContext
from cloudstate.value_entity.entity import VALUE_ENTITY, VALUE_ENTITY_TYPE, ValueEntity

__all__ = ["VALUE_ENTITY", "VALUE_ENTITY_TYPE", "ValueEntity", "ValueEntityCommandContext"]
