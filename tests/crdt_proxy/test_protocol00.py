"""The earlier (protocol 0.0) CRDT format on the wire, checked byte by byte.

The expected bytes are written here by hand from the documented field numbers
(docs/protocol-versions.md), not with the generated classes: our 0.0 model user function is
generated from the same ``crdt_v00.proto`` as the proxy, so only an independent encoding catches
a wrong number in it.
"""

from __future__ import annotations

import pytest
from google.protobuf import any_pb2

from cloudstate.protocol import crdt_pb2, entity_pb2
from cloudstate.protocol import crdt_v00_pb2 as v00
from cloudstate.proxy.crdt.protocol00 import (
    Stream00,
    delta_from_v00,
    delta_to_v00,
    state_from_delta,
)
from cloudstate.proxy.crdt.types import GCounter, ORMap
from cloudstate.proxy.crdt.wire import apply_delta, full_delta, view
from cloudstate.proxy.discovery import assign_protocols
from cloudstate.proxy.model import CRDT, EVENT_SOURCED, ServiceModel, UserFunctionModel

# -- a minimal protobuf encoder (wire types 0 and 2) -----------------------------------------------


def varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def number(field: int, value: int) -> bytes:
    return varint(field << 3) + varint(value)


def nested(field: int, *parts: bytes) -> bytes:
    body = b"".join(parts)
    return varint(field << 3 | 2) + varint(len(body)) + body


def text(field: int, value: str) -> bytes:
    return nested(field, value.encode())


def string_any(value: str) -> bytes:
    """An ``Any`` (type_url = 1, value = 2) holding a Cloudstate string primitive."""
    return text(1, "p.cloudstate.io/string") + nested(2, text(1, value))


def string_elem(value: str) -> any_pb2.Any:
    return any_pb2.Any.FromString(string_any(value))


