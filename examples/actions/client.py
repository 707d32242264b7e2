"""Call the actions example through the proxy.

    python examples/actions/client.py add alice apple 3          # validated, forwarded to the cart
    python examples/actions/client.py add-many alice banana:2 bread:1 nope:1
    python examples/actions/client.py catalog ap --delay-ms 300  # a server stream
    python examples/actions/client.py quote apple:3 coffee:1     # a duplex stream
    python examples/actions/client.py cart alice                 # the cart itself

``--port`` selects the proxy's port (default 9000).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cartactions  # noqa: F401  (puts the shopping-cart example on the path)
from cartactions import cart_actions_pb2, cart_actions_pb2_grpc
from shoppingcart import shoppingcart_pb2, shoppingcart_pb2_grpc


def items(user_id: str, specs: list[str]) -> Iterator[cart_actions_pb2.AddRequest]:
    for spec in specs:
        product_id, _, quantity = spec.partition(":")
        yield cart_actions_pb2.AddRequest(
            user_id=user_id, product_id=product_id, quantity=int(quantity or 1)
        )


def main() -> None:
    parser = argparse.ArgumentParser(description="Actions example client")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="add an item (checked, then forwarded to the cart)")
    add.add_argument("user_id")
    add.add_argument("product_id")
    add.add_argument("quantity", type=int)
    many = commands.add_parser("add-many", help="add PRODUCT:QUANTITY items in one stream")
    many.add_argument("user_id")
    many.add_argument("items", nargs="+")
    catalog = commands.add_parser("catalog", help="stream the catalog")
    catalog.add_argument("prefix", nargs="?", default="")
    catalog.add_argument("--delay-ms", type=int, default=0)
    quote = commands.add_parser("quote", help="price PRODUCT:QUANTITY items as they are sent")
    quote.add_argument("items", nargs="+")
    cart = commands.add_parser("cart", help="show a cart")
    cart.add_argument("user_id")
    args = parser.parse_args()

    with grpc.insecure_channel(f"{args.host}:{args.port}") as channel:
        actions = cart_actions_pb2_grpc.ShoppingCartActionsStub(channel)
        try:
            if args.command == "add":
                request = cart_actions_pb2.AddRequest(
                    user_id=args.user_id, product_id=args.product_id, quantity=args.quantity
                )
                actions.AddItem(request, timeout=10)
                print(f"added {args.quantity} x {args.product_id} to {args.user_id}'s cart")
            elif args.command == "add-many":
                summary = actions.AddItems(items(args.user_id, args.items), timeout=10)
                print(f"added {summary.added} item(s)")
                for reason in summary.rejected:
                    print(f"  refused: {reason}")
            elif args.command == "catalog":
                request = cart_actions_pb2.CatalogRequest(
                    prefix=args.prefix, delay_ms=args.delay_ms
                )
                for product in actions.Catalog(request, timeout=60):
                    print(f"{product.product_id:10} {product.name:24} {product.price_cents:>6} c")
            elif args.command == "quote":
                for line in actions.Quote(items("", args.items), timeout=10):
                    print(
                        f"{line.quantity:>3} x {line.product_id:10} {line.line_cents:>7} c"
                        f"   total {line.total_cents:>7} c"
                    )
            else:
                carts = shoppingcart_pb2_grpc.ShoppingCartStub(channel)
                cart_ = carts.GetCart(shoppingcart_pb2.GetShoppingCart(user_id=args.user_id))
                for item in cart_.items:
                    print(f"{item.quantity:>3} x {item.product_id:10} {item.name}")
                if not cart_.items:
                    print("(empty)")
        except grpc.RpcError as e:
            print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
            sys.exit(1)


if __name__ == "__main__":
    main()
