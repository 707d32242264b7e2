"""Proxy workers on one node: several proxy processes share the client port, each owning the
keyed entities that rendezvous hashing gives it, forwarding the others' commands to their owner.

* :mod:`~cloudstate.proxy.workers.ownership` — who owns (service, key): the member interface
  a multi-node membership can feed later.
* :mod:`~cloudstate.proxy.workers.wire` — the frames of the local channel.
* :mod:`~cloudstate.proxy.workers.channel` — the unix-socket server and clients.
* :mod:`~cloudstate.proxy.workers.node` — one worker's part: forwarding handlers, singletons.
* :mod:`~cloudstate.proxy.workers.supervisor` — the parent: starts and restarts the workers.

See docs/scale-out.md ("Workers on one node").
"""
