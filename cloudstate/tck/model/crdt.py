"""The CRDT TCK model services, implemented with the Python SDK.

See ``cloudstate/protos/cloudstate/tck/model/crdt.proto``: the CRDT type of an entity (and of
each map value) is the prefix of its id (key) before ``-``::

    server = CloudState()
    for entity in entities():
        server.register_entity(entity)
"""

from __future__ import annotations

from typing import Any

from cloudstate.crdt import (
    Crdt,
    CrdtClock,
    CrdtCommandContext,
    CrdtEntity,
    Flag,
    GCounter,
    GSet,
    LWWRegister,
    ORMap,
    ORSet,
    PNCounter,
    SubscriptionContext,
    Vote,
    WriteConsistency,
)
from cloudstate.tck.model import crdt_pb2 as pb

FILE = pb.DESCRIPTOR
MODEL = FILE.services_by_name["CrdtTckModel"]
TWO = FILE.services_by_name["CrdtTwo"]
CONFIGURED = FILE.services_by_name["CrdtConfigured"]
TWO_CALL = TWO.methods_by_name["Call"]

TYPES: dict[str, type[Crdt]] = {
    cls.__name__: cls for cls in (GCounter, PNCounter, GSet, ORSet, LWWRegister, Flag, ORMap, Vote)
}


def new_crdt(name: str) -> Crdt:
    """The empty CRDT of the type ``name`` starts with (``"ORSet-7"`` -> ``ORSet()``)."""
    type_name = name.split("-", 1)[0]
    if type_name == "LWWRegister":
        return LWWRegister("")
    try:
        return TYPES[type_name]()
    except KeyError:
        raise ValueError(
            f"{name!r}: a CRDT model id must start with one of {', '.join(TYPES)}"
        ) from None


def apply(crdt: Any, change: pb.Update) -> None:
    """Apply one ``Update`` to the CRDT it is meant for."""
    kind = change.WhichOneof("update")
    if kind == "gcounter":
        crdt.increment(change.gcounter.increment)
    elif kind == "pncounter":
        crdt.increment(change.pncounter.change)
    elif kind == "gset":
        crdt.add(change.gset.add)
    elif kind == "orset":
        action = change.orset.WhichOneof("action")
        if action == "add":
            crdt.add(change.orset.add)
        elif action == "remove":
            crdt.discard(change.orset.remove)
        elif action == "clear":
            crdt.clear()
    elif kind == "lwwregister":
        clock = change.lwwregister.clock
        crdt.set(
            change.lwwregister.value,
            clock=CrdtClock(clock.clockType),
            custom_clock_value=clock.customClockValue,
        )
    elif kind == "flag":
        crdt.enable()
    elif kind == "ormap":
        action = change.ormap.WhichOneof("action")
        if action == "add":
            key = change.ormap.add
            crdt.get_or_create(key, lambda: new_crdt(key))
        elif action == "update":
            key = change.ormap.update.key
            apply(crdt.get_or_create(key, lambda: new_crdt(key)), change.ormap.update.update)
        elif action == "remove":
            crdt.pop(change.ormap.remove, None)
        elif action == "clear":
            crdt.clear()
    elif kind == "vote":
        crdt.vote(change.vote.self_vote)


def state_of(crdt: Any) -> pb.State:
    """The ``State`` showing a CRDT's value (elements sorted, map entries sorted by key)."""
    if isinstance(crdt, GCounter):
        return pb.State(gcounter=pb.GCounterValue(value=crdt.value))
    if isinstance(crdt, PNCounter):
        return pb.State(pncounter=pb.PNCounterValue(value=crdt.value))
    if isinstance(crdt, GSet):
        return pb.State(gset=pb.GSetValue(elements=sorted(crdt)))
    if isinstance(crdt, ORSet):
        return pb.State(orset=pb.ORSetValue(elements=sorted(crdt)))
    if isinstance(crdt, LWWRegister):
        return pb.State(lwwregister=pb.LWWRegisterValue(value=crdt.value))
    if isinstance(crdt, Flag):
        return pb.State(flag=pb.FlagValue(value=crdt.enabled))
    if isinstance(crdt, ORMap):
        entries = [pb.ORMapEntryValue(key=k, value=state_of(crdt[k])) for k in sorted(crdt)]
        return pb.State(ormap=pb.ORMapValue(entries=entries))
    if isinstance(crdt, Vote):
        return pb.State(
            vote=pb.VoteValue(
                self_vote=crdt.self_vote, votes_for=crdt.votes_for, total_voters=crdt.total_voters
            )
        )
    return pb.State()


def model_entity() -> CrdtEntity:
    """``CrdtTckModel``: ``Process`` and the streamed ``ProcessStreamed``."""
    entity = CrdtEntity(MODEL, [FILE], new_crdt, persistence_id="crdt-tck-model")

    def process(crdt: Crdt, request: pb.Request, ctx: CrdtCommandContext) -> pb.Response:
        for action in request.actions:
            kind = action.WhichOneof("action")
            if kind == "update":
                apply(crdt, action.update)
                ctx.write_consistency = WriteConsistency(action.update.write_consistency)
            elif kind == "delete":
                ctx.delete()
            elif kind == "forward":
                ctx.forward(TWO_CALL, pb.Request(id=action.forward.id))
            elif kind == "effect":
                ctx.effect(
                    TWO_CALL, pb.Request(id=action.effect.id), synchronous=action.effect.synchronous
                )
            elif kind == "fail":
                ctx.fail(action.fail.message)
        return pb.Response(state=state_of(crdt))

    def on_change(crdt: Crdt, request: pb.StreamedRequest, ctx: SubscriptionContext) -> Any:
        for effect in request.effects:
            ctx.effect(TWO_CALL, pb.Request(id=effect.id), synchronous=effect.synchronous)
        state = state_of(crdt)
        if request.HasField("end_state") and state == request.end_state:
            ctx.end_stream()
        return None if request.empty else pb.Response(state=state)

    def process_streamed(crdt: Crdt, request: pb.StreamedRequest, ctx: CrdtCommandContext) -> Any:
        if ctx.streamed:
            ctx.on_change(on_change)
            if request.HasField("cancel_update"):
                cancel_update = request.cancel_update
                ctx.on_cancel(lambda state: apply(state, cancel_update))
        if request.HasField("initial_update"):
            apply(crdt, request.initial_update)
        return None if request.empty else pb.Response(state=state_of(crdt))

    entity.command_handler("Process")(process)
    entity.command_handler("ProcessStreamed")(process_streamed)
    return entity


def two_entity() -> CrdtEntity:
    """``CrdtTwo``: the target of forwards and side effects; handles only ``delete``."""
    entity = CrdtEntity(TWO, [FILE], persistence_id="crdt-tck-model-two")

    def call(request: pb.Request, ctx: CrdtCommandContext) -> pb.Response:
        if any(action.HasField("delete") for action in request.actions):
            ctx.delete()
        return pb.Response()

    entity.command_handler("Call")(call)
    return entity


def configured_entity() -> CrdtEntity:
    """``CrdtConfigured``: passivated after 100 ms."""
    entity = CrdtEntity(
        CONFIGURED, [FILE], persistence_id="crdt-configured", passivation_timeout=0.1
    )

    def call(request: pb.Request) -> pb.Response:
        return pb.Response()

    entity.command_handler("Call")(call)
    return entity


def entities() -> list[CrdtEntity]:
    """Fresh definitions of the three CRDT model services."""
    return [model_entity(), two_entity(), configured_entity()]
