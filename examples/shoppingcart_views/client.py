"""Call the views example through the proxy.

    python examples/shoppingcart_views/client.py add alice apple 'Red apple' 3
    python examples/shoppingcart_views/client.py checkout alice   # publishes a confirmation
    python examples/shoppingcart_views/client.py top 5            # the popular products view
    python examples/shoppingcart_views/client.py product apple
    python examples/shoppingcart_views/client.py confirmation alice

``--port`` selects the proxy's port (default 9000).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cartviews import cartviews_pb2 as pb
from cartviews import cartviews_pb2_grpc as rpc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=9000)
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="add items to a cart")
    add.add_argument("cart_id")
    add.add_argument("product_id")
    add.add_argument("name")
    add.add_argument("quantity", type=int)
    commands.add_parser("checkout", help="check a cart out").add_argument("cart_id")
    commands.add_parser("top", help="the most added products").add_argument(
        "limit", type=int, nargs="?", default=10
    )
    commands.add_parser("product", help="one product's popularity").add_argument("product_id")
    commands.add_parser("confirmation", help="a cart's order confirmation").add_argument("cart_id")
    args = parser.parse_args()

    with grpc.insecure_channel(f"127.0.0.1:{args.port}") as channel:
        cart = rpc.ShoppingCartStub(channel)
        popular = rpc.PopularProductsStub(channel)
        if args.command == "add":
            request = pb.AddLineItem(
                cart_id=args.cart_id,
                product_id=args.product_id,
                name=args.name,
                quantity=args.quantity,
            )
            cart.AddItem(request, timeout=10)
            print(f"added {args.quantity} x {args.product_id} to {args.cart_id}")
        elif args.command == "checkout":
            confirmation = cart.Checkout(pb.CheckoutRequest(cart_id=args.cart_id), timeout=10)
            print(f"checked out {confirmation.cart_id}: {confirmation.total_quantity} items")
        elif args.command == "top":
            top = popular.GetTopProducts(pb.TopProductsRequest(limit=args.limit), timeout=10)
            for rank, product in enumerate(top.products, 1):
                print(f"{rank}. {product.name} ({product.product_id}): {product.quantity}")
        elif args.command == "product":
            product = popular.GetProduct(pb.ProductRequest(product_id=args.product_id), timeout=10)
            print(f"{product.name}: {product.quantity} in {product.carts} additions")
        else:
            confirmations = rpc.ConfirmationsStub(channel)
            found = confirmations.GetConfirmation(
                pb.ConfirmationRequest(cart_id=args.cart_id), timeout=10
            )
            print(f"{found.cart_id}: {found.lines} lines, {found.total_quantity} items")


if __name__ == "__main__":
    main()
