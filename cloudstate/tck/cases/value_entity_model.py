"""Language support: the value-entity model, driven directly through ``ValueEntity.handle``.

Counterparts of the original TCK's "verifying model test: entity" (19 cases). ``Process``
requests carry actions (update / delete / forward / effect / fail); the state is a string stored
as ``Persisted``; several updates and deletes in one command collapse into the last one.
"""

from __future__ import annotations

from collections.abc import Callable

from cloudstate.tck.cases.discovery import check_entity
from cloudstate.tck.context import TckContext
from cloudstate.tck.framework import LANGUAGE_SUPPORT, CaseFunction, case
from cloudstate.tck.messages import (
    VE_CONFIGURED,
    VE_MODEL,
    VE_TWO,
    forward,
    side_effect,
    ve_delete,
    ve_effect,
    ve_fail,
    ve_failure,
    ve_forward,
    ve_persisted,
    ve_reply,
    ve_request,
    ve_response,
    ve_update,
)
from cloudstate.tck.model import valueentity_pb2 as ve

GROUP = "value entity model"
VALUE_ENTITY = "cloudstate.valueentity.ValueEntity"


def ls_case(name: str, *services: str) -> Callable[[CaseFunction], CaseFunction]:
    """A case of this group; ``services`` default to the main model service."""
    return case(
        LANGUAGE_SUPPORT, GROUP, name, requires=services or (VE_MODEL,), original=f"verify {name}"
    )


def updates(entity_id: str, *values: str) -> ve.Request:
    return ve_request(entity_id, *(ve_update(v) for v in values))


def to_two(entity_id: str) -> ve.Request:
    return ve.Request(id=entity_id)


@ls_case("entity discovery", VE_MODEL, VE_TWO)
async def discovery(t: TckContext) -> None:
    """``ValueEntityTckModel`` and ``ValueEntityTwo`` are reported as value entities with
    persistence ids ``value-entity-tck-model`` and ``value-entity-tck-model-two``."""
    check_entity(t, VE_MODEL, VALUE_ENTITY, "value-entity-tck-model")
    check_entity(t, VE_TWO, VALUE_ENTITY, "value-entity-tck-model-two")


@ls_case("configured entity", VE_CONFIGURED)
async def configured_entity(t: TckContext) -> None:
    """``ValueEntityConfigured``: persistence id ``value-entity-configured``, passivation
    timeout 100 ms."""
    check_entity(t, VE_CONFIGURED, VALUE_ENTITY, "value-entity-configured", passivation_ms=100)


@ls_case("initial empty state")
async def initial_empty_state(t: TckContext) -> None:
    """An entity without a stored value (``init.state`` present, its ``value`` absent) replies
    with the empty state and no state action."""
    eid = t.entity_id()
    s = await t.value_entity(VE_MODEL, eid).start()
    await s.command(ve_request(eid))
    await s.expect(ve_reply(1, ve_response("")))
    await s.close()


@ls_case("update state")
async def update_state(t: TckContext) -> None:
    """An update comes back as the reply's ``update`` state action and is the new state."""
    eid = t.entity_id()
    s = await t.value_entity(VE_MODEL, eid).start()
    await s.command(updates(eid, "A"))
    await s.expect(ve_reply(1, ve_response("A"), update=ve_persisted("A")))
    await s.command(ve_request(eid))
    await s.expect(ve_reply(2, ve_response("A")))
    await s.close()


@ls_case("delete state")
async def delete_state(t: TckContext) -> None:
    """A delete comes back as the ``delete`` state action and empties the state."""
    eid = t.entity_id()
    s = await t.value_entity(VE_MODEL, eid).start()
    await s.command(updates(eid, "A"))
    await s.expect(ve_reply(1, ve_response("A"), update=ve_persisted("A")))
    await s.command(ve_request(eid, ve_delete()))
    await s.expect(ve_reply(2, ve_response(""), delete=True))
    await s.command(ve_request(eid))
    await s.expect(ve_reply(3, ve_response("")))
    await s.close()


