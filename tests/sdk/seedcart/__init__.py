"""The original python-support's shopping cart, written exactly in its style: the seed's module
paths (``cloudstate.cloudstate``, ``cloudstate.event_sourced_entity``,
``cloudstate.event_sourced_context``), its decorators, parameters injected by annotation, and a
main module ending in ``CloudState().register_event_sourced_entity(entity).start()``.

Used by ``tests/sdk/test_seed_api.py``: in process, and as a user function behind our proxy.
"""
