"""An earlier module path of :class:`ActionServicer`, kept for existing code; it lives in
:mod:`cloudstate.action.servicer`.
"""

from __future__ import annotations

from cloudstate.action.servicer import ActionServicer, add_action_servicer

__all__ = ["ActionServicer", "add_action_servicer"]
