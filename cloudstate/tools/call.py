"""``cloudstate call``: invoke a method through the proxy with a JSON request.

The proxy's gRPC server reflection tells the tool every service, method and message type, so no
generated code or ``.proto`` file is needed::

    cloudstate call                                     # list the services and their methods
    cloudstate call ShoppingCart.AddItem '{"user_id": "alice", "product_id": "a", "quantity": 1}'
    cloudstate call GetCart '{"user_id": "alice"}'      # a method name alone, if unambiguous

The reply is printed as JSON; a failure prints its status and description and exits with 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import Any

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message

from cloudstate.client import snake_case

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9000
DEFAULT_PROXY = f"{DEFAULT_HOST}:{DEFAULT_PORT}"
_HIDDEN = ("grpc.reflection.", "grpc.health.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "method",
        nargs="?",
        help="Service/Method, Service.Method, package.Service.Method or a unique method name "
        "(snake_case works too); omit it to list what the proxy serves",
    )
    parser.add_argument(
        "request",
        nargs="?",
        default="{}",
        help="the request as JSON (default {}); - reads it from stdin",
    )
    parser.add_argument(
        "--port",
        type=int,
        help=f"the proxy's port, as given to cloudstate run / proxy (default {DEFAULT_PORT})",
    )
    parser.add_argument("--host", help=f"the proxy's host (default {DEFAULT_HOST})")
    parser.add_argument(
        "--proxy",
        metavar="HOST:PORT",
        help="the proxy as one address (the same as --host HOST --port PORT)",
    )
    parser.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="KEY:VALUE",
        help="send a metadata entry with the call; repeatable",
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS", help="deadline (default 10)"
    )
    parser.add_argument("--compact", action="store_true", help="print replies on one line each")


def proxy_address(args: argparse.Namespace) -> str:
    """HOST:PORT of the proxy to call: ``--proxy``, or ``--host`` / ``--port`` (each defaulted);
    ValueError if both ways are used."""
    if args.proxy is not None:
        if args.host is not None or args.port is not None:
            raise ValueError("give the proxy as --proxy HOST:PORT or with --host/--port, not both")
        return str(args.proxy)
    return f"{args.host or DEFAULT_HOST}:{DEFAULT_PORT if args.port is None else args.port}"


def run_from_args(args: argparse.Namespace) -> int:
    try:
        metadata = tuple(_header(h) for h in args.header)
        address = proxy_address(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    with grpc.insecure_channel(address) as channel:
        try:
            catalog = Catalog(channel)
            if args.method is None:
                print(catalog.describe(address))
                return 0
            method = catalog.find(args.method)
        except LookupError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        except grpc.RpcError as e:
            print(
                f"error: cannot list the services of {address} ({_status(e)}); is the proxy "
                "running there? (cloudstate run ... / cloudstate proxy ...)",
                file=sys.stderr,
            )
            return 1
        text = sys.stdin.read() if args.request == "-" else args.request
        try:
            request = parse_request(method, text)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        indent = None if args.compact else 2
        try:
            for reply in invoke(channel, method, request, metadata, args.timeout):
                print(
                    json.dumps(
                        json_format.MessageToDict(reply, preserving_proto_field_name=True),
                        ensure_ascii=False,
                        indent=indent,
                    ),
                    flush=True,
                )
        except grpc.RpcError as e:
            print(f"error: {method.full_name}: {_status(e)}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130
    return 0


class Catalog:
    """The services a server offers, learned through its reflection service."""

    def __init__(self, channel: grpc.Channel) -> None:
        from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
            ProtoReflectionDescriptorDatabase,
        )

        database = ProtoReflectionDescriptorDatabase(channel)
        self.pool = descriptor_pool.DescriptorPool(database)
        names = [n for n in database.get_services() if not n.startswith(_HIDDEN)]
        self.services: list[ServiceDescriptor] = [
            self.pool.FindServiceByName(n) for n in sorted(names)
        ]

    def methods(self) -> Iterator[MethodDescriptor]:
        for service in self.services:
            yield from service.methods

    def find(self, name: str) -> MethodDescriptor:
        """The method ``name`` names (see :func:`add_arguments` for the accepted forms)."""
        wanted = name.replace("/", ".").strip(".")
        matches = [
            m
            for m in self.methods()
            if wanted
            in (
                m.full_name,
                f"{m.containing_service.name}.{m.name}",
                m.name,
                snake_case(m.name),
                f"{m.containing_service.name}.{snake_case(m.name)}",
            )
        ]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            known = ", ".join(f"{m.containing_service.name}.{m.name}" for m in self.methods())
            raise LookupError(f"no method {name!r}; the proxy serves: {known or 'nothing'}")
        raise LookupError(
            f"{name!r} is ambiguous: {', '.join(m.full_name for m in matches)}; name the service"
        )

    def describe(self, address: str) -> str:
        lines = [f"{address} serves:"]
        for service in self.services:
            lines.append(f"  {service.full_name}")
            for method in service.methods:
                stream_in = "stream " if method.client_streaming else ""
                stream_out = "stream " if method.server_streaming else ""
                lines.append(
                    f"    {method.name}({stream_in}{method.input_type.full_name}) returns "
                    f"({stream_out}{method.output_type.full_name})"
                )
        if not self.services:
            lines.append("  (nothing)")
        lines.append('Call one: cloudstate call Service.Method \'{"field": "value"}\'')
        return "\n".join(lines)


def parse_request(method: MethodDescriptor, text: str) -> Message:
    """The JSON ``text`` as ``method``'s input message (proto or lowerCamel field names)."""
    message = message_factory.GetMessageClass(method.input_type)()
    try:
        json_format.Parse(text or "{}", message)
    except json_format.ParseError as e:
        fields = ", ".join(f.name for f in method.input_type.fields)
        reason = str(e).split("\n")[0].rstrip(".")
        raise ValueError(
            f"the request is not a valid {method.input_type.full_name}: {reason}; its fields: "
            f"{fields}"
        ) from None
    return message


def invoke(
    channel: grpc.Channel,
    method: MethodDescriptor,
    request: Message,
    metadata: tuple[tuple[str, str | bytes], ...],
    timeout: float,
) -> Iterator[Message]:
    """Call ``method``; yields the reply, or each streamed reply."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    output = message_factory.GetMessageClass(method.output_type)
    serialize = _serialize
    if method.client_streaming:
        requests = iter([request])
        if method.server_streaming:
            yield from channel.stream_stream(path, serialize, output.FromString)(
                requests, metadata=metadata, timeout=timeout
            )
        else:
            yield channel.stream_unary(path, serialize, output.FromString)(
                requests, metadata=metadata, timeout=timeout
            )
    elif method.server_streaming:
        # A stream stays open until the server ends it: no deadline, Ctrl-C stops it.
        yield from channel.unary_stream(path, serialize, output.FromString)(
            request, metadata=metadata
        )
    else:
        yield channel.unary_unary(path, serialize, output.FromString)(
            request, metadata=metadata, timeout=timeout
        )


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


def _header(text: str) -> tuple[str, str | bytes]:
    key, sep, value = text.partition(":")
    if not sep or not key.strip():
        raise ValueError(f"header {text!r} is not KEY:VALUE")
    return key.strip().lower(), value.strip()


def _status(error: Any) -> str:
    code = error.code() if hasattr(error, "code") else None
    details = error.details() if hasattr(error, "details") else str(error)
    return f"{code.name if code is not None else 'ERROR'}: {details}"
