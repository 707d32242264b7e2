"""Durable calls (docs/protocol-durable-calls.md): durable side effects, timers, recurring
schedules and idempotency keys, on the proxy's side.

One concern per module: :mod:`.tasks` turns a reply's durable side effects into store tasks,
:mod:`.delivery` makes one delivery through the router, :mod:`.scheduler` runs the delivery loop
(one node at a time), :mod:`.schedules` reads and ticks ``(cloudstate.schedule)``,
:mod:`.durations` parses ``500ms`` / ``30s`` / ``5m``.
"""
