"""Views: tables kept up to date from event logs and topics, queried with a SQL-like language
(docs/views.md)."""

from cloudstate.proxy.views.manager import ViewManager

__all__ = ["ViewManager"]
