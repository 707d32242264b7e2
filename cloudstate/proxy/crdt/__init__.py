"""The proxy's replicated data types: merged state, local updates and the deltas exchanged with
the user function (:mod:`.types`, :mod:`.wire`) and their durable encoding (:mod:`.codec`)."""
