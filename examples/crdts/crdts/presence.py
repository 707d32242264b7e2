"""Presence: who is online in a room. One CRDT entity per room, holding an
:class:`~cloudstate.crdt.ORSet` of open connections (``Connection`` messages).

``Connect`` is a streamed command that adds the caller's connection and registers an
``on_cancel`` callback removing it: when the client cancels the call or simply goes away, the proxy
tells the user function, the connection leaves the set, and every ``Monitor`` (and every other
``Connect``) stream hears of it. Each call adds its own connection (a fresh id), so a user with two
open connections stays online until both are gone — and because an ORSet removal only removes what
it has seen, concurrent joins and leaves on different proxy nodes cannot drop each other.
"""

from __future__ import annotations

import uuid

from cloudstate import CrdtCommandContext, CrdtEntity, ORSet
from crdts.presence_pb2 import _PRESENCE, Connection, ConnectRequest, OnlineUsers, RoomRequest

#: The entity: a new room is empty.
entity = CrdtEntity(_PRESENCE, [], ORSet, persistence_id="presence")


def online(room: str, connections: ORSet) -> OnlineUsers:
    """The users with at least one open connection, sorted."""
    return OnlineUsers(room=room, users=sorted({c.user for c in connections}))


@entity.command_handler("Connect")
def connect(connections: ORSet, request: ConnectRequest, ctx: CrdtCommandContext) -> OnlineUsers:
    if not request.user:
        ctx.fail(f"Connect to room {request.room!r}: say who you are (the user field is empty)")
    if not ctx.streamed:
        ctx.fail("Connect is a streamed call: keep it open for as long as you are online")
    mine = Connection(user=request.user, connection_id=uuid.uuid4().hex)
    connections.add(mine)
    last = online(request.room, connections)

    @ctx.on_change
    def changed(connections: ORSet) -> OnlineUsers | None:
        nonlocal last
        now = online(request.room, connections)
        if now == last:
            return None  # someone opened or closed a second connection: nothing to tell
        last = now
        return now

    @ctx.on_cancel
    def left(connections: ORSet) -> None:
        connections.discard(mine)

    return last


@entity.command_handler("Online")
def who_is_online(connections: ORSet, request: RoomRequest) -> OnlineUsers:
    return online(request.room, connections)


@entity.command_handler("Monitor")
def monitor(connections: ORSet, request: RoomRequest, ctx: CrdtCommandContext) -> OnlineUsers:
    last = online(request.room, connections)
    if ctx.streamed:

        @ctx.on_change
        def changed(connections: ORSet) -> OnlineUsers | None:
            nonlocal last
            now = online(request.room, connections)
            if now == last:
                return None
            last = now
            return now

    return last
