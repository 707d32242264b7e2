"""The client port's HTTP side: ``google.api.http`` transcoding, gRPC-web, OpenAPI and health.

Modules: :mod:`.template` (path templates, the route trie), :mod:`.rules` (annotations →
bindings), :mod:`.transcode` (JSON ↔ messages), :mod:`.status` (errors, headers ↔ metadata),
:mod:`.grpcweb` (framing), :mod:`.openapi`, :mod:`.api` (the server-independent request
handler), :mod:`.h1` (aiohttp, HTTP/1.1), :mod:`.h2c` (h2, HTTP/2 without TLS) and
:mod:`.listener` (the one public port: classifies connections, relays native gRPC to grpc.aio).
User documentation: docs/http.md.
"""