@ls_case("sub invocations with multiple update states")
async def multiple_updates(t: TckContext) -> None:
    """Several updates in one command collapse into the last one."""
    eid = t.entity_id()
    s = await t.value_entity(VE_MODEL, eid).start()
    await s.command(updates(eid, "A", "B", "C"))
    await s.expect(ve_reply(1, ve_response("C"), update=ve_persisted("C")))
    await s.command(ve_request(eid))
    await s.expect(ve_reply(2, ve_response("C")))
    await s.close()


@ls_case("sub invocations with multiple update states and delete states")
async def updates_then_delete(t: TckContext) -> None:
    """Updates followed by a delete collapse into the delete."""
    eid = t.entity_id()
    s = await t.value_entity(VE_MODEL, eid).start()
    await s.command(ve_request(eid, ve_update("A"), ve_update("B"), ve_delete()))
    await s.expect(ve_reply(1, ve_response(""), delete=True))
    await s.command(ve_request(eid))
    await s.expect(ve_reply(2, ve_response("")))
    await s.close()


@ls_case("sub invocations with update, delete and update states")
async def update_delete_update(t: TckContext) -> None:
    """An update after a delete in one command wins."""
    eid = t.entity_id()
    s = await t.value_entity(VE_MODEL, eid).start()
    await s.command(ve_request(eid, ve_update("A"), ve_delete(), ve_update("B")))
    await s.expect(ve_reply(1, ve_response("B"), update=ve_persisted("B")))
    await s.command(ve_request(eid))
    await s.expect(ve_reply(2, ve_response("B")))
    await s.close()


@ls_case("rehydration after passivation")
async def rehydration_after_passivation(t: TckContext) -> None:
    """A new stream whose ``init`` carries the stored value starts from it (command ids from 1
    again)."""
    eid = t.entity_id()
    s = await t.value_entity(VE_MODEL, eid).start()
    for n, value in enumerate("ABCD", start=1):
        await s.command(updates(eid, value))
        await s.expect(ve_reply(n, ve_response(value), update=ve_persisted(value)))
    await s.close()
    s = await t.value_entity(VE_MODEL, eid).start(ve_persisted("D"))
    await s.command(updates(eid, "E"))
    await s.expect(ve_reply(1, ve_response("E"), update=ve_persisted("E")))
    await s.command(ve_request(eid))
    await s.expect(ve_reply(2, ve_response("E")))
    await s.close()


@ls_case("reply with multiple side effects", VE_MODEL, VE_TWO)
async def multiple_side_effects(t: TckContext) -> None:
    """Side effects come back in the order they were added."""
    eid = t.entity_id()
    s = await t.value_entity(VE_MODEL, eid).start()
    await s.command(ve_request(eid, *(ve_effect(x) for x in "123")))
    effects = [side_effect(VE_TWO, "Call", to_two(x)) for x in "123"]
    await s.expect(ve_reply(1, ve_response(""), side_effects=effects))
    await s.close()


@ls_case("reply with side effect to second service", VE_MODEL, VE_TWO)
async def side_effect_to_second_service(t: TckContext) -> None:
    """A side effect travels with the reply; the state is unchanged."""
    eid = t.entity_id()
    s = await t.value_entity(VE_MODEL, eid).start()
    await s.command(updates(eid, "X"))
    await s.expect(ve_reply(1, ve_response("X"), update=ve_persisted("X")))
    await s.command(ve_request(eid, ve_effect(eid)))
    await s.expect(
        ve_reply(2, ve_response("X"), side_effects=[side_effect(VE_TWO, "Call", to_two(eid))])
    )
    await s.command(ve_request(eid))
    await s.expect(ve_reply(3, ve_response("X")))
    await s.close()


@ls_case("reply with multiple side effects and state", VE_MODEL, VE_TWO)
async def side_effects_and_state(t: TckContext) -> None:
    """Side effects and the state action travel in one reply."""
    eid = t.entity_id()
    s = await t.value_entity(VE_MODEL, eid).start()
    actions = [ve_update(v) for v in "ABCDE"] + [ve_effect(x) for x in "123"]
    await s.command(ve_request(eid, *actions))
    await s.expect(
        ve_reply(
            1,
            ve_response("E"),
            update=ve_persisted("E"),
            side_effects=[side_effect(VE_TWO, "Call", to_two(x)) for x in "123"],
        )
    )
    await s.close()


