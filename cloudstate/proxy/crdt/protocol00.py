"""The earlier CRDT stream format (protocol 0.0), for user functions that report version 0.0.

The CRDT actor (:mod:`cloudstate.proxy.entities.crdt`) speaks the 0.2 messages. For a user
function on the earlier format, each entity stream gets a :class:`Stream00` that translates them
as they are written and read, on the same gRPC path (``/cloudstate.crdt.Crdt/handle``) with the
messages of ``cloudstate/crdt_v00.proto``::

    open_stream = stream_factory(channel, "0.0")   # "0.2": the generated stub's ``handle``
    call = open_stream()                             # writes and reads 0.2 messages
    await call.write(crdt_pb2.CrdtStreamIn(init=...))

What changes on the way (docs/protocol-versions.md):

* to the user function: ``init.delta`` (the whole value as a delta) becomes ``init.state`` (a
  full state); a ``delta`` becomes ``changed`` — or ``state`` when the user function holds no
  CRDT yet (its first value from another replica); ``delete``, ``command`` and
  ``stream_cancelled`` keep their content under their earlier numbers (4, 5, 6); ORMap ``added``
  entries carry full states;
* from the user function: ``state_action.create`` (a full state) becomes an ``update`` holding
  the whole value, which creates the proxy's CRDT; ``update``, ``delete`` and
  ``write_consistency`` move to their 0.2 numbers; an ORMap ``added`` entry (a full state)
  replaces the entry: it becomes ``removed`` plus ``added`` with the whole value. A ``create``
  for a CRDT the user function already holds is a protocol violation: it reaches the actor as a
  top-level ``failure`` naming it.

The translator of a stream is stateful (whether the user function holds a CRDT) and sees the
messages in stream order: grpc serializes a message when it is written and deserializes it when
it is read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from cloudstate.protocol import crdt_pb2, crdt_pb2_grpc, entity_pb2
from cloudstate.protocol import crdt_v00_pb2 as v00

#: The gRPC path of the CRDT stream, the same in both formats.
HANDLE_PATH = "/cloudstate.crdt.Crdt/handle"
#: The protocol versions whose CRDT format this proxy speaks.
CURRENT = "0.2"
EARLIER = "0.0"

StreamFactory = Callable[[], Any]


def stream_factory(channel: grpc.aio.Channel, version: str) -> StreamFactory:
    """A function opening one ``Crdt.handle`` stream that reads and writes 0.2 messages, for a
    user function speaking the CRDT format of protocol ``version`` (``"0.2"`` or ``"0.0"``)."""
    if version == CURRENT:
        handle: StreamFactory = crdt_pb2_grpc.CrdtStub(channel).handle
        return handle
    if version != EARLIER:
        raise ValueError(f"no CRDT stream format for protocol {version}")

    def open_earlier() -> Any:
        translator = Stream00()
        open_call: Any = channel.stream_stream(
            HANDLE_PATH,
            request_serializer=translator.encode_in,
            response_deserializer=translator.decode_out,
        )
        return open_call()  # no request iterator: the actor writes its messages itself

    return open_earlier


class Stream00:
    """Translates the messages of one entity stream to and from the earlier format."""

    def __init__(self) -> None:
        #: Whether the user function holds a CRDT (it got one in ``init``/``state``, or created
        #: one itself).
        self.holds_state = False

    # -- proxy -> user function -------------------------------------------------------------------

    def encode_in(self, message: crdt_pb2.CrdtStreamIn) -> bytes:
        return self.stream_in(message).SerializeToString()

    def stream_in(self, message: crdt_pb2.CrdtStreamIn) -> v00.CrdtStreamIn:
        out = v00.CrdtStreamIn()
        kind = message.WhichOneof("message")
        if kind == "init":
            init = message.init
            out.init.service_name = init.service_name
            out.init.entity_id = init.entity_id
            if init.HasField("delta"):
                out.init.state.CopyFrom(state_from_delta(init.delta))
                self.holds_state = True
        elif kind == "delta":
            if self.holds_state:
                out.changed.CopyFrom(delta_to_v00(message.delta))
            else:
                # The actor sends the whole value when the user function holds nothing.
                out.state.CopyFrom(state_from_delta(message.delta))
                self.holds_state = True
        elif kind == "delete":
            out.deleted.SetInParent()
            self.holds_state = False
        elif kind == "command":
            out.command.CopyFrom(message.command)
        elif kind == "stream_cancelled":
            out.stream_cancelled.CopyFrom(message.stream_cancelled)
        return out

    # -- user function -> proxy -------------------------------------------------------------------

    def decode_out(self, data: bytes) -> crdt_pb2.CrdtStreamOut:
        return self.stream_out(v00.CrdtStreamOut.FromString(data))

    def stream_out(self, message: v00.CrdtStreamOut) -> crdt_pb2.CrdtStreamOut:
        out = crdt_pb2.CrdtStreamOut()
        kind = message.WhichOneof("message")
        if kind == "reply":
            reply = message.reply
            out.reply.command_id = reply.command_id
            out.reply.streamed = reply.streamed
            if reply.HasField("client_action"):
                out.reply.client_action.CopyFrom(reply.client_action)
            out.reply.side_effects.extend(reply.side_effects)
            if reply.HasField("state_action"):
                problem = self._state_action(reply.state_action, out.reply.state_action)
                if problem is not None:
                    return _violation(f"reply to command {reply.command_id}: {problem}")
        elif kind == "streamed_message":
            out.streamed_message.CopyFrom(message.streamed_message)
        elif kind == "stream_cancelled_response":
            response = message.stream_cancelled_response
            out.stream_cancelled_response.command_id = response.command_id
            out.stream_cancelled_response.side_effects.extend(response.side_effects)
            if response.HasField("state_action"):
                target = out.stream_cancelled_response.state_action
                problem = self._state_action(response.state_action, target)
                if problem is not None:
                    return _violation(
                        f"response to the cancellation of {response.command_id}: {problem}"
                    )
        elif kind == "failure":
            out.failure.CopyFrom(message.failure)
        return out

    def _state_action(
        self, action: v00.CrdtStateAction, out: crdt_pb2.CrdtStateAction
    ) -> str | None:
        """Translate ``action`` into ``out``; a description of the violation if it is one."""
        out.write_consistency = action.write_consistency
        kind = action.WhichOneof("action")
        if kind == "create":
            if self.holds_state:
                return (
                    "state_action.create for a CRDT the user function already holds (protocol "
                    "0.0 creates a CRDT once, then sends update deltas)"
                )
            out.update.CopyFrom(delta_from_state(action.create))
            self.holds_state = True
        elif kind == "update":
            out.update.CopyFrom(delta_from_v00(action.update))
            self.holds_state = True
        elif kind == "delete":
            out.delete.SetInParent()
            self.holds_state = False
        else:
            out.SetInParent()  # present but empty, as the user function sent it
        return None


def _violation(description: str) -> crdt_pb2.CrdtStreamOut:
    return crdt_pb2.CrdtStreamOut(
        failure=entity_pb2.Failure(description=f"protocol 0.0 violation in the {description}")
    )


# -- whole values ---------------------------------------------------------------------------------


def state_from_delta(delta: crdt_pb2.CrdtDelta) -> v00.CrdtState:
    """The full state a *whole-value* delta stands for (as the actor sends in ``init``, to a user
    function holding nothing, and in ORMap ``added`` entries)."""
    state = v00.CrdtState()
    kind = delta.WhichOneof("delta")
    if kind == "gcounter":
        state.gcounter.value = delta.gcounter.increment
    elif kind == "pncounter":
        state.pncounter.value = delta.pncounter.change
    elif kind == "gset":
        state.gset.SetInParent()
        state.gset.items.extend(delta.gset.added)
    elif kind == "orset":
        state.orset.SetInParent()
        state.orset.items.extend(delta.orset.added)
    elif kind == "lwwregister":
        register = delta.lwwregister
        state.lwwregister.value.CopyFrom(register.value)
        state.lwwregister.clock = register.clock
        state.lwwregister.custom_clock_value = register.custom_clock_value
    elif kind == "flag":
        state.flag.value = delta.flag.value
    elif kind == "ormap":
        state.ormap.SetInParent()
        for entry in delta.ormap.added:
            state.ormap.entries.add(key=entry.key, value=state_from_delta(entry.delta))
    elif kind == "vote":
        vote = delta.vote
        state.vote.self_vote = vote.self_vote
        state.vote.votes_for = vote.votes_for
        state.vote.total_voters = vote.total_voters
    return state


def delta_from_state(state: v00.CrdtState) -> crdt_pb2.CrdtDelta:
    """A user function's full state as the delta that creates it from nothing."""
    delta = crdt_pb2.CrdtDelta()
    kind = state.WhichOneof("state")
    if kind == "gcounter":
        delta.gcounter.increment = state.gcounter.value
    elif kind == "pncounter":
        delta.pncounter.change = state.pncounter.value
    elif kind == "gset":
        delta.gset.SetInParent()
        delta.gset.added.extend(state.gset.items)
    elif kind == "orset":
        delta.orset.SetInParent()
        delta.orset.added.extend(state.orset.items)
    elif kind == "lwwregister":
        register = state.lwwregister
        delta.lwwregister.value.CopyFrom(register.value)
        delta.lwwregister.clock = register.clock
        delta.lwwregister.custom_clock_value = register.custom_clock_value
    elif kind == "flag":
        delta.flag.value = state.flag.value
    elif kind == "ormap":
        delta.ormap.SetInParent()
        for entry in state.ormap.entries:
            delta.ormap.added.add(key=entry.key, delta=delta_from_state(entry.value))
    elif kind == "vote":
        delta.vote.self_vote = state.vote.self_vote
    return delta


