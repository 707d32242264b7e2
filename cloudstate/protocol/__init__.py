"""The Cloudstate protocol (0.2 and this implementation's extensions) as generated code, shared by
the SDK, the proxy, the test kits and the TCK.

One module per ``.proto`` file of ``cloudstate/protos/cloudstate/`` (``make protos``,
``scripts/gen_protos.py``): :mod:`~cloudstate.protocol.entity_pb2` (discovery, commands, replies,
side effects), :mod:`~cloudstate.protocol.event_sourced_pb2`,
:mod:`~cloudstate.protocol.value_entity_pb2`, :mod:`~cloudstate.protocol.crdt_pb2` and
:mod:`~cloudstate.protocol.action_pb2`, each with its ``_pb2_grpc`` stubs. The descriptors keep
their file names (``cloudstate/entity.proto`` ...), which other language supports and descriptor
sets refer to.

The options user protos import (``cloudstate/entity_key.proto``, ``eventing.proto``,
``view.proto``, ``auth.proto``, ``legacy_entity_key.proto``) are not here: protoc-generated user
code imports them as ``cloudstate.entity_key_pb2`` and so on, so they stay at the package root.

Besides the generated code, :mod:`cloudstate.protocol.tracing` holds what both sides agree on to
carry a trace through the protocol's metadata.
"""
