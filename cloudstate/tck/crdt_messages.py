"""Builders for the CRDT protocol messages and the CRDT model's requests and states.

Short names, because the CRDT cases use them densely::

    reply(2, gc(48), update=d_gcounter(6))          # CrdtStreamOut{reply{...}}
    Cmd(u_gc(1), u_gc(2), u_gc(3), state=gc(48), update=d_gcounter(6))

Element and key values are Cloudstate string primitives (``p.cloudstate.io/string``), as the
model prescribes. :func:`sorted_crdt` puts the unordered lists (set elements, map entries) of
deltas in a canonical order, so that comparisons do not depend on it.
"""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf import any_pb2
from google.protobuf.message import Message

from cloudstate.protocol import crdt_pb2, entity_pb2
from cloudstate.tck.messages import any_message, command, forward, primitive_string, side_effect
from cloudstate.tck.model import crdt_pb2 as m

CRDT_MODEL = "cloudstate.tck.model.crdt.CrdtTckModel"
CRDT_TWO = "cloudstate.tck.model.crdt.CrdtTwo"
CRDT_CONFIGURED = "cloudstate.tck.model.crdt.CrdtConfigured"

S = primitive_string

# -- model requests --------------------------------------------------------------------------------


def update(write_consistency: int = 0, **kind: Message) -> m.RequestAction:
    return m.RequestAction(update=m.Update(write_consistency=write_consistency, **kind))  # type: ignore[arg-type]


def u_gc(increment: int, write_consistency: int = 0) -> m.RequestAction:
    return update(write_consistency, gcounter=m.GCounterUpdate(increment=increment))


def u_pn(change: int) -> m.RequestAction:
    return update(pncounter=m.PNCounterUpdate(change=change))


def u_gset(element: str) -> m.RequestAction:
    return update(gset=m.GSetUpdate(add=element))


def u_orset_add(element: str) -> m.RequestAction:
    return update(orset=m.ORSetUpdate(add=element))


def u_orset_remove(element: str) -> m.RequestAction:
    return update(orset=m.ORSetUpdate(remove=element))


def u_orset_clear() -> m.RequestAction:
    return update(orset=m.ORSetUpdate(clear=True))


def u_lww(value: str, clock: int = 0, custom: int = 0) -> m.RequestAction:
    return update(
        lwwregister=m.LWWRegisterUpdate(
            value=value,
            clock=m.LWWRegisterClock(clockType=clock, customClockValue=custom),  # type: ignore[arg-type]
        )
    )


def u_flag() -> m.RequestAction:
    return update(flag=m.FlagUpdate())


def u_vote(vote: bool) -> m.RequestAction:
    return update(vote=m.VoteUpdate(self_vote=vote))


def u_ormap_add(key: str) -> m.RequestAction:
    return update(ormap=m.ORMapUpdate(add=key))


def u_ormap_update(key: str, action: m.RequestAction) -> m.RequestAction:
    """Apply ``action`` (an update action) to the value of ``key``."""
    return update(ormap=m.ORMapUpdate(update=m.ORMapEntryUpdate(key=key, update=action.update)))


def u_ormap_remove(key: str) -> m.RequestAction:
    return update(ormap=m.ORMapUpdate(remove=key))


def u_ormap_clear() -> m.RequestAction:
    return update(ormap=m.ORMapUpdate(clear=True))


def a_delete() -> m.RequestAction:
    return m.RequestAction(delete=m.Delete())


def a_forward(target_id: str) -> m.RequestAction:
    return m.RequestAction(forward=m.Forward(id=target_id))


def a_effect(target_id: str, synchronous: bool = False) -> m.RequestAction:
    return m.RequestAction(effect=m.Effect(id=target_id, synchronous=synchronous))


def a_fail(message: str) -> m.RequestAction:
    return m.RequestAction(fail=m.Fail(message=message))


# -- model states ---------------------------------------------------------------------------------


def gc(value: int) -> m.State:
    return m.State(gcounter=m.GCounterValue(value=value))


def pn(value: int) -> m.State:
    return m.State(pncounter=m.PNCounterValue(value=value))


def gs(*elements: str) -> m.State:
    return m.State(gset=m.GSetValue(elements=sorted(elements)))


def ors(*elements: str) -> m.State:
    return m.State(orset=m.ORSetValue(elements=sorted(elements)))


def lww(value: str) -> m.State:
    return m.State(lwwregister=m.LWWRegisterValue(value=value))


def flag(value: bool) -> m.State:
    return m.State(flag=m.FlagValue(value=value))


def vote(self_vote: bool, votes_for: int, total: int) -> m.State:
    return m.State(vote=m.VoteValue(self_vote=self_vote, votes_for=votes_for, total_voters=total))


def ormap(**entries: m.State) -> m.State:
    """A map state; keys use ``_`` for ``-`` (``PNCounter_1`` is ``PNCounter-1``)."""
    return ormap_of([(key.replace("_", "-"), value) for key, value in entries.items()])


