"""Views: tables the proxy keeps up to date from events or topic messages, queried with SQL-like
``(cloudstate.view).query`` options (docs/views.md).

The proxy answers the queries itself and stores the rows. The user function only implements the
update methods whose ``(cloudstate.view).update`` sets ``transform_updates: true``: each gets an
event (or message) and the table's current row for it (None if there is none yet) and returns the
new row, :data:`DELETE` to delete the row, or None to leave it unchanged. Example
(``examples/shoppingcart_views``)::

    view = View(views_pb2.DESCRIPTOR.services_by_name["PopularProducts"], [views_pb2.DESCRIPTOR])

    @view.update_handler("OnItemAdded")
    def item_added(event: ItemAdded, row: ProductPopularity | None) -> ProductPopularity:
        row = row or ProductPopularity(product_id=event.item.product_id, name=event.item.name)
        row.quantity += event.item.quantity
        return row

    CloudState().register_view(view).start()

On the wire a view is an action (so the proxy needs nothing but protocol 0.2): the proxy calls the
update method with the event as the request and the current row in the metadata entry
``cloudstate-view-row`` (bytes); the reply is the new row, ``google.protobuf.Empty`` deletes it,
no reply leaves it unchanged.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from google.protobuf import any_pb2, message_factory
from google.protobuf.descriptor import FileDescriptor, ServiceDescriptor

from cloudstate.action.context import NO_REPLY, ActionContext
from cloudstate.action.entity import Action
from cloudstate.component.replies import PackedReply

F = TypeVar("F", bound=Callable[..., Any])

#: The metadata entry with the current row's bytes (absent when the row does not exist yet).
ROW_METADATA = "cloudstate-view-row"


class _Delete:
    def __repr__(self) -> str:
        return "DELETE"


#: Return this from an update handler to delete the row.
DELETE: Any = _Delete()

_DELETE_REPLY = PackedReply(any_pb2.Any(type_url="type.googleapis.com/google.protobuf.Empty"))


class View(Action):
    """A view service: ``View(service_descriptor, [file_descriptors])``; reported to the proxy as
    an action. Query methods need no handler (the proxy answers them)."""

    KIND_NAME = "view"

    def __init__(
        self, service_descriptor: ServiceDescriptor, file_descriptors: Sequence[FileDescriptor] = ()
    ) -> None:
        super().__init__(service_descriptor, file_descriptors)
        self.update_methods: set[str] = set()

    def update_handler(self, name: str) -> Callable[[F], F]:
        """Register the handler of the update method ``name``: called as
        ``handler(event, row)`` or ``handler(event, row, ctx)`` (``def`` or ``async def``); returns
        the new row, :data:`DELETE`, or None (row unchanged)."""
        method = self._method(name)
        row_class = message_factory.GetMessageClass(method.output_type)
        register = self.unary(name)

        def decorate(function: F) -> F:
            positional = [
                p
                for p in inspect.signature(function).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            ]
            if len(positional) not in (2, 3):
                raise TypeError(
                    f"update handler {function.__qualname__} for {self.name}.{name} must take "
                    "(event, row) or (event, row, ctx)"
                )
            with_context = len(positional) == 3

            def arguments(event: Any, ctx: ActionContext) -> tuple[Any, ...]:
                raw = ctx.metadata.get(ROW_METADATA)
                row = row_class.FromString(raw) if isinstance(raw, bytes) else None
                return (event, row, ctx) if with_context else (event, row)

            if inspect.iscoroutinefunction(function):

                async def update_async(event: Any, ctx: ActionContext) -> Any:
                    return _reply(await function(*arguments(event, ctx)))

                register(update_async)
            else:

                def update(event: Any, ctx: ActionContext) -> Any:
                    return _reply(function(*arguments(event, ctx)))

                register(update)
            self.update_methods.add(name)
            return function

        return decorate

    def validate(self) -> None:
        """Query methods are answered by the proxy: only update methods need handlers."""


def _reply(result: Any) -> Any:
    if result is DELETE:
        return _DELETE_REPLY
    if result is None:
        return NO_REPLY
    return result


__all__ = ["DELETE", "ROW_METADATA", "View"]
