"""The TCK's cases, one module per group; importing this package registers them all, in the
order below (which is the order they run in)."""

import importlib

_MODULES = [
    "discovery",
    "event_sourced_model",
    "value_entity_model",
    "crdt_model",
    "action_model",
    "eventing_model",
    "durable_model",
    "workflow_model",
    "proxy_discovery",
    "event_sourced_proxy",
    "value_entity_proxy",
    "crdt_proxy",
    "action_proxy",
    "eventing_proxy",
    "workflow_proxy",
]

for _name in _MODULES:
    importlib.import_module(f"{__name__}.{_name}")
