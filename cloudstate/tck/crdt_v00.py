"""The CRDT proxy cases against a user function on the earlier CRDT format (protocol 0.0).

The cases state what they expect in 0.2 messages. When the TCK model user function reports
protocol 0.0, the relay records its CRDT streams in the earlier messages
(``cloudstate/crdt_v00.proto``), and each stream's expectations go through an
:class:`Expect00`, which says what the same exchange is in that format::

    expect = Expect00()
    expect(crdt_init(CRDT_MODEL, "c1"))                 # init without state
    expect(reply(1, gc(3), update=d_gcounter(3)))       # the first change: create { value: 3 }
    expect(reply(2, gc(4), update=d_gcounter(1)))       # then update { increment: 1 }

This module is the TCK's own reading of the documented format, independent of the proxy's
translation (``cloudstate.proxy.crdt.protocol00``), so a proxy is checked against the
documentation, not against itself. The model's side of it: a 0.0 user function holds no CRDT
until the proxy gives it one (``init.state``, ``state``) or a command first changes one — that
command's reply carries ``create`` with the whole new value (a vote as its only voter's tally);
ORMap entries it adds carry full states.
"""

from __future__ import annotations

from google.protobuf import any_pb2
from google.protobuf.internal.containers import RepeatedCompositeFieldContainer
from google.protobuf.message import Message

from cloudstate.protocol import crdt_pb2
from cloudstate.protocol import crdt_v00_pb2 as v00

#: What the relay records a 0.0 user function's CRDT streams with.
STREAM_IN = v00.CrdtStreamIn
STREAM_OUT = v00.CrdtStreamOut


def speaks_earlier_crdt(major: int, minor: int) -> bool:
    """Whether a user function reporting protocol ``major.minor`` speaks the earlier CRDT format
    (0.0; 0.1 was only ever a proxy's version, before the CRDT messages changed)."""
    return major == 0 and minor < 2


class Expect00:
    """Translates the expectations of one CRDT stream, in order (it follows whether the user
    function holds a CRDT)."""

    def __init__(self) -> None:
        self.holds_state = False

    def __call__(self, expected: Message) -> Message:
        if isinstance(expected, crdt_pb2.CrdtStreamIn):
            return self.stream_in(expected)
        if isinstance(expected, crdt_pb2.CrdtStreamOut):
            return self.stream_out(expected)
        return expected

    def stream_in(self, message: crdt_pb2.CrdtStreamIn) -> v00.CrdtStreamIn:
        out = v00.CrdtStreamIn()
        kind = message.WhichOneof("message")
        if kind == "init":
            out.init.service_name = message.init.service_name
            out.init.entity_id = message.init.entity_id
            if message.init.HasField("delta"):
                out.init.state.CopyFrom(_proxy_state(message.init.delta))
                self.holds_state = True
        elif kind == "delta":
            if self.holds_state:
                out.changed.CopyFrom(_delta(message.delta))
            else:
                out.state.CopyFrom(_proxy_state(message.delta))
                self.holds_state = True
        elif kind == "delete":
            out.deleted.SetInParent()
            self.holds_state = False
        elif kind == "command":
            out.command.CopyFrom(message.command)
        elif kind == "stream_cancelled":
            out.stream_cancelled.CopyFrom(message.stream_cancelled)
        return out

    def stream_out(self, message: crdt_pb2.CrdtStreamOut) -> v00.CrdtStreamOut:
        out = v00.CrdtStreamOut()
        kind = message.WhichOneof("message")
        if kind == "reply":
            reply = message.reply
            out.reply.command_id = reply.command_id
            out.reply.streamed = reply.streamed
            if reply.HasField("client_action"):
                out.reply.client_action.CopyFrom(reply.client_action)
            out.reply.side_effects.extend(reply.side_effects)
            if reply.HasField("state_action"):
                self._state_action(reply.state_action, out.reply.state_action)
        elif kind == "streamed_message":
            out.streamed_message.CopyFrom(message.streamed_message)
        elif kind == "stream_cancelled_response":
            response = message.stream_cancelled_response
            target = out.stream_cancelled_response
            target.command_id = response.command_id
            target.side_effects.extend(response.side_effects)
            if response.HasField("state_action"):
                self._state_action(response.state_action, target.state_action)
        elif kind == "failure":
            out.failure.CopyFrom(message.failure)
        return out

    def _state_action(self, action: crdt_pb2.CrdtStateAction, out: v00.CrdtStateAction) -> None:
        out.write_consistency = action.write_consistency
        kind = action.WhichOneof("action")
        if kind == "update":
            if self.holds_state:
                out.update.CopyFrom(_delta(action.update))
            else:
                out.create.CopyFrom(_created_state(action.update))
                self.holds_state = True
        elif kind == "delete":
            out.delete.SetInParent()
            self.holds_state = False
        else:
            out.SetInParent()


