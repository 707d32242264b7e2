"""Cloudstate for Python: stateful serverless services.

The SDK (entities, contexts, the :class:`~cloudstate.cloudstate.CloudState` server) lives in this
package; the proxy in :mod:`cloudstate.proxy`.
"""

__version__ = "0.3.0"
