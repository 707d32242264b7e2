"""Admin operations on entities: the services, their entity ids (paged), one entity decoded.

Example (HTTP)::

    GET /v1/services
    GET /v1/services/ShoppingCart/entities?prefix=a&page_size=50
    GET /v1/services/ShoppingCart/entities/alice?limit=20
    DELETE /v1/services/ShoppingCart/entities/alice
"""

from __future__ import annotations

import base64
import binascii
import time

from cloudstate.protocol import admin_pb2
from cloudstate.proxy.admin.decode import PayloadDecoder, timestamp
from cloudstate.proxy.admin.operations import (
    NotFound,
    ProxyState,
    Refused,
    bounded,
    operation,
    ready,
)
from cloudstate.proxy.durations import parse_age
from cloudstate.proxy.entities.deletion import delete_entity
from cloudstate.proxy.errors import BadRequest
from cloudstate.proxy.model import (
    ACTION,
    CRDT,
    EVENT_SOURCED,
    VALUE_ENTITY,
    WORKFLOW,
    ServiceModel,
)
from cloudstate.proxy.stores.base import Store

#: CRDT entities are stored under this prefix of their persistence id (entities/crdt.py).
CRDT_STORE_PREFIX = "crdt:"
KINDS = {
    EVENT_SOURCED: "event-sourced",
    VALUE_ENTITY: "value",
    CRDT: "crdt",
    ACTION: "action",
    WORKFLOW: "workflow",
}
PAGE_SIZE, MAX_PAGE_SIZE = 100, 1000
EVENTS, MAX_EVENTS = 100, 10_000


def kind_of(service: ServiceModel, proxy: ProxyState) -> str:
    if proxy.views is not None and service.name in proxy.views.services:
        return "view"
    return KINDS.get(service.entity_type, service.entity_type)


def find_service(proxy: ProxyState, name: str) -> ServiceModel:
    """The stateful service ``name`` names: its full name, its last part or its persistence id;
    NotFound naming the services there are."""
    _, model = ready(proxy)
    stateful = [
        s
        for s in model.services.values()
        if kind_of(s, proxy) in ("event-sourced", "value", "crdt")
    ]
    for matches in (
        [s for s in stateful if s.name == name],
        [s for s in stateful if s.name.rsplit(".", 1)[-1] == name],
        [s for s in stateful if s.persistence_id == name],
    ):
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise BadRequest(
                f"service {name!r} is ambiguous: {', '.join(s.name for s in matches)}; "
                "give the full name"
            )
    known = ", ".join(s.name for s in stateful) or "none"
    raise NotFound(f"no entity service {name!r} (the entity services are: {known})")


def store_id(service: ServiceModel) -> str:
    """Where the service's entities are stored (CRDTs under ``crdt:<persistence id>``)."""
    if service.entity_type == CRDT:
        return CRDT_STORE_PREFIX + service.persistence_id
    return service.persistence_id


@operation("ListServices")
async def list_services(
    request: admin_pb2.ListServicesRequest, proxy: ProxyState
) -> admin_pb2.ListServicesResponse:
    _, model = ready(proxy)
    reply = admin_pb2.ListServicesResponse()
    for service in model.services.values():
        kind = kind_of(service, proxy)
        stateful = kind in ("event-sourced", "value", "crdt")
        reply.services.add(
            name=service.name,
            kind=kind,
            persistence_id=service.persistence_id if stateful else "",
        )
    return reply


def page_token(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode("utf-8", "surrogatepass")).decode("ascii")


def after_token(token: str) -> str:
    """The last entity id of the previous page, from its ``next_page_token``."""
    if not token:
        return ""
    try:
        raw = base64.b64decode(token.encode("ascii"), altchars=b"-_", validate=True)
        if not raw:
            raise ValueError("empty")
        return raw.decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise BadRequest(
            f"page_token {token!r} is not one this API gave: pass next_page_token of the "
            "previous page unchanged"
        ) from None


