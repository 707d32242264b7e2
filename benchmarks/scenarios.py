"""The workloads of ``benchmarks/run.py``: for each scenario its user function, its native gRPC
requests (h2load), its HTTP/JSON requests (wrk Lua) and how to drive the user function directly
through the Cloudstate protocol (baseline (a))."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
for example in ("shoppingcart", "valueentity", "crdts"):
    sys.path.insert(0, str(ROOT / "examples" / example))

from crdts import likes_pb2  # noqa: E402
from shoppingcart import shoppingcart_pb2  # noqa: E402
from valueentity import shoppingcart_pb2 as ve_pb2  # noqa: E402

from benchmarks.common import (  # noqa: E402
    grpc_frame,
)
from cloudstate.protocol import crdt_pb2, entity_pb2, event_sourced_pb2, value_entity_pb2  # noqa: E402
from tests.actions.model import pb as action_model  # noqa: E402
from tests.processes import (  # noqa: E402
    Process,
    free_port,
    shoppingcart_user_function,
)

ENTITIES = 1000
TYPE = "type.googleapis.com/"
CART = "com.example.shoppingcart.ShoppingCart"
VE_CART = "com.example.valueentity.shoppingcart.ShoppingCart"
LIKES = "com.example.crdts.Likes"
ITEM_ADDED = TYPE + "com.example.shoppingcart.persistence.ItemAdded"
CART_STATE = TYPE + "com.example.shoppingcart.persistence.Cart"


def _example(name: str, module: str) -> Callable[[Path], Process]:
    def start(tmp: Path) -> Process:
        port = free_port()
        return Process(
            f"{name} user function",
            [sys.executable, "-m", module],
            port,
            tmp / f"{name}-uf-{port}.log",
            cwd=ROOT / "examples" / name,
            env={"HOST": "127.0.0.1", "PORT": str(port)},
        )

    return start


def _action_uf(tmp: Path) -> Process:
    from tests.actions.conftest import action_user_function

    return action_user_function(tmp)


def _any(type_name: str, message: Any) -> Any:
    from google.protobuf import any_pb2

    return any_pb2.Any(type_url=TYPE + type_name, value=message.SerializeToString())


def _add_item(key: str) -> shoppingcart_pb2.AddLineItem:
    return shoppingcart_pb2.AddLineItem(user_id=key, product_id="p1", name="item", quantity=1)


_CART_HTTP = """
request = function()
  local user = "cart-" .. math.random(0, %(n)d - 1)
  if math.random() < 0.4 then
    return wrk.format("GET", "/carts/" .. user)
  end
  return wrk.format("POST", "/cart/" .. user .. "/items/add",
    {["Content-Type"] = "application/json"}, '{"productId":"p1","name":"item","quantity":1}')
end
"""
_VE_UPDATE_HTTP = """
request = function()
  return wrk.format("POST", "/ve/cart/ve-" .. math.random(0, %(n)d - 1) .. "/items/add",
    {["Content-Type"] = "application/json"}, '{"productId":"p1","name":"item","quantity":1}')
end
"""
_VE_GET_HTTP = """
request = function()
  return wrk.format("GET", "/ve/carts/ve-" .. math.random(0, %(n)d - 1))
end
"""
_CRDT_HTTP = """
request = function()
  return wrk.format("POST", "/posts/post-" .. math.random(0, %(n)d - 1) .. "/like",
    {["Content-Type"] = "application/json"}, '{}')
end
"""
_ACTION_HTTP = """
request = function()
  return wrk.format("POST", "/acttest.Echo/Echo", {["Content-Type"] = "application/json"},
    '{"text":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}')
