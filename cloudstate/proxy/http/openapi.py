"""An OpenAPI 3 document generated from the HTTP bindings of the discovered services.

Each binding becomes an operation: path variables are path parameters, fields not bound by the
path or body are query parameters (for rules without ``body: "*"``), the body and the reply are
JSON schemas built from the message descriptors in the proto3 JSON mapping (64-bit integers as
strings, enums by name, well-known types in their JSON form). Served at ``/openapi.json``.
Example::

    document = openapi_document(model, all_bindings(model), JsonOptions())
    document["paths"]["/carts/{user_id}"]["get"]["operationId"]   # "...ShoppingCart.GetCart"
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from cloudstate.proxy.http.rules import Binding, is_map, message_name, message_of
from cloudstate.proxy.http.transcode import JsonOptions
from cloudstate.proxy.model import UserFunctionModel

_SCALARS: dict[int, dict[str, Any]] = {
    FieldDescriptor.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number", "format": "float"},
    FieldDescriptor.TYPE_INT64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_UINT64: {"type": "string", "format": "uint64"},
    FieldDescriptor.TYPE_SINT64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_FIXED64: {"type": "string", "format": "uint64"},
    FieldDescriptor.TYPE_SFIXED64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_INT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_UINT32: {"type": "integer", "format": "int64", "minimum": 0},
    FieldDescriptor.TYPE_FIXED32: {"type": "integer", "format": "int64", "minimum": 0},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BYTES: {"type": "string", "format": "byte"},
}

_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "example": "1.5s"},
    "google.protobuf.FieldMask": {"type": "string", "example": "a.b,c"},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "additionalProperties": True,
    },
    "google.protobuf.DoubleValue": {"type": "number", "nullable": True},
    "google.protobuf.FloatValue": {"type": "number", "nullable": True},
    "google.protobuf.Int64Value": {"type": "string", "format": "int64", "nullable": True},
    "google.protobuf.UInt64Value": {"type": "string", "format": "uint64", "nullable": True},
    "google.protobuf.Int32Value": {"type": "integer", "nullable": True},
    "google.protobuf.UInt32Value": {"type": "integer", "nullable": True},
    "google.protobuf.BoolValue": {"type": "boolean", "nullable": True},
    "google.protobuf.StringValue": {"type": "string", "nullable": True},
    "google.protobuf.BytesValue": {"type": "string", "format": "byte", "nullable": True},
}

_OPENAPI_VERBS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})

ERROR_SCHEMA = {
    "type": "object",
    "description": "google.rpc.Status: the gRPC code number, a message naming what went wrong",
    "properties": {
        "code": {"type": "integer"},
        "message": {"type": "string"},
        "details": {"type": "array", "items": {"type": "object"}},
    },
}


class _Schemas:
    def __init__(self, options: JsonOptions) -> None:
        self.options = options
        self.components: dict[str, Any] = {"google.rpc.Status": ERROR_SCHEMA}

    def name(self, fd: FieldDescriptor) -> str:
        return fd.name if self.options.proto_names else fd.json_name

    def message(self, descriptor: Descriptor) -> dict[str, Any]:
        if descriptor.full_name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[descriptor.full_name])
        ref = {"$ref": f"#/components/schemas/{descriptor.full_name}"}
        if descriptor.full_name in self.components:
            return ref
        schema: dict[str, Any] = {"type": "object", "properties": {}}
        self.components[descriptor.full_name] = schema  # before recursing: cycles end here
        for fd in descriptor.fields:
            schema["properties"][self.name(fd)] = self.field(fd)
        return ref

    def field(self, fd: FieldDescriptor) -> dict[str, Any]:
        if is_map(fd):
            value = message_of(fd).fields_by_name["value"]
            return {"type": "object", "additionalProperties": self.single(value)}
        single = self.single(fd)
        if fd.is_repeated:
            return {"type": "array", "items": single}
        return single

    def single(self, fd: FieldDescriptor) -> dict[str, Any]:
        if fd.type == FieldDescriptor.TYPE_MESSAGE or fd.type == FieldDescriptor.TYPE_GROUP:
            return self.message(message_of(fd))
        if fd.type == FieldDescriptor.TYPE_ENUM and fd.enum_type is not None:
            return {"type": "string", "enum": [v.name for v in fd.enum_type.values]}
        return dict(_SCALARS[fd.type])


def _query_parameters(
    schemas: _Schemas, message: Descriptor, bound: set[str], prefix: str, depth: int
) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for fd in message.fields:
        path = prefix + fd.name
        if path in bound:
            continue
        if fd.type == FieldDescriptor.TYPE_MESSAGE:
            if is_map(fd):
                continue
            full = message_name(fd)
            if full in _WELL_KNOWN and full not in (
                "google.protobuf.Struct",
                "google.protobuf.Any",
            ):
                params.append(_param(path, "query", schemas.field(fd)))
            elif depth < 3 and not fd.is_repeated:
                params += _query_parameters(schemas, message_of(fd), bound, path + ".", depth + 1)
            continue
        params.append(_param(path, "query", schemas.field(fd)))
    return params


def _param(name: str, where: str, schema: dict[str, Any]) -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "in": where, "schema": schema}
    if where == "path":
        param["required"] = True
    if schema.get("type") == "array":
        param["explode"] = True
    return param


def _operation(schemas: _Schemas, binding: Binding, operation_id: str) -> dict[str, Any]:
    method = binding.method
    service = method.service
    summary = f"{service.name}.{method.name} ({service.entity_type.rsplit('.', 1)[-1]})"
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "tags": [service.name],
    }
    params = []
    for variable in binding.template.variables:
        chain = binding.path_fields[variable.field_path]
        schema = schemas.field(chain[-1])
        segments = binding.template.segments[
            variable.start : variable.end if variable.end is not None else None
        ]
        if segments != ("*",):
            schema = {**schema, "description": f"matches {'/'.join(segments)}"}
        params.append(_param(variable.field_path, "path", schema))
    if binding.body != "*":
        bound = set(binding.path_fields)
        if binding.body_field is not None:
            bound.add(binding.body_field.name)
        params += _query_parameters(schemas, method.input_type, bound, "", 0)
    if params:
        operation["parameters"] = params
    if binding.body:
        if binding.http_body_in:
            content: dict[str, Any] = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
        elif binding.body == "*":
            content = {"application/json": {"schema": schemas.message(method.input_type)}}
        else:
            assert binding.body_field is not None
            content = {"application/json": {"schema": schemas.field(binding.body_field)}}
        operation["requestBody"] = {"required": False, "content": content}
    if binding.http_body_out:
        reply_content: dict[str, Any] = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
    else:
        if binding.response_field is not None:
            schema = schemas.field(binding.response_field)
        else:
            schema = schemas.message(method.output_type)
        if method.server_streaming:
            reply_content = {
                "application/x-ndjson": {"schema": schema},
                "text/event-stream": {"schema": schema},
            }
        else:
            reply_content = {"application/json": {"schema": schema}}
    operation["responses"] = {
        "200": {"description": "the reply", "content": reply_content},
        "default": {
            "description": "an error, with the HTTP status of its gRPC code",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/google.rpc.Status"}}
            },
        },
    }
    return operation


def openapi_document(
    model: UserFunctionModel, bindings: list[Binding], options: JsonOptions
) -> dict[str, Any]:
    """The OpenAPI 3.0 document of all bindings but those of internal methods (clients cannot
    call them)."""
    schemas = _Schemas(options)
    paths: dict[str, dict[str, Any]] = {}
    counts: dict[str, int] = {}
    for binding in bindings:
        method = binding.method
        if method.internal:
            continue
        base_id = f"{method.service.name}.{method.name}"
        counts[base_id] = counts.get(base_id, 0) + 1
        operation_id = base_id if counts[base_id] == 1 else f"{base_id}_{counts[base_id]}"
        verbs = (
            ["get", "post", "put", "patch", "delete"]
            if binding.http_method == "*"
            else [binding.http_method.lower()]
        )
        item = paths.setdefault(binding.template.openapi_path(), {})
        for verb in verbs:
            operation = _operation(schemas, binding, operation_id)
            if verb not in _OPENAPI_VERBS:
                # OpenAPI 3.0 has no custom methods: listed under an extension instead.
                item.setdefault("x-custom-methods", {}).setdefault(verb.upper(), operation)
            elif verb not in item:
                item[verb] = operation
    title = model.service_info.service_name or ", ".join(sorted(model.services)) or "cloudstate"
    return {
        "openapi": "3.0.3",
        "info": {
            "title": title,
            "version": model.service_info.service_version or "0",
            "description": "Served by the cloudstate proxy: HTTP/JSON transcoding of the "
            "discovered gRPC services (also reachable over gRPC and gRPC-web).",
        },
        "paths": paths,
        "components": {"schemas": schemas.components},
    }
