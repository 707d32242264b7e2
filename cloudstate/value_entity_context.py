"""An earlier module path of :class:`ValueEntityCommandContext`, kept for existing code.

New code imports it from :mod:`cloudstate`; it lives in :mod:`cloudstate.value_entity`.
"""

from __future__ import annotations

from cloudstate.value_entity.context import ValueEntityCommandContext

__all__ = ["ValueEntityCommandContext"]