def _delta(delta: crdt_pb2.CrdtDelta) -> v00.CrdtDelta:
    """A delta in the earlier format: the same, but ORMap ``added`` entries are full states (of
    values the proxy sends whole)."""
    out = v00.CrdtDelta()
    kind = delta.WhichOneof("delta")
    if kind != "ormap":
        if kind is not None:
            getattr(out, kind).CopyFrom(getattr(delta, kind))  # the same message types
        return out
    ormap = out.ormap
    ormap.SetInParent()
    ormap.cleared = delta.ormap.cleared
    ormap.removed.extend(delta.ormap.removed)
    for entry in delta.ormap.updated:
        ormap.updated.add(key=entry.key, delta=_delta(entry.delta))
    for entry in delta.ormap.added:
        ormap.added.add(key=entry.key, value=_proxy_state(entry.delta))
    return out


def _proxy_state(delta: crdt_pb2.CrdtDelta) -> v00.CrdtState:
    """The full state a proxy's whole-value delta (init, first remote value, map entry) is."""
    return _state(delta, from_proxy=True)


def _created_state(delta: crdt_pb2.CrdtDelta) -> v00.CrdtState:
    """The full state a user function creates with the changes of ``delta`` (from nothing)."""
    return _state(delta, from_proxy=False)


def _state(delta: crdt_pb2.CrdtDelta, from_proxy: bool) -> v00.CrdtState:
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
        state.lwwregister.value.CopyFrom(delta.lwwregister.value)
        state.lwwregister.clock = delta.lwwregister.clock
        state.lwwregister.custom_clock_value = delta.lwwregister.custom_clock_value
    elif kind == "flag":
        state.flag.value = delta.flag.value
    elif kind == "vote":
        state.vote.self_vote = delta.vote.self_vote
        if from_proxy:  # the proxy's tally
            state.vote.votes_for = delta.vote.votes_for
            state.vote.total_voters = delta.vote.total_voters
        else:  # a new vote's only voter
            state.vote.votes_for = 1 if delta.vote.self_vote else 0
            state.vote.total_voters = 1
    elif kind == "ormap":
        state.ormap.SetInParent()
        for entry in delta.ormap.added:
            state.ormap.entries.add(key=entry.key, value=_state(entry.delta, from_proxy))
    return state


# -- canonical order ------------------------------------------------------------------------------


def _any_key(value: any_pb2.Any) -> tuple[str, bytes]:
    return value.type_url, bytes(value.value)


def sort_state(state: v00.CrdtState) -> None:
    kind = state.WhichOneof("state")
    if kind == "gset":
        _sort(state.gset.items)
    elif kind == "orset":
        _sort(state.orset.items)
    elif kind == "ormap":
        for entry in state.ormap.entries:
            sort_state(entry.value)
        entries = sorted(state.ormap.entries, key=lambda e: _any_key(e.key))
        copies = [v00.ORMapEntry(key=e.key, value=e.value) for e in entries]
        del state.ormap.entries[:]
        state.ormap.entries.extend(copies)


def sort_delta(delta: v00.CrdtDelta) -> None:
    kind = delta.WhichOneof("delta")
    if kind == "gset":
        _sort(delta.gset.added)
    elif kind == "orset":
        _sort(delta.orset.removed)
        _sort(delta.orset.added)
    elif kind == "ormap":
        _sort(delta.ormap.removed)
        for entry in delta.ormap.updated:
            sort_delta(entry.delta)
        updated = sorted(delta.ormap.updated, key=lambda e: _any_key(e.key))
        copies = [v00.ORMapEntryDelta(key=e.key, delta=e.delta) for e in updated]
        del delta.ormap.updated[:]
        delta.ormap.updated.extend(copies)
        for added in delta.ormap.added:
            sort_state(added.value)
        entries = sorted(delta.ormap.added, key=lambda e: _any_key(e.key))
        added_copies = [v00.ORMapEntry(key=e.key, value=e.value) for e in entries]
        del delta.ormap.added[:]
        delta.ormap.added.extend(added_copies)


def _sort(items: RepeatedCompositeFieldContainer[any_pb2.Any]) -> None:
    ordered = [any_pb2.Any(type_url=a.type_url, value=a.value) for a in sorted(items, key=_any_key)]
    del items[:]
    items.extend(ordered)


def sorted_00(message: Message) -> Message:
    """A copy of an earlier-format CRDT stream message with its unordered lists sorted."""
    copy = type(message)()
    copy.CopyFrom(message)
    if isinstance(copy, v00.CrdtStreamIn):
        kind = copy.WhichOneof("message")
        if kind == "init" and copy.init.HasField("state"):
            sort_state(copy.init.state)
        elif kind == "state":
            sort_state(copy.state)
        elif kind == "changed":
            sort_delta(copy.changed)
    elif isinstance(copy, v00.CrdtStreamOut):
        actions = []
        if copy.WhichOneof("message") == "reply" and copy.reply.HasField("state_action"):
            actions.append(copy.reply.state_action)
        response = copy.stream_cancelled_response
        if copy.WhichOneof("message") == "stream_cancelled_response":
            if response.HasField("state_action"):
                actions.append(response.state_action)
        for action in actions:
            if action.HasField("create"):
                sort_state(action.create)
            elif action.HasField("update"):
                sort_delta(action.update)
    return copy
