"""The admin API on the admin port: ``cloudstate.admin.Admin`` (cloudstate/admin.proto) over gRPC
and HTTP/JSON, next to ``/metrics``; see docs/admin.md.

One module per concern: :mod:`.operations` (how an operation is registered and found),
:mod:`.entities`, :mod:`.eventing`, :mod:`.durable`, :mod:`.workflows` (the operations),
:mod:`.decode` (payloads to JSON), :mod:`.router` (authentication and dispatch), :mod:`.server`
(the port).
"""
