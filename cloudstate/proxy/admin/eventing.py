"""Admin operations on eventing: the consumers (eventing subscriptions, topic relays, view
updaters) with their offsets, lag and parked messages; their dead letters (list with the event
decoded, redrive one or all, discard), resets, and view rebuilds with their progress. The work is
:class:`~cloudstate.proxy.eventing.operations.EventingOperations` and
:meth:`~cloudstate.proxy.views.ViewManager.rebuild`, the same as ``cloudstate eventing`` on a
store, but through the running proxy (which wakes the consumer at once).

A parked message is named by its consumer and its offset in that consumer's source.

Example (HTTP)::

    GET  /v1/consumers
    GET  /v1/parked-messages?consumer_id=event_log:ledger:evtest.Projection
    POST /v1/parked-messages:redrive  {"consumer_id": "event_log:...", "offset": 5007}
    POST /v1/parked-messages:discard  {"consumer_id": "event_log:...", "all": true}
    POST /v1/consumers:reset          {"consumer_id": "event_log:...", "beginning": true}
    POST /v1/views:rebuild            {"service": "PopularProducts", "table": "products"}
    GET  /v1/views/rebuilds
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from cloudstate.protocol import admin_pb2, entity_pb2
from cloudstate.proxy.admin.decode import PayloadDecoder, timestamp
from cloudstate.proxy.admin.operations import NotFound, ProxyState, bounded, operation, ready
from cloudstate.proxy.errors import BadRequest
from cloudstate.proxy.eventing.operations import EventingOperations
from cloudstate.proxy.stores.base import ParkedMessage

if TYPE_CHECKING:
    from cloudstate.proxy.views.consumer import ViewConsumer

LIMIT, MOST = 1000, 100_000


@operation("ListConsumers")
async def list_consumers(
    request: admin_pb2.ListConsumersRequest, proxy: ProxyState
) -> admin_pb2.ListConsumersResponse:
    store, _ = ready(proxy)
    statuses = []
    if proxy.eventing is not None:
        statuses += [("eventing", status) for status in await proxy.eventing.status()]
    if proxy.views is not None:
        statuses += [("view", status) for status in await proxy.views.status()]
    views = {c.consumer_id: c for c in _view_consumers(proxy)}
    parked = await store.count_parked()
    now = time.time()
    reply = admin_pb2.ListConsumersResponse()
    for kind, status in sorted(statuses, key=lambda found: found[1].consumer_id):
        since = status.pending_since
        found = reply.consumers.add(
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
            parked=parked.get(status.consumer_id, 0),
        )
        view = views.get(status.consumer_id)
        if view is not None:
            found.view = view.view.name
            found.tables.extend(view.tables)
    return reply


# -- parked messages -----------------------------------------------------------------------------


def _operations(proxy: ProxyState) -> EventingOperations:
    store, _ = ready(proxy)
    return proxy.operations or EventingOperations(store)


def _parked(message: ParkedMessage, decoder: PayloadDecoder) -> admin_pb2.ParkedMessage:
    type_name, data = decoder.decode(message.payload)
    found = admin_pb2.ParkedMessage(
        consumer_id=message.consumer_id,
        offset=message.offset,
        key=message.key,
        what=message.what,
        type=type_name,
        data=decoder.value(data),
        attempts=message.attempts,
        last_error=message.last_error,
        redrive=message.redrive,
    )
    if message.failed_at:
        found.failed_at.CopyFrom(timestamp(message.failed_at))
    metadata = entity_pb2.Metadata()
    try:
        metadata.ParseFromString(message.metadata)
    except Exception:  # shown without its attributes rather than not at all
        pass
    for entry in metadata.entries:
        if entry.WhichOneof("value") == "string_value":
            found.metadata[entry.key] = entry.string_value
    return found


@operation("ListParkedMessages")
async def list_parked_messages(
    request: admin_pb2.ListParkedMessagesRequest, proxy: ProxyState
) -> admin_pb2.ListParkedMessagesResponse:
    _, model = ready(proxy)
    limit = bounded(request.limit, LIMIT, MOST, "limit")
    messages = await _operations(proxy).dead_letters(request.consumer_id, limit)
    decoder = PayloadDecoder(model.pool)
    return admin_pb2.ListParkedMessagesResponse(
        parked=[_parked(message, decoder) for message in messages]
    )


async def _chosen(
    what: str, consumer_id: str, offset: int, everything: bool, proxy: ProxyState
) -> list[int]:
    """The offsets of the parked messages a redrive or discard names (one, or all of the
    consumer's); BadRequest for a request naming neither or both, NotFound for none."""
    if not consumer_id:
        raise BadRequest(f"{what}: give the consumer_id (cloudstate admin consumers)")
    if everything == (offset > 0):
        raise BadRequest(f"{what} of {consumer_id}: give the offset of one parked message, or all")
    parked = await _operations(proxy).dead_letters(consumer_id, MOST)
    offsets = [m.offset for m in parked if everything or m.offset == offset]
    if not everything and not offsets:
        raise NotFound(
            f"{consumer_id} has no parked message at offset {offset} (list them: cloudstate "
            f"admin consumer-dead-letters {consumer_id})"
        )
    return offsets


@operation("RedriveParkedMessages")
async def redrive_parked_messages(
    request: admin_pb2.RedriveParkedMessagesRequest, proxy: ProxyState
) -> admin_pb2.ParkedMessagesChanged:
    consumer_id = request.consumer_id
    offsets = await _chosen("redrive", consumer_id, request.offset, request.all, proxy)
    if offsets:
        await _operations(proxy).redrive(consumer_id, None if request.all else request.offset)
    return admin_pb2.ParkedMessagesChanged(consumer_id=consumer_id, offsets=offsets)


@operation("DiscardParkedMessages")
async def discard_parked_messages(
    request: admin_pb2.DiscardParkedMessagesRequest, proxy: ProxyState
) -> admin_pb2.ParkedMessagesChanged:
    consumer_id = request.consumer_id
    offsets = await _chosen("discard", consumer_id, request.offset, request.all, proxy)
    if offsets:
        await _operations(proxy).discard(consumer_id, None if request.all else request.offset)
    return admin_pb2.ParkedMessagesChanged(consumer_id=consumer_id, offsets=offsets)


# -- resets ----------------------------------------------------------------------------------


@operation("ResetConsumer")
async def reset_consumer(
    request: admin_pb2.ResetConsumerRequest, proxy: ProxyState
) -> admin_pb2.ResetConsumerResponse:
    operations = _operations(proxy)
    consumer_id = request.consumer_id
    if consumer_id in {c.consumer_id for c in _view_consumers(proxy)}:
        raise BadRequest(
            f"{consumer_id} is a view's consumer: replaying into its rows would apply events "
            f"twice; rebuild the view instead (cloudstate admin rebuild {consumer_id})"
        )
    known = sorted(c.consumer_id for c in (proxy.eventing.consumers if proxy.eventing else []))
    if consumer_id not in known:
        raise NotFound(
            f"no eventing consumer {consumer_id!r} in this proxy (its consumers: "
            f"{', '.join(known) or 'none'}; cloudstate admin consumers lists them)"
        )
    where = request.WhichOneof("to")
    try:
        if where == "beginning" and request.beginning:
            position = await operations.reset_to_beginning(consumer_id)
        elif where == "time":
            position = await operations.reset_to_time(
                consumer_id, request.time.ToNanoseconds() / 1e9
            )
        elif where == "offset":
            position = await operations.reset_to_offset(consumer_id, request.offset)
        else:
            raise BadRequest(
                f"reset of {consumer_id}: say where to: beginning: true, a time or an offset"
            )
    except ValueError as error:
        raise BadRequest(str(error)) from error
    return admin_pb2.ResetConsumerResponse(
        consumer_id=consumer_id, offset=position.offset, generation=position.generation
    )


# -- view rebuilds ------------------------------------------------------------------------------


def _view_consumers(proxy: ProxyState) -> list[ViewConsumer]:
    return list(proxy.views.consumers) if proxy.views is not None else []


def _view_consumer(request: admin_pb2.RebuildViewRequest, proxy: ProxyState) -> ViewConsumer:
    consumers = _view_consumers(proxy)
    if request.consumer_id:
        found = [c for c in consumers if c.consumer_id == request.consumer_id]
        what = f"view consumer {request.consumer_id!r}"
    elif request.service and request.table:
        service = request.service
        found = [
            c
            for c in consumers
            if service in (c.view.name, c.view.name.rsplit(".", 1)[-1])
            and request.table in c.tables
        ]
        what = f"view {service} with a table {request.table!r}"
    else:
        raise BadRequest("RebuildView: give the view consumer_id, or the view's service and table")
    if not found:
        known = "; ".join(
            f"{c.consumer_id} ({c.view.name}: {', '.join(c.tables)})" for c in consumers
        )
        raise NotFound(f"no {what} in this proxy (its view consumers: {known or 'none'})")
    if len(found) > 1:
        ids = ", ".join(c.consumer_id for c in found)
        raise BadRequest(f"the {what} is updated by several consumers ({ids}): name one by its id")
    return found[0]


@operation("RebuildView")
async def rebuild_view(
    request: admin_pb2.RebuildViewRequest, proxy: ProxyState
) -> admin_pb2.RebuildViewResponse:
    ready(proxy)
    consumer = _view_consumer(request, proxy)
    assert proxy.views is not None  # a view consumer was found
    try:
        generation = await proxy.views.rebuild(consumer.consumer_id)
    except KeyError as error:
        raise NotFound(str(error.args[0])) from error
    except ValueError as error:
        raise BadRequest(str(error)) from error
    return admin_pb2.RebuildViewResponse(
        consumer_id=consumer.consumer_id, tables=consumer.tables, generation=generation
    )


@operation("ListViewRebuilds")
async def list_view_rebuilds(
    request: admin_pb2.ListViewRebuildsRequest, proxy: ProxyState
) -> admin_pb2.ListViewRebuildsResponse:
    ready(proxy)
    reply = admin_pb2.ListViewRebuildsResponse()
    for consumer in _view_consumers(proxy):
        status = await consumer.rebuild_status()
        rebuild = consumer.rebuild
        if status is None or rebuild is None:
            continue
        found = reply.rebuilds.add(
            consumer_id=consumer.consumer_id,
            view=consumer.view.name,
            tables=consumer.tables,
            generation=rebuild.rebuild_generation or 0,
            offset=status.committed_offset,
            head_offset=status.head_offset,
            pending=max(0, status.head_offset - status.committed_offset),
            lag_seconds=status.lag_seconds,
        )
        found.started.CopyFrom(timestamp(rebuild.created))
    return reply