def ormap_of(entries: Sequence[tuple[str, m.State]]) -> m.State:
    return m.State(
        ormap=m.ORMapValue(entries=[m.ORMapEntryValue(key=k, value=v) for k, v in sorted(entries)])
    )


# -- deltas ---------------------------------------------------------------------------------------


def d_gcounter(increment: int) -> crdt_pb2.CrdtDelta:
    return crdt_pb2.CrdtDelta(gcounter=crdt_pb2.GCounterDelta(increment=increment))


def d_pncounter(change: int) -> crdt_pb2.CrdtDelta:
    return crdt_pb2.CrdtDelta(pncounter=crdt_pb2.PNCounterDelta(change=change))


def d_gset(*added: str) -> crdt_pb2.CrdtDelta:
    return crdt_pb2.CrdtDelta(gset=crdt_pb2.GSetDelta(added=[S(x) for x in added]))


def d_orset(
    *, cleared: bool = False, removed: Sequence[str] = (), added: Sequence[str] = ()
) -> crdt_pb2.CrdtDelta:
    return crdt_pb2.CrdtDelta(
        orset=crdt_pb2.ORSetDelta(
            cleared=cleared, removed=[S(x) for x in removed], added=[S(x) for x in added]
        )
    )


def d_lww(value: str, clock: int = 0, custom: int = 0) -> crdt_pb2.CrdtDelta:
    return crdt_pb2.CrdtDelta(
        lwwregister=crdt_pb2.LWWRegisterDelta(
            value=S(value),
            clock=clock,  # type: ignore[arg-type]
            custom_clock_value=custom,
        )
    )


def d_flag(value: bool) -> crdt_pb2.CrdtDelta:
    return crdt_pb2.CrdtDelta(flag=crdt_pb2.FlagDelta(value=value))


def d_vote(self_vote: bool, votes_for: int = 0, total: int = 0) -> crdt_pb2.CrdtDelta:
    return crdt_pb2.CrdtDelta(
        vote=crdt_pb2.VoteDelta(self_vote=self_vote, votes_for=votes_for, total_voters=total)
    )


def d_ormap(
    *,
    cleared: bool = False,
    removed: Sequence[str] = (),
    updated: Sequence[tuple[str, crdt_pb2.CrdtDelta]] = (),
    added: Sequence[tuple[str, crdt_pb2.CrdtDelta]] = (),
) -> crdt_pb2.CrdtDelta:
    return crdt_pb2.CrdtDelta(
        ormap=crdt_pb2.ORMapDelta(
            cleared=cleared,
            removed=[S(k) for k in removed],
            updated=[crdt_pb2.ORMapEntryDelta(key=S(k), delta=d) for k, d in updated],
            added=[crdt_pb2.ORMapEntryDelta(key=S(k), delta=d) for k, d in added],
        )
    )


# -- protocol messages ----------------------------------------------------------------------------


def crdt_init(
    service: str, entity_id: str, delta: crdt_pb2.CrdtDelta | None = None
) -> crdt_pb2.CrdtStreamIn:
    init = crdt_pb2.CrdtInit(service_name=service, entity_id=entity_id)
    if delta is not None:
        init.delta.CopyFrom(delta)
    return crdt_pb2.CrdtStreamIn(init=init)


def crdt_delta(delta: crdt_pb2.CrdtDelta) -> crdt_pb2.CrdtStreamIn:
    return crdt_pb2.CrdtStreamIn(delta=delta)


def crdt_delete() -> crdt_pb2.CrdtStreamIn:
    return crdt_pb2.CrdtStreamIn(delete=crdt_pb2.CrdtDelete())


def crdt_command(
    command_id: int, entity_id: str, payload: Message, name: str = "Process", streamed: bool = False
) -> crdt_pb2.CrdtStreamIn:
    return crdt_pb2.CrdtStreamIn(
        command=command(command_id, entity_id, name, payload, streamed=streamed)
    )


def crdt_stream_cancelled(entity_id: str, command_id: int) -> crdt_pb2.CrdtStreamIn:
    return crdt_pb2.CrdtStreamIn(
        stream_cancelled=entity_pb2.StreamCancelled(entity_id=entity_id, id=command_id)
    )


def response(state: m.State | None) -> any_pb2.Any:
    return any_message(m.Response(state=state) if state is not None else m.Response())


def state_action(
    update: crdt_pb2.CrdtDelta | None = None, delete: bool = False, write_consistency: int = 0
) -> crdt_pb2.CrdtStateAction | None:
    if update is None and not delete:
        return None
    action = crdt_pb2.CrdtStateAction(write_consistency=write_consistency)  # type: ignore[arg-type]
    if delete:
        action.delete.SetInParent()
    elif update is not None:
        action.update.CopyFrom(update)
    return action


