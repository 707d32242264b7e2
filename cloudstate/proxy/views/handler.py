"""Serves the query methods of a view service from the store (the user function is not called).

The router gives every call of a view service to a :class:`ViewHandler`, which wraps the service's
action handler: query methods run here, other methods go to the user function, and update
methods are refused to clients (only the view's consumer calls them). Example::

    handler = ViewHandler(action_handler, view, store)
    outcome = await handler.handle(method, "", request_bytes, metadata)   # a query's reply
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import grpc
from google.protobuf import any_pb2

from cloudstate.protocol import entity_pb2
from cloudstate.proxy.entities.base import EntityHandler, Outcome
from cloudstate.proxy.errors import ProxyError
from cloudstate.proxy.model import MethodModel
from cloudstate.proxy.stores.base import Store, StoreError, ViewSelect
from cloudstate.proxy.views.model import REPEATED, SINGLE, QueryMethod, ViewService
from cloudstate.proxy.views.paging import Paging


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _repeated(query: QueryMethod, rows: list[bytes]) -> bytes:
    """The rows as the response's repeated field."""
    assert query.results_field is not None
    tag = _varint(query.results_field.number << 3 | 2)
    return b"".join(tag + _varint(len(row)) + row for row in rows)


def _reply(method: MethodModel, payload: bytes) -> Outcome:
    reply = entity_pb2.Reply(payload=any_pb2.Any(type_url=method.output_type_url, value=payload))
    return Outcome(entity_pb2.ClientAction(reply=reply))


class ViewHandler:
    """The handler of one view service (see the module doc)."""

    def __init__(self, inner: EntityHandler, view: ViewService, store: Store) -> None:
        self.inner = inner
        self.view = view
        self.store = store

    async def rows(self, query: QueryMethod, payload: bytes) -> list[bytes]:
        """The payloads of the rows the query selects for one request."""
        select = query.compiled.bind(query.method.parse(payload))
        if query.mode == SINGLE and (select.limit is None or select.limit > 1):
            select = replace(select, limit=1)
        return await self._select(query, select)

    async def page(self, query: QueryMethod, paging: Paging, payload: bytes) -> bytes:
        """The response of a query paged with tokens: the page's rows and the next page's token
        (fetching one row more than the page tells whether there is a next page)."""
        request = query.method.parse(payload)
        offset = paging.offset_of(request)
        select = query.compiled.bind(request)
        size = select.limit
        fetch = None if size is None else size + 1
        rows = await self._select(query, replace(select, limit=fetch, offset=offset))
        token = ""
        if size is not None and len(rows) > size:
            rows = rows[:size]
            token = paging.token_for(request, offset + size)
        body = _repeated(query, rows)
        if token:
            data = token.encode()
            tag = _varint(paging.next_token_field.number << 3 | 2)
            body += tag + _varint(len(data)) + data
        return body

    async def _select(self, query: QueryMethod, select: ViewSelect) -> list[bytes]:
        method = query.method
        table_id = self.view.table_id(query.compiled.layout.name)
        try:
            return await self.store.query_view(table_id, select)
        except StoreError as error:
            raise ProxyError(
                f"view query {method.service.name}.{method.name} failed: {error}",
                grpc.StatusCode.UNAVAILABLE,
            ) from error

    async def handle(
        self,
        method: MethodModel,
        entity_id: str,
        payload: bytes,
        metadata: entity_pb2.Metadata | None,
    ) -> Outcome:
        query = self.view.queries.get(method.name)
        if query is None:
            self._refuse_update(method)
            return await self.inner.handle(method, entity_id, payload, metadata)
        if query.paging is not None:
            return _reply(method, await self.page(query, query.paging, payload))
        rows = await self.rows(query, payload)
        if query.mode == SINGLE:
            if not rows:
                raise ProxyError(
                    f"{method.service.name}.{method.name}: no row matches the request",
                    grpc.StatusCode.NOT_FOUND,
                )
            return _reply(method, rows[0])
        if query.mode == REPEATED:
            return _reply(method, _repeated(query, rows))
        # A server-streamed query called as unary (e.g. over HTTP without streaming): first row.
        return _reply(method, rows[0] if rows else b"")

    async def handle_streamed(
        self,
        method: MethodModel,
        entity_id: str,
        requests: bytes | AsyncIterator[bytes],
        metadata: entity_pb2.Metadata | None,
    ) -> AsyncIterator[Outcome]:
        query = self.view.queries.get(method.name)
        if query is None:
            self._refuse_update(method)
            handle_streamed = getattr(self.inner, "handle_streamed")  # noqa: B009
            async for outcome in handle_streamed(method, entity_id, requests, metadata):
                yield outcome
            return
        assert isinstance(requests, bytes)  # queries are never client-streaming
        for row in await self.rows(query, requests):
            yield _reply(method, row)

    def _refuse_update(self, method: MethodModel) -> None:
        if method.name in self.view.updates:
            raise ProxyError(
                f"{method.service.name}.{method.name} updates view table "
                f"{self.view.updates[method.name].table!r}: only its event source calls it",
                grpc.StatusCode.PERMISSION_DENIED,
            )

    async def close(self) -> None:
        await self.inner.close()
