"""Call the value-entity shopping cart through the proxy.

    python examples/valueentity/client.py add alice apple "Red apple" 3
    python examples/valueentity/client.py remove alice apple
    python examples/valueentity/client.py get alice
    python examples/valueentity/client.py remove-cart alice

``--port`` selects the proxy's port (default 9000).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))

from valueentity import shoppingcart_pb2, shoppingcart_pb2_grpc


def main() -> None:
    parser = argparse.ArgumentParser(description="Value-entity shopping-cart client")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="add an item to a cart")
    add.add_argument("user_id")
    add.add_argument("product_id")
    add.add_argument("name")
    add.add_argument("quantity", type=int)
    remove = commands.add_parser("remove", help="remove an item from a cart")
    remove.add_argument("user_id")
    remove.add_argument("product_id")
    get = commands.add_parser("get", help="show a cart")
    get.add_argument("user_id")
    remove_cart = commands.add_parser("remove-cart", help="throw a whole cart away")
    remove_cart.add_argument("user_id")
    args = parser.parse_args()

    with grpc.insecure_channel(f"{args.host}:{args.port}") as channel:
        cart = shoppingcart_pb2_grpc.ShoppingCartStub(channel)
        try:
            if args.command == "add":
                cart.AddItem(
                    shoppingcart_pb2.AddLineItem(
                        user_id=args.user_id,
                        product_id=args.product_id,
                        name=args.name,
                        quantity=args.quantity,
                    ),
                    timeout=10,
                )
                print("added")
            elif args.command == "remove":
                cart.RemoveItem(
                    shoppingcart_pb2.RemoveLineItem(
                        user_id=args.user_id, product_id=args.product_id
                    ),
                    timeout=10,
                )
                print("removed")
            elif args.command == "remove-cart":
                cart.RemoveCart(
                    shoppingcart_pb2.RemoveShoppingCart(user_id=args.user_id), timeout=10
                )
                print("cart removed")
            else:
                result = cart.GetCart(
                    shoppingcart_pb2.GetShoppingCart(user_id=args.user_id), timeout=10
                )
                if not result.items:
                    print(f"{args.user_id}'s cart is empty")
                for item in result.items:
                    print(f"{item.quantity:>4} x {item.name} ({item.product_id})")
        except grpc.RpcError as e:
            print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
            sys.exit(1)


if __name__ == "__main__":
    main()
