"""The Cloudstate proxy: serves the user function's services to clients and owns state.

Start it with ``cloudstate proxy`` or ``python -m cloudstate.proxy``; embed it with
:class:`cloudstate.proxy.server.Proxy`.
"""