def reply(
    command_id: int,
    state: m.State | None = None,
    *,
    update: crdt_pb2.CrdtDelta | None = None,
    delete: bool = False,
    write_consistency: int = 0,
    side_effects: Sequence[entity_pb2.SideEffect] = (),
    streamed: bool = False,
    forward_to: entity_pb2.Forward | None = None,
    no_reply: bool = False,
) -> crdt_pb2.CrdtStreamOut:
    """A ``CrdtReply``: the model's ``Response{state}`` (or a forward; nothing with
    ``no_reply``), then side effects, state action and the streamed flag."""
    result = crdt_pb2.CrdtReply(command_id=command_id, streamed=streamed)
    if forward_to is not None:
        result.client_action.forward.CopyFrom(forward_to)
    elif not no_reply:
        result.client_action.reply.payload.CopyFrom(response(state))
    result.side_effects.extend(side_effects)
    action = state_action(update, delete, write_consistency)
    if action is not None:
        result.state_action.CopyFrom(action)
    return crdt_pb2.CrdtStreamOut(reply=result)


def failure(command_id: int, description: str) -> crdt_pb2.CrdtStreamOut:
    return crdt_pb2.CrdtStreamOut(
        reply=crdt_pb2.CrdtReply(
            command_id=command_id,
            client_action=entity_pb2.ClientAction(
                failure=entity_pb2.Failure(command_id=command_id, description=description)
            ),
        )
    )


def streamed_message(
    command_id: int,
    state: m.State | None = None,
    *,
    side_effects: Sequence[entity_pb2.SideEffect] = (),
    end_stream: bool = False,
) -> crdt_pb2.CrdtStreamOut:
    message = crdt_pb2.CrdtStreamedMessage(command_id=command_id, end_stream=end_stream)
    if state is not None:
        message.client_action.reply.payload.CopyFrom(response(state))
    message.side_effects.extend(side_effects)
    return crdt_pb2.CrdtStreamOut(streamed_message=message)


def cancelled_response(
    command_id: int,
    update: crdt_pb2.CrdtDelta | None = None,
    side_effects: Sequence[entity_pb2.SideEffect] = (),
) -> crdt_pb2.CrdtStreamOut:
    message = crdt_pb2.CrdtStreamCancelledResponse(command_id=command_id)
    message.side_effects.extend(side_effects)
    action = state_action(update)
    if action is not None:
        message.state_action.CopyFrom(action)
    return crdt_pb2.CrdtStreamOut(stream_cancelled_response=message)


def two_effect(target_id: str, synchronous: bool = False) -> entity_pb2.SideEffect:
    return side_effect(CRDT_TWO, "Call", m.Request(id=target_id), synchronous)


def two_forward(target_id: str) -> entity_pb2.Forward:
    return forward(CRDT_TWO, "Call", m.Request(id=target_id))


# -- canonical order ------------------------------------------------------------------------------


def _any_key(value: any_pb2.Any) -> tuple[str, bytes]:
    return value.type_url, value.value


def _sort_delta(delta: crdt_pb2.CrdtDelta) -> None:
    kind = delta.WhichOneof("delta")
    if kind == "gset":
        items = sorted(delta.gset.added, key=_any_key)
        del delta.gset.added[:]
        delta.gset.added.extend(items)
    elif kind == "orset":
        for field in (delta.orset.removed, delta.orset.added):
            items = sorted(field, key=_any_key)
            del field[:]
            field.extend(items)
    elif kind == "ormap":
        removed = sorted(delta.ormap.removed, key=_any_key)
        del delta.ormap.removed[:]
        delta.ormap.removed.extend(removed)
        for entries in (delta.ormap.updated, delta.ormap.added):
            for entry in entries:
                _sort_delta(entry.delta)
            ordered = sorted(entries, key=lambda e: _any_key(e.key))
            copies = [crdt_pb2.ORMapEntryDelta(key=e.key, delta=e.delta) for e in ordered]
            del entries[:]
            entries.extend(copies)


def sorted_crdt(message: Message) -> Message:
    """A copy of a CRDT stream message with every delta's unordered lists sorted."""
    copy = type(message)()
    copy.CopyFrom(message)
    if isinstance(copy, crdt_pb2.CrdtStreamOut):
        kind = copy.WhichOneof("message")
        if kind == "reply" and copy.reply.state_action.HasField("update"):
            _sort_delta(copy.reply.state_action.update)
        elif kind == "stream_cancelled_response":
            if copy.stream_cancelled_response.state_action.HasField("update"):
                _sort_delta(copy.stream_cancelled_response.state_action.update)
    elif isinstance(copy, crdt_pb2.CrdtStreamIn):
        kind = copy.WhichOneof("message")
        if kind == "init" and copy.init.HasField("delta"):
            _sort_delta(copy.init.delta)
        elif kind == "delta":
            _sort_delta(copy.delta)
    return copy