@operation("ListEntities")
async def list_entities(
    request: admin_pb2.ListEntitiesRequest, proxy: ProxyState
) -> admin_pb2.ListEntitiesResponse:
    store, _ = ready(proxy)
    service = find_service(proxy, request.service)
    size = bounded(request.page_size, PAGE_SIZE, MAX_PAGE_SIZE, "page_size")
    ids = await store.list_entity_ids(
        store_id(service),
        prefix=request.prefix,
        after=after_token(request.page_token),
        limit=size + 1,  # one more tells whether there is a next page
    )
    reply = admin_pb2.ListEntitiesResponse(service=service.name, entity_ids=ids[:size])
    if len(ids) > size:
        reply.next_page_token = page_token(ids[size - 1])
    return reply


@operation("GetEntity")
async def get_entity(request: admin_pb2.GetEntityRequest, proxy: ProxyState) -> admin_pb2.Entity:
    store, model = ready(proxy)
    service = find_service(proxy, request.service)
    if not request.entity_id:
        raise BadRequest(f"GetEntity of {service.name}: give the entity_id")
    limit = bounded(request.limit, EVENTS, MAX_EVENTS, "limit")
    decoder = PayloadDecoder(model.pool)
    reply = admin_pb2.Entity(
        service=service.name, entity_id=request.entity_id, kind=kind_of(service, proxy)
    )
    if service.entity_type == EVENT_SOURCED:
        await _journal(store, service, request.entity_id, limit, decoder, reply)
    else:
        stored = await store.load_value(store_id(service), request.entity_id)
        if stored is not None:
            type_name, data = decoder.decode(stored.payload)
            reply.value.CopyFrom(
                admin_pb2.Value(version=stored.version, type=type_name, data=decoder.value(data))
            )
            reply.found = True
    handler = proxy.handlers.get(service.name)
    is_active = getattr(handler, "is_active", None)
    reply.active = bool(is_active is not None and is_active(request.entity_id))
    return reply


async def _journal(
    store: Store,
    service: ServiceModel,
    entity_id: str,
    limit: int,
    decoder: PayloadDecoder,
    reply: admin_pb2.Entity,
) -> None:
    pid = service.persistence_id
    snapshot = await store.load_snapshot(pid, entity_id)
    if snapshot is not None:
        type_name, data = decoder.decode(snapshot.payload)
        reply.snapshot.CopyFrom(
            admin_pb2.Snapshot(sequence=snapshot.sequence, type=type_name, data=decoder.value(data))
        )
        reply.found = True
    highest = await store.highest_sequence(pid, entity_id)
    reply.events_total = highest
    if not highest:
        return
    reply.found = True
    async for event in store.read_events(pid, entity_id, max(0, highest - limit)):
        type_name, data = decoder.decode(event.payload)
        added = reply.events.add(sequence=event.sequence, type=type_name, data=decoder.value(data))
        if event.timestamp:
            added.time.CopyFrom(timestamp(event.timestamp))


@operation("DeleteEntity")
async def delete_entity_operation(
    request: admin_pb2.DeleteEntityRequest, proxy: ProxyState
) -> admin_pb2.DeleteEntityResponse:
    """An event-sourced entity's tombstone now, its events purged after ``--deletion-grace``
    (:func:`~cloudstate.proxy.entities.deletion.delete_entity`)."""
    store, _ = ready(proxy)
    service = find_service(proxy, request.service)
    if not request.entity_id:
        raise BadRequest(f"DeleteEntity of {service.name}: give the entity_id")
    if service.entity_type != EVENT_SOURCED:
        raise Refused(
            f"DeleteEntity of {service.name}/{request.entity_id}: only event-sourced entities "
            f"can be deleted, {service.name} is a {kind_of(service, proxy)} service"
        )
    grace = parse_age(proxy.config.deletion_grace, "--deletion-grace", "purges at once")
    now = time.time()
    try:
        sequence = await delete_entity(store, service.persistence_id, request.entity_id, grace)
    except LookupError:
        raise NotFound(
            f"entity {request.entity_id!r} of {service.name} has no events: nothing to delete "
            f"(list them: cloudstate admin entities {service.name})"
        ) from None
    if proxy.scheduler is not None:
        proxy.scheduler.notify(now + grace)  # the purge runs when due, not at the next poll
    reply = admin_pb2.DeleteEntityResponse(
        service=service.name, entity_id=request.entity_id, tombstone_sequence=sequence
    )
    reply.purge_at.CopyFrom(timestamp(now + grace))
    return reply
