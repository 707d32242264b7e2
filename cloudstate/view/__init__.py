"""Views: tables the proxy keeps up to date from events or topic messages, queried with SQL-like
``(cloudstate.view).query`` options.

* :mod:`~cloudstate.view.entity` — :class:`View`, its update handlers and :data:`DELETE`.

On the wire a view is an action: its update handlers receive an
:class:`~cloudstate.action.ActionContext` and are served by the action servicer
(:mod:`cloudstate.action.servicer`). Service code imports :class:`View` from :mod:`cloudstate`;
see docs/views.md.
"""

from __future__ import annotations

from cloudstate.view.entity import DELETE, ROW_METADATA, View

__all__ = ["DELETE", "ROW_METADATA", "View"]
