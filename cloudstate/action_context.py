"""An earlier module path of :class:`ActionContext` and the values an action handler returns,
kept for existing code.

New code imports them from :mod:`cloudstate`; they live in :mod:`cloudstate.action`.
"""

from __future__ import annotations

from cloudstate.action.context import NO_REPLY, ActionContext, Failure, Forward

__all__ = ["NO_REPLY", "ActionContext", "Failure", "Forward"]
