"""Short builders for the CRDT model's requests and states, in the conformance kit's notation.

Updates (``inc(42)``, ``oadd("a")``, ``lset("one")`` ...) are ``Update`` messages; :func:`request`
wraps them (and actions such as ``DELETE`` or ``failure(message)``) into a ``Process`` request.
States (``gc(42)``, ``ors("a", "b")``, ``om({"GCounter-1": gc(1)})`` ...) are ``State`` messages.
"""

from __future__ import annotations

from typing import Any

from tests.crdt_sdk.model import Request, Response, State, pb
from tests.crdt_sdk.protocol import CrdtStream, reply

TWO = "crdtsdk.CrdtTwo"

# -- updates -------------------------------------------------------------------------------------


def inc(n: int, consistency: int = 0) -> Any:
    return pb.Update(gcounter={"increment": n}, write_consistency=consistency)


def change(n: int) -> Any:
    return pb.Update(pncounter={"change": n})


def gadd(element: str) -> Any:
    return pb.Update(gset={"add": element})


def oadd(element: str) -> Any:
    return pb.Update(orset={"add": element})


def oremove(element: str) -> Any:
    return pb.Update(orset={"remove": element})


def oclear() -> Any:
    return pb.Update(orset={"clear": True})


def lset(value: str, clock: int = 0, custom: int = 0) -> Any:
    return pb.Update(
        lwwregister={"value": value, "clock": {"clock_type": clock, "custom_clock_value": custom}}
    )


def enable() -> Any:
    return pb.Update(flag={})


def vote(value: bool) -> Any:
    return pb.Update(vote={"self_vote": value})


def madd(key: str) -> Any:
    return pb.Update(ormap={"add": key})


def mupdate(key: str, update: Any) -> Any:
    return pb.Update(ormap={"update": {"key": key, "update": update}})


def mremove(key: str) -> Any:
    return pb.Update(ormap={"remove": key})


def mclear() -> Any:
    return pb.Update(ormap={"clear": True})


# -- other actions -------------------------------------------------------------------------------

DELETE = pb.RequestAction(delete={})


def failure(message: str) -> Any:
    return pb.RequestAction(fail={"message": message})


# -- states --------------------------------------------------------------------------------------


def gc(value: int) -> Any:
    return State(gcounter={"value": value})


def pn(value: int) -> Any:
    return State(pncounter={"value": value})


def gs(*elements: str) -> Any:
    return State(gset={"elements": sorted(elements)})


def ors(*elements: str) -> Any:
    return State(orset={"elements": sorted(elements)})


def lw(value: str) -> Any:
    return State(lwwregister={"value": value})


def fl(value: bool) -> Any:
    return State(flag={"value": value})


def vt(self_vote: bool, votes_for: int, total: int) -> Any:
    return State(vote={"self_vote": self_vote, "votes_for": votes_for, "total_voters": total})


def om(entries: dict[str, Any]) -> Any:
    return State(ormap={"entries": [{"key": k, "value": entries[k]} for k in sorted(entries)]})


def R(state: Any) -> Any:
    return Response(state=state)


# -- driving -------------------------------------------------------------------------------------


def request(entity_id: str, *actions: Any) -> Any:
    wrapped = [
        a if isinstance(a, pb.RequestAction) else pb.RequestAction(update=a) for a in actions
    ]
    return Request(id=entity_id, actions=wrapped)


async def send(stream: CrdtStream, *actions: Any, command_id: int | None = None) -> int:
    """Send ``Process`` with these actions; returns the command id."""
    return await stream.send("Process", request(stream.entity_id, *actions), command_id=command_id)


async def check(stream: CrdtStream, actions: list[Any], state: Any, **expected: Any) -> None:
    """Send ``Process(actions)``; expect the reply with ``state`` (and ``update=`` / ``delete=``
    / ``effects=`` ... as :func:`~tests.crdt_sdk.protocol.reply` takes them)."""
    command_id = await send(stream, *actions, command_id=expected.pop("command_id", None))
    await stream.expect(reply(command_id, R(state), **expected))