# -- deltas ---------------------------------------------------------------------------------------


def delta_to_v00(delta: crdt_pb2.CrdtDelta) -> v00.CrdtDelta:
    """A delta for the user function: as it is, but ORMap ``added`` entries (whole values) as
    full states."""
    if delta.WhichOneof("delta") != "ormap":
        return v00.CrdtDelta.FromString(delta.SerializeToString())  # the same fields
    out = v00.CrdtDelta()
    source, target = delta.ormap, out.ormap
    target.SetInParent()
    target.cleared = source.cleared
    target.removed.extend(source.removed)
    for entry in source.updated:
        target.updated.add(key=entry.key, delta=delta_to_v00(entry.delta))
    for entry in source.added:
        target.added.add(key=entry.key, value=state_from_delta(entry.delta))
    return out


def delta_from_v00(delta: v00.CrdtDelta) -> crdt_pb2.CrdtDelta:
    """A user function's delta in 0.2 terms: an ORMap ``added`` entry (a full state) replaces
    the entry, so its key is also ``removed`` (applied before ``added``)."""
    if delta.WhichOneof("delta") != "ormap":
        return crdt_pb2.CrdtDelta.FromString(delta.SerializeToString())  # the same fields
    out = crdt_pb2.CrdtDelta()
    source, target = delta.ormap, out.ormap
    target.SetInParent()
    target.cleared = source.cleared
    target.removed.extend(source.removed)
    for changed in source.updated:
        target.updated.add(key=changed.key, delta=delta_from_v00(changed.delta))
    for added in source.added:
        target.removed.append(added.key)
        target.added.add(key=added.key, delta=delta_from_state(added.value))
    return out
