"""The seed's module path of :class:`CloudState`, kept for existing code::

    from cloudstate.cloudstate import CloudState

    CloudState().register_event_sourced_entity(entity).start()

New code imports it from :mod:`cloudstate`; it lives in :mod:`cloudstate.server`.
"""

from __future__ import annotations

from cloudstate.server import CloudState, CloudStateServer, ServerTls

__all__ = ["CloudState", "CloudStateServer", "ServerTls"]
