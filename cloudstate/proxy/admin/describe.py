"""Admin operation ``DescribeServices``: every service of the user function, its methods with
their HTTP routes, and the schemas of the messages they use (from the descriptors reported at
discovery), for the console's service pages and "call it" forms.

Example (HTTP)::

    GET /v1/describe
    -> {"services": [{"name": "com.example.shoppingcart.ShoppingCart", "kind": "event-sourced",
         "methods": [{"name": "AddItem", "inputType": "...AddLineItem",
                      "httpRoutes": ["POST /cart/{user_id}/items/add"], ...}]}],
        "messages": [{"name": "...AddLineItem", "fields": [{"name": "user_id", ...}]}]}
"""

from __future__ import annotations

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from cloudstate.protocol import admin_pb2
from cloudstate.proxy.admin.entities import kind_of
from cloudstate.proxy.admin.operations import ProxyState, operation, ready
from cloudstate.proxy.http.rules import HttpRuleError, all_bindings

#: Field type numbers (descriptor.proto) as the names the schema shows.
TYPE_NAMES = {
    value: name.removeprefix("TYPE_").lower()
    for name, value in vars(FieldDescriptor).items()
    if name.startswith("TYPE_") and isinstance(value, int)
}


def field_schema(field: FieldDescriptor) -> admin_pb2.FieldSchema:
    schema = admin_pb2.FieldSchema(
        name=field.name,
        json_name=field.json_name,
        type=TYPE_NAMES.get(field.type, str(field.type)),
        repeated=field.is_repeated,
    )
    if field.message_type is not None:
        schema.type_name = field.message_type.full_name
        schema.map = field.message_type.GetOptions().map_entry
    if field.enum_type is not None:
        schema.type_name = field.enum_type.full_name
        schema.enum_values.extend(value.name for value in field.enum_type.values)
    return schema


def message_schemas(roots: list[Descriptor]) -> list[admin_pb2.MessageSchema]:
    """The schemas of ``roots`` and of every message their fields reach, each once."""
    seen: dict[str, admin_pb2.MessageSchema] = {}
    pending = list(roots)
    while pending:
        message = pending.pop()
        if message.full_name in seen:
            continue
        schema = seen[message.full_name] = admin_pb2.MessageSchema(name=message.full_name)
        for field in message.fields:
            schema.fields.append(field_schema(field))
            if field.message_type is not None:
                pending.append(field.message_type)
    return [seen[name] for name in sorted(seen)]


@operation("DescribeServices")
async def describe_services(
    request: admin_pb2.DescribeServicesRequest, proxy: ProxyState
) -> admin_pb2.DescribeServicesResponse:
    _, model = ready(proxy)
    routes: dict[tuple[str, str], list[str]] = {}
    try:
        bindings = all_bindings(model, default_routes=proxy.config.http_default_routes)
    except HttpRuleError:  # the client port refused them too (logged there): show none
        bindings = []
    for binding in bindings:
        key = (binding.method.service.name, binding.method.name)
        routes.setdefault(key, []).append(binding.describe())
    reply = admin_pb2.DescribeServicesResponse()
    roots: list[Descriptor] = []
    for service in model.services.values():
        kind = kind_of(service, proxy)
        stateful = kind in ("event-sourced", "value", "crdt")
        described = reply.services.add(
            name=service.name,
            kind=kind,
            persistence_id=service.persistence_id if stateful else "",
        )
        for method in service.methods.values():
            described.methods.add(
                name=method.name,
                input_type=method.input_type.full_name,
                output_type=method.output_type.full_name,
                client_streaming=method.client_streaming,
                server_streaming=method.server_streaming,
                http_routes=routes.get((service.name, method.name), []),
            )
            roots += [method.input_type, method.output_type]
    reply.messages.extend(message_schemas(roots))
    return reply