def fields(data: bytes) -> list[tuple[int, int, bytes | int]]:
    """The top-level ``(field, wire type, value)`` of an encoded message."""
    out: list[tuple[int, int, bytes | int]] = []
    pos = 0

    def read_varint() -> int:
        nonlocal pos
        result = shift = 0
        while True:
            byte = data[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7

    while pos < len(data):
        tag = read_varint()
        if tag & 7 == 0:
            out.append((tag >> 3, 0, read_varint()))
        else:
            assert tag & 7 == 2, f"unexpected wire type {tag & 7}"
            length = read_varint()
            out.append((tag >> 3, 2, data[pos : pos + length]))
            pos += length
    return out


COMMAND = entity_pb2.Command(entity_id="c1", id=3, name="Increment", streamed=True)


# -- proxy -> user function ------------------------------------------------------------------------


def test_a_command_is_field_5_and_a_cancellation_field_6() -> None:
    stream = Stream00()
    command = stream.encode_in(crdt_pb2.CrdtStreamIn(command=COMMAND))
    assert fields(command) == [(5, 2, COMMAND.SerializeToString())]
    cancelled = entity_pb2.StreamCancelled(entity_id="c1", id=3)
    encoded = stream.encode_in(crdt_pb2.CrdtStreamIn(stream_cancelled=cancelled))
    assert fields(encoded) == [(6, 2, cancelled.SerializeToString())]


def test_a_deletion_is_field_4() -> None:
    encoded = Stream00().encode_in(crdt_pb2.CrdtStreamIn(delete=crdt_pb2.CrdtDelete()))
    assert encoded == nested(4)


def test_init_carries_the_whole_value_as_a_full_state_at_field_3() -> None:
    stored = GCounter()
    stored.increment("node-1", 7)
    init = crdt_pb2.CrdtInit(service_name="s.Counter", entity_id="c1")
    init.delta.CopyFrom(full_delta(stored, "node-1"))
    stream = Stream00()
    encoded = stream.encode_in(crdt_pb2.CrdtStreamIn(init=init))
    # init = 1 { service_name = 1, entity_id = 2, state = 3 { gcounter = 1 { value = 1 } } }
    assert encoded == nested(
        1, text(1, "s.Counter"), text(2, "c1"), nested(3, nested(1, number(1, 7)))
    )
    assert stream.holds_state


def test_init_of_a_new_entity_has_no_state() -> None:
    stream = Stream00()
    init = crdt_pb2.CrdtInit(service_name="s.Counter", entity_id="c1")
    assert stream.encode_in(crdt_pb2.CrdtStreamIn(init=init)) == nested(
        1, text(1, "s.Counter"), text(2, "c1")
    )
    assert not stream.holds_state


def test_a_remote_change_is_changed_field_3_or_the_whole_state_field_2() -> None:
    """A user function holding no CRDT gets its first value as ``state``; afterwards deltas
    arrive as ``changed``."""
    stream = Stream00()
    stream.encode_in(crdt_pb2.CrdtStreamIn(init=crdt_pb2.CrdtInit(entity_id="c1")))
    first = crdt_pb2.CrdtDelta(gcounter=crdt_pb2.GCounterDelta(increment=5))
    encoded = stream.encode_in(crdt_pb2.CrdtStreamIn(delta=first))
    assert encoded == nested(2, nested(1, number(1, 5)))  # state { gcounter { value: 5 } }
    later = crdt_pb2.CrdtDelta(gcounter=crdt_pb2.GCounterDelta(increment=2))
    encoded = stream.encode_in(crdt_pb2.CrdtStreamIn(delta=later))
    assert encoded == nested(3, nested(1, number(1, 2)))  # changed { gcounter { increment: 2 } }


def test_an_ormap_delta_for_the_user_function_carries_added_entries_as_full_states() -> None:
    value = crdt_pb2.CrdtDelta(gcounter=crdt_pb2.GCounterDelta(increment=4))
    delta = crdt_pb2.CrdtDelta()
    delta.ormap.added.add(key=string_elem("k"), delta=value)
    delta.ormap.updated.add(key=string_elem("u"), delta=value)
    encoded = delta_to_v00(delta).SerializeToString()
    # ormap = 7 { updated = 3 { key, delta = 2 { gcounter { increment } } },
    #             added = 4 { key, value = 2 { gcounter { value } } } }
    updated = nested(3, nested(1, string_any("u")), nested(2, nested(1, number(1, 4))))
    added = nested(4, nested(1, string_any("k")), nested(2, nested(1, number(1, 4))))
    assert encoded == nested(7, updated, added)


def test_full_states_of_every_type_use_the_documented_numbers() -> None:
    cases: list[tuple[crdt_pb2.CrdtDelta, bytes]] = [
        (
            crdt_pb2.CrdtDelta(pncounter=crdt_pb2.PNCounterDelta(change=-3)),
            nested(2, number(1, -3)),
        ),
        (
            crdt_pb2.CrdtDelta(gset=crdt_pb2.GSetDelta(added=[string_elem("a")])),
            nested(3, nested(1, string_any("a"))),
        ),
        (
            crdt_pb2.CrdtDelta(orset=crdt_pb2.ORSetDelta(added=[string_elem("a")])),
            nested(4, nested(1, string_any("a"))),
        ),
        (
            crdt_pb2.CrdtDelta(lwwregister=crdt_pb2.LWWRegisterDelta(value=string_elem("v"))),
            nested(5, nested(1, string_any("v"))),
        ),
        (crdt_pb2.CrdtDelta(flag=crdt_pb2.FlagDelta(value=True)), nested(6, number(1, 1))),
        (
            crdt_pb2.CrdtDelta(
                vote=crdt_pb2.VoteDelta(self_vote=True, votes_for=2, total_voters=3)
            ),
            # votes_for = 1, total_voters = 2, self_vote = 3
            nested(8, number(1, 2), number(2, 3), number(3, 1)),
        ),
    ]
    for delta, expected in cases:
        assert state_from_delta(delta).SerializeToString() == expected, delta


# -- user function -> proxy ------------------------------------------------------------------------


def reply(*state_action: bytes) -> bytes:
    """CrdtStreamOut { reply = 1 { command_id = 1: 3, state_action = 5 {...} } }."""
    return nested(1, number(1, 3), nested(5, *state_action))


def test_create_at_field_5_is_the_update_that_creates_the_crdt() -> None:
    stream = Stream00()
    # state_action { create = 5 { gcounter = 1 { value: 7 } }, write_consistency = 8: MAJORITY }
    out = stream.decode_out(reply(nested(5, nested(1, number(1, 7))), number(8, 1)))
    action = out.reply.state_action
    assert action.WhichOneof("action") == "update"
    assert action.update == crdt_pb2.CrdtDelta(gcounter=crdt_pb2.GCounterDelta(increment=7))
    assert action.write_consistency == crdt_pb2.MAJORITY
    assert apply_delta(None, action.update, "node-1").value() == 7
    assert stream.holds_state


def test_update_at_field_6_and_delete_at_field_7() -> None:
    stream = Stream00()
    stream.holds_state = True
    # update { pncounter { change: -4 } }: the delta's change is a sint64 (zigzag: -4 is 7)
    out = stream.decode_out(reply(nested(6, nested(2, number(1, 7)))))
    assert out.reply.state_action.update == crdt_pb2.CrdtDelta(
        pncounter=crdt_pb2.PNCounterDelta(change=-4)
    )
    out = stream.decode_out(reply(nested(7)))
    assert out.reply.state_action.WhichOneof("action") == "delete"
    assert not stream.holds_state


def test_a_cancellation_response_translates_its_state_action_too() -> None:
    # stream_cancelled_response = 3 { command_id = 1, state_action = 3 { update = 6 {...} } }
    encoded = nested(3, number(1, 3), nested(3, nested(6, nested(1, number(1, 1)))))
    stream = Stream00()
    stream.holds_state = True
    response = stream.decode_out(encoded).stream_cancelled_response
    assert response.command_id == 3
    assert response.state_action.update.gcounter.increment == 1


def test_a_create_for_a_crdt_the_user_function_holds_is_a_violation() -> None:
    stream = Stream00()
    stream.holds_state = True
    out = stream.decode_out(reply(nested(5, nested(1, number(1, 7)))))
    assert out.WhichOneof("message") == "failure"
    assert "state_action.create for a CRDT the user function already holds" in (
        out.failure.description
    )


def test_an_ormap_entry_added_by_the_user_function_replaces_the_entry() -> None:
    """``added`` (a full state) on an existing key: the entry's value becomes that state, it is
    not merged into the old one."""
    key = string_elem("k")
    existing = crdt_pb2.CrdtDelta()
    existing.ormap.added.add(
        key=key, delta=crdt_pb2.CrdtDelta(gcounter=crdt_pb2.GCounterDelta(increment=5))
    )
    state = apply_delta(None, existing, "node-1")
    delta = v00.CrdtDelta()
    delta.ormap.added.add(key=key, value=v00.CrdtState(gcounter=v00.GCounterState(value=3)))
    state = apply_delta(state, delta_from_v00(delta), "node-1")
    assert isinstance(state, ORMap)
    assert view(state, "node-1") == {(key.type_url, key.value): ("gcounter", 3)}


def test_unchanged_messages_pass_through_as_they_are() -> None:
    message = crdt_pb2.CrdtStreamedMessage(command_id=3, end_stream=True)
    message.client_action.reply.payload.CopyFrom(string_elem("x"))
    failure = entity_pb2.Failure(command_id=0, description="['a', 'b']")
    stream = Stream00()
    assert stream.decode_out(nested(2, message.SerializeToString())).streamed_message == message
    assert stream.decode_out(nested(4, failure.SerializeToString())).failure == failure


# -- discovery -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("minor", "crdt"), [(0, "0.0"), (1, "0.0"), (2, "0.2"), (3, "0.2")])
def test_only_crdt_entities_of_an_earlier_user_function_get_the_earlier_format(
    minor: int, crdt: str
) -> None:
    services = {
        name: ServiceModel(name, kind, name, None, None)  # type: ignore[arg-type]
        for name, kind in (("c", CRDT), ("e", EVENT_SOURCED))
    }
    model = UserFunctionModel(pool=None, file_set=None, services=services, service_info=None)  # type: ignore[arg-type]
    info = entity_pb2.ServiceInfo(protocol_major_version=0, protocol_minor_version=minor)
    assign_protocols(info, model)
    assert services["c"].protocol == crdt
    assert services["e"].protocol == "0.2"
