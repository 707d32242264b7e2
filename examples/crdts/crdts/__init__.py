"""CRDT entities: like counters (``crdts.likes``) and presence (``crdts.presence``).

Run both with ``python -m crdts.main`` (the user function) or, with a proxy in front,
``cloudstate run crdts.main --path examples/crdts``.
"""
