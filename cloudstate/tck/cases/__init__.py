"""The TCK's cases, one module per group; importing this package registers them all."""

from cloudstate.tck.cases import (  # noqa: F401
    discovery,
    event_sourced_model,
)
