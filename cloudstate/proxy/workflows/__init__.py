"""Workflows: the proxy side of the ``cloudstate.workflows/1`` extension
(docs/protocol-workflows.md).

* :mod:`.definition` — ``describe`` and the definition rules;
* :mod:`.record` — the stored record, step keys, the wake-up and deadline tasks;
* :mod:`.transitions` — the status rules as record changes, and each write's tasks;
* :mod:`.steps` — one attempt of a step (``runStep``, its call, its continuation);
* :mod:`.actors` — one actor (lock, cached record) per active workflow id;
* :mod:`.engine` — :class:`~.engine.WorkflowHandler`: commands, steps, wake-ups, operators;
* :mod:`.wiring` — plugging the engines into the proxy;
* :mod:`.events` — the SSE progress feed.
"""
