"""The context passed to value-entity command handlers.

:class:`ValueEntityCommandContext` replaces or deletes the entity's state
(:meth:`~ValueEntityCommandContext.update_state`, :meth:`~ValueEntityCommandContext.delete_state`)
and, like every command context, fails the command, forwards it or adds side effects.
"""

from __future__ import annotations

from typing import Any, NoReturn

import grpc
from google.protobuf import any_pb2

from cloudstate.any_support import AnySupport, pack
from cloudstate.component.context import CommandContext
from cloudstate.protocol import entity_pb2


class ValueEntityCommandContext(CommandContext):
    """Passed to value-entity command handlers; valid only while the handler runs.

    Example (from ``examples/valueentity``)::

        @entity.command_handler("RemoveCart")
        def remove_cart(ctx: ValueEntityCommandContext) -> Empty:
            ctx.delete_state()
            return Empty()

    State changes take effect only if the command succeeds: the proxy stores the new state (or
    deletes it) before the client gets the reply. Several calls in one command collapse to the
    last one.
    """

    def __init__(
        self, entity_id: str, command: entity_pb2.Command, state: Any, any_support: AnySupport
    ) -> None:
        self._start_command(entity_id, command, any_support)
        self._state = state
        # None: unchanged; ("update", Any) or ("delete", None): the last requested change.
        self._change: tuple[str, any_pb2.Any | None] | None = None

    @property
    def state(self) -> Any:
        """The state as this command leaves it so far: the state the handler received, the value
        last given to :meth:`update_state`, or ``None`` after :meth:`delete_state`."""
        return self._state

    def update_state(self, state: Any) -> None:
        """Replace the entity's state with ``state`` (a protobuf message, or any value the SDK can
        serialize: ``str``, ``bytes``, ``int``, ``float``, ``bool``, JSON ``dict``/``list``).

        The proxy stores it before the client gets the reply; the next command receives it.
        """
        self._check_active("update_state")
        if state is None:
            raise TypeError(
                "ctx.update_state(None): use ctx.delete_state() to remove the entity's state"
            )
        self._change = ("update", pack(state))
        self._state = state

    def delete_state(self) -> None:
        """Delete the entity's state; the next command receives the initial state again."""
        self._check_active("delete_state")
        self._change = ("delete", None)
        self._state = None

    def fail(self, description: str, code: grpc.StatusCode | int | None = None) -> NoReturn:
        """Fail the command: the client gets an error with ``description``.

        Raises an exception that ends the handler. The stored state stays as it was (an earlier
        :meth:`update_state` or :meth:`delete_state` of this command is dropped), and so do
        forwards and side effects. ``code`` (e.g. ``grpc.StatusCode.NOT_FOUND``) is the gRPC
        status the client should see; by default the proxy chooses.
        """
        super().fail(description, code)
