"""Admin operations on eventing: the consumers (eventing subscriptions, topic relays, view
updaters) with their offsets and lag.

Example (HTTP)::

    GET /v1/consumers
"""

from __future__ import annotations

import time

from cloudstate.protocol import admin_pb2
from cloudstate.proxy.admin.operations import ProxyState, operation, ready


@operation("ListConsumers")
async def list_consumers(
    request: admin_pb2.ListConsumersRequest, proxy: ProxyState
) -> admin_pb2.ListConsumersResponse:
    ready(proxy)
    statuses = []
    if proxy.eventing is not None:
        statuses += [("eventing", status) for status in await proxy.eventing.status()]
    if proxy.views is not None:
        statuses += [("view", status) for status in await proxy.views.status()]
    now = time.time()
    reply = admin_pb2.ListConsumersResponse()
    for kind, status in sorted(statuses, key=lambda found: found[1].consumer_id):
        since = status.pending_since
        reply.consumers.add(
            consumer_id=status.consumer_id,
            source=status.source,
            kind=kind,
            offset=status.committed_offset,
            head_offset=status.head_offset,
            pending=max(0, status.head_offset - status.committed_offset),
            lag_seconds=max(0.0, now - since) if since is not None else 0.0,
            delivered=status.delivered,
            failures=status.failures,
            last_error=status.last_error or "",
        )
    return reply
