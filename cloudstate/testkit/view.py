"""Test kit for views: feed events to a view's update handlers in-process and look at its rows.

::

    from cloudstate.testkit import ViewTestKit

    kit = ViewTestKit(popular_products)
    kit.apply(ItemAdded(item=LineItem(product_id="apple", name="Apple", quantity=3)), subject="a")
    kit.apply(ItemAdded(item=LineItem(product_id="apple", name="Apple", quantity=2)), subject="b")
    assert kit.row("products", "apple").quantity == 5

Each event goes to the update method taking its type, with the current row of its key (the
method's ``key`` field of the event, else ``subject``: the entity id), exactly as the proxy calls
it; the returned row replaces the stored one, ``DELETE`` removes it, ``None`` keeps it. Methods
with ``transform_updates: false`` store the event itself. Queries run only in the proxy: test them
end to end with :class:`~cloudstate.testkit.LocalService`.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from cloudstate import view_pb2
from cloudstate.testkit.action import ActionTestKit
from cloudstate.view.entity import ROW_METADATA, View


class ViewTestKit:
    """Applies events to one view's tables in memory (see the module documentation)."""

    def __init__(self, view: View) -> None:
        if not isinstance(view, View):
            raise TypeError(f"ViewTestKit needs a View, not {view!r}")
        self.view = view
        self._actions = ActionTestKit(view)
        #: table -> row key -> row message.
        self.tables: dict[str, dict[str, Any]] = {}
        self._updates: dict[str, tuple[str, Any]] = {}  # input type -> (method, update option)
        for method in view.service_descriptor.methods:
            options = method.GetOptions()
            extension: Any = view_pb2.view
            if options.HasExtension(extension) and options.Extensions[extension].HasField("update"):
                update = options.Extensions[extension].update
                self._updates[method.input_type.full_name] = (method.name, update)

    def row(self, table: str, key: str) -> Any:
        """The row of ``key`` in ``table``, or None."""
        return self.tables.get(table, {}).get(key)

    def rows(self, table: str) -> dict[str, Any]:
        """Every row of ``table`` by key."""
        return dict(self.tables.get(table, {}))

    def apply(self, event: Message, *, subject: str = "", metadata: Any = None) -> Any:
        """Apply one event (or state, or topic message); returns the table's new row for its key
        (None if it was deleted or never existed)."""
        found = self._updates.get(event.DESCRIPTOR.full_name)
        if found is None:
            known = ", ".join(sorted(self._updates)) or "none"
            raise ValueError(
                f"view {self.view.name} has no update method taking "
                f"{event.DESCRIPTOR.full_name} (it takes: {known})"
            )
        name, update = found
        key = subject
        if update.key:
            value: Any = event
            for part in update.key.split("."):
                value = getattr(value, part)
            key = str(value)
        table = self.tables.setdefault(update.table, {})
        if not update.transform_updates:
            table[key] = event
            return event
        entries: dict[str, str | bytes] = dict(metadata or {})
        entries["cloudstate-view-table"] = update.table
        if key in table:
            entries[ROW_METADATA] = table[key].SerializeToString()
        result = self._actions.call(name, event, metadata=entries)
        if result.failure is not None:
            raise AssertionError(f"{self.view.name}.{name} failed: {result.failure}")
        reply = result.reply
        if reply is None:
            return table.get(key)
        if isinstance(reply, Message) and reply.DESCRIPTOR.full_name == "google.protobuf.Empty":
            table.pop(key, None)
            return None
        table[key] = reply
        return reply