@ls_case("synchronous side effect to second service", VE_MODEL, VE_TWO)
async def synchronous_side_effect(t: TckContext) -> None:
    """A synchronous side effect is flagged ``synchronous``."""
    eid = t.entity_id()
    s = await t.value_entity(VE_MODEL, eid).start()
    await s.command(ve_request(eid, ve_effect(eid, synchronous=True)))
    await s.expect(
        ve_reply(1, ve_response(""), side_effects=[side_effect(VE_TWO, "Call", to_two(eid), True)])
    )
    await s.close()


@ls_case("forward to second service", VE_MODEL, VE_TWO)
async def forward_to_second_service(t: TckContext) -> None:
    """A forward replaces the reply; the state is unchanged."""
    eid = t.entity_id()
    s = await t.value_entity(VE_MODEL, eid).start()
    await s.command(updates(eid, "X"))
    await s.expect(ve_reply(1, ve_response("X"), update=ve_persisted("X")))
    await s.command(ve_request(eid, ve_forward(eid)))
    await s.expect(ve_reply(2, forward_to=forward(VE_TWO, "Call", to_two(eid))))
    await s.command(ve_request(eid))
    await s.expect(ve_reply(3, ve_response("X")))
    await s.close()


@ls_case("forward with updated state to second service", VE_MODEL, VE_TWO)
async def forward_with_state(t: TckContext) -> None:
    """A forwarding command keeps its state action."""
    eid = t.entity_id()
    s = await t.value_entity(VE_MODEL, eid).start()
    await s.command(ve_request(eid, ve_update("A"), ve_forward(eid)))
    await s.expect(
        ve_reply(1, forward_to=forward(VE_TWO, "Call", to_two(eid)), update=ve_persisted("A"))
    )
    await s.close()


@ls_case("forward and side effect to second service", VE_MODEL, VE_TWO)
async def forward_and_side_effect(t: TckContext) -> None:
    """A forwarding command keeps its side effects."""
    eid = t.entity_id()
    s = await t.value_entity(VE_MODEL, eid).start()
    await s.command(ve_request(eid, ve_effect(eid), ve_forward(eid)))
    await s.expect(
        ve_reply(
            1,
            forward_to=forward(VE_TWO, "Call", to_two(eid)),
            side_effects=[side_effect(VE_TWO, "Call", to_two(eid))],
        )
    )
    await s.close()


@ls_case("failure action")
async def failure_action(t: TckContext) -> None:
    """A failed command's reply carries only the failure."""
    eid = t.entity_id()
    s = await t.value_entity(VE_MODEL, eid).start()
    await s.command(ve_request(eid, ve_fail("expected failure")))
    await s.expect(ve_failure(1, "expected failure"))
    await s.close()


@ls_case("connection after failure action")
async def connection_after_failure(t: TckContext) -> None:
    """The stream stays usable after a failure, with the state unchanged."""
    eid = t.entity_id()
    s = await t.value_entity(VE_MODEL, eid).start()
    await s.command(updates(eid, "A"))
    await s.expect(ve_reply(1, ve_response("A"), update=ve_persisted("A")))
    await s.command(ve_request(eid, ve_fail("expected failure")))
    await s.expect(ve_failure(2, "expected failure"))
    await s.command(ve_request(eid))
    await s.expect(ve_reply(3, ve_response("A")))
    await s.close()


@ls_case("failure action do not allow side effects", VE_MODEL, VE_TWO)
async def failure_drops_side_effects(t: TckContext) -> None:
    """Side effects (and state changes) added before a failure are dropped."""
    eid = t.entity_id()
    s = await t.value_entity(VE_MODEL, eid).start()
    await s.command(ve_request(eid, ve_update("A"), ve_effect(eid), ve_fail("expected failure")))
    await s.expect(ve_failure(1, "expected failure"))
    await s.close()
