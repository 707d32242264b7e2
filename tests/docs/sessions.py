"""Which documented shell blocks each test runs, in which order.

A block is named by its document and a piece of its text. Each session starts from the
repository root with a fresh temporary store; blocks run in order in one shell (a session's
first blocks typically start the service its later blocks call). ``tests/docs/test_coverage.py``
checks that every ``sh`` block of the documentation appears here (or in the getting-started
replay), so a new documented command cannot go untested.
"""

from __future__ import annotations

#: session name -> the blocks it runs.
SESSIONS: dict[str, list[tuple[str, str]]] = {
    # README: `make run`, then the example client against it.
    "readme-make-run": [
        ("README.md", "make run"),
        ("README.md", "client.py add alice"),
    ],
    # README: the development command, then the curl tour.
    "readme-curl-tour": [
        ("README.md", "cloudstate run shoppingcart.shopping_cart"),
        ("README.md", "curl -X POST localhost:9000/cart/alice/items/add"),
    ],
    # docs/http.md's curl calls, on a cart started as the README says.
    "http-curl": [
        ("README.md", "cloudstate run shoppingcart.shopping_cart"),
        ("docs/http.md", "curl -X POST localhost:9000/cart/alice/items/add"),
    ],
    # The user function alone (eventsourced.md), then every way of putting a proxy in front.
    "user-function-and-proxies": [
        ("docs/eventsourced.md", "python -m shoppingcart.shopping_cart"),
        ("docs/proxy-configuration.md", "cloudstate proxy --user-function"),
    ],
    # docs/observability.md: a proxy with an admin port, then its /metrics.
    "observability": [
        ("docs/eventsourced.md", "python -m shoppingcart.shopping_cart"),
        ("docs/observability.md", "--admin-port 9090"),
    ],
    # docs/observability.md: a proxy with --tracing (no collector: spans are dropped with a
    # warning), called with a client traceparent.
    "observability-tracing": [
        ("docs/eventsourced.md", "python -m shoppingcart.shopping_cart"),
        ("docs/observability.md", "--tracing"),
    ],
    # The value-entity example: run, then its client and curl calls.
    "valueentity": [
        ("docs/valueentity.md", "cloudstate run valueentity.shopping_cart"),
        ("docs/valueentity.md", "client.py add alice"),
    ],
    # Scale-out: a proxy on PostgreSQL in front of the cart's user function.
    "scale-out": [
        ("docs/eventsourced.md", "python -m shoppingcart.shopping_cart"),
        ("docs/scale-out.md", "pip install asyncpg"),
    ],
    # docs/eventing.md: a NATS JetStream server and a proxy using it as the external broker.
    "nats-broker": [
        ("docs/eventsourced.md", "python -m shoppingcart.shopping_cart"),
        ("docs/eventing.md", "nats-server -js"),
    ],
    # docs/tck.md: the conformance kit against our model, directly and through our proxy.
    "tck": [
        ("docs/tck.md", "cloudstate tck language-support --start-model"),
        ("docs/tck.md", "cloudstate tck proxy --start --start-model"),
    ],
    # docs/admin.md: the cart with an admin port, then every read-only admin command.
    "admin": [
        ("docs/admin.md", "--path examples/shoppingcart --admin-port 9090"),
        ("docs/admin.md", "cloudstate admin services"),
    ],
    # docs/admin.md: the views example with an admin port, its consumers reset, its view rebuilt.
    "admin-eventing": [
        ("docs/admin.md", "cloudstate run cartviews.main"),
    ],
    # docs/cli.md: run --reload, call, inspect (outputs compared with the page).
    "cli": [
        ("docs/cli.md", "cloudstate run shoppingcart.shopping_cart"),
        ("docs/cli.md", "cloudstate call\n"),
        ("docs/cli.md", "cloudstate call ShoppingCart.AddItem"),
        ("docs/cli.md", "cloudstate inspect\n"),
    ],
}

#: The protoc command of each page, run in a copy of the example it is written for.
PROTOC: dict[tuple[str, str], str] = {
    ("README.md", "python -m cloudstate.protoc"): "examples/shoppingcart",
    ("docs/eventsourced.md", "python -m cloudstate.protoc"): "examples/shoppingcart",
    ("docs/valueentity.md", "python -m cloudstate.protoc"): "examples/valueentity",
}

#: Template placeholders of the proxy configuration page.
PLACEHOLDERS = {"MODULE": "shoppingcart.shopping_cart", "DIR": "examples/shoppingcart"}

#: Documented commands no test runs, and why.
NOT_RUN = {
    "make test": "it is the command that runs this test suite (CI runs it: .ci/run)",
}

#: Pages replayed whole, every ``sh`` block in order (test_getting_started.py and
#: test_install_page.py).
REPLAYED = ("docs/getting-started.md", "docs/install.md")