end
"""


#: entity key -> (protocol path, stream-in for init, n -> stream-in for command n, stream-out type)
DirectSetup = tuple[str, Any, Callable[[int], Any], Any]
DirectProtocol = Callable[[str], DirectSetup]
ECHO = "/bench.Echo/Echo"
ACTION_UNARY = "/cloudstate.action.ActionProtocol/handleUnary"


@dataclass
class Scenario:
    """One workload: its user function, its gRPC requests (paths cycled by each h2load
    connection; one body per entity), its HTTP requests (wrk Lua) and its direct baseline."""

    name: str
    what: str
    user_function: Callable[[Path], Process]
    grpc_paths: list[str]
    grpc_body: Callable[[int], bytes]
    http_lua: str
    #: Direct baseline: (protocol path, stream-in for init, stream-in for the n-th command,
    #: stream-out type) for entities; None for the action (driven with h2load instead).
    direct: DirectProtocol | None = None
    extra_grpc_port: bool = False
    seeded: list[str] = field(default_factory=list)


def _cart_direct(key: str) -> DirectSetup:
    stream_in = event_sourced_pb2.EventSourcedStreamIn
    add = _any("com.example.shoppingcart.AddLineItem", _add_item(key))
    get = _any(
        "com.example.shoppingcart.GetShoppingCart", shoppingcart_pb2.GetShoppingCart(user_id=key)
    )

    def command(n: int) -> Any:
        name, payload = ("GetCart", get) if n % 5 in (1, 3) else ("AddItem", add)
        command = entity_pb2.Command(entity_id=key, id=n, name=name, payload=payload)
        return stream_in(command=command)

    init = stream_in(init=event_sourced_pb2.EventSourcedInit(service_name=CART, entity_id=key))
    out = event_sourced_pb2.EventSourcedStreamOut
    return "/cloudstate.eventsourced.EventSourced/handle", init, command, out


def _ve_direct(name: str) -> DirectProtocol:
    def direct(key: str) -> DirectSetup:
        stream_in = value_entity_pb2.ValueEntityStreamIn
        if name == "AddItem":
            payload = _any(
                "com.example.valueentity.shoppingcart.AddLineItem",
                ve_pb2.AddLineItem(user_id=key, product_id="p1", name="item", quantity=1),
            )
        else:
            payload = _any(
                "com.example.valueentity.shoppingcart.GetShoppingCart",
                ve_pb2.GetShoppingCart(user_id=key),
            )

        def command(n: int) -> Any:
            return stream_in(
                command=entity_pb2.Command(entity_id=key, id=n, name=name, payload=payload)
            )

        init = stream_in(init=value_entity_pb2.ValueEntityInit(service_name=VE_CART, entity_id=key))
        out = value_entity_pb2.ValueEntityStreamOut
        return "/cloudstate.valueentity.ValueEntity/handle", init, command, out

    return direct


def _crdt_direct(key: str) -> DirectSetup:
    payload = _any("com.example.crdts.LikeRequest", likes_pb2.LikeRequest(post_id=key))

    def command(n: int) -> Any:
        return crdt_pb2.CrdtStreamIn(
            command=entity_pb2.Command(entity_id=key, id=n, name="Like", payload=payload)
        )

    init = crdt_pb2.CrdtStreamIn(init=crdt_pb2.CrdtInit(service_name=LIKES, entity_id=key))
    return "/cloudstate.crdt.Crdt/handle", init, command, crdt_pb2.CrdtStreamOut


SCENARIOS = [
    Scenario(
        "cart",
        "event-sourced cart, 60% AddItem / 40% GetCart",
        shoppingcart_user_function,
        [f"/{CART}/{m}" for m in ("AddItem", "GetCart", "AddItem", "GetCart", "AddItem")],
        # GetShoppingCart parses an AddLineItem's bytes (same field 1, the rest unknown fields),
        # so one body per entity serves both methods.
        lambda i: grpc_frame(_add_item(f"cart-{i}").SerializeToString()),
        _CART_HTTP,
        _cart_direct,
        extra_grpc_port=True,
    ),
    Scenario(
        "ve-update",
        "value entity, AddItem (the new state written before the reply)",
        _example("valueentity", "valueentity.shopping_cart"),
        [f"/{VE_CART}/AddItem"],
        lambda i: grpc_frame(
            ve_pb2.AddLineItem(
                user_id=f"ve-{i}", product_id="p1", name="item", quantity=1
            ).SerializeToString()
        ),
        _VE_UPDATE_HTTP,
        _ve_direct("AddItem"),
    ),
    Scenario(
        "ve-get",
        "value entity, GetCart",
        _example("valueentity", "valueentity.shopping_cart"),
        [f"/{VE_CART}/GetCart"],
        lambda i: grpc_frame(ve_pb2.GetShoppingCart(user_id=f"ve-{i}").SerializeToString()),
        _VE_GET_HTTP,
        _ve_direct("GetCart"),
    ),
    Scenario(
        "crdt",
        "CRDT GCounter increment (Likes.Like, stored before the reply)",
        _example("crdts", "crdts.main"),
        [f"/{LIKES}/Like"],
        lambda i: grpc_frame(likes_pb2.LikeRequest(post_id=f"post-{i}").SerializeToString()),
        _CRDT_HTTP,
        _crdt_direct,
    ),
    Scenario(
        "action",
        "action echo (acttest.Echo/Echo, 32-byte message)",
        _action_uf,
        ["/acttest.Echo/Echo"],
        lambda i: grpc_frame(action_model.Item(text="x" * 30).SerializeToString()),
        _ACTION_HTTP,
        None,
    ),
]
