"""Admin operation ``CallMethod``: call a method of the user function with a JSON request, as a
client calling its default HTTP route ``POST /<package.Service>/<Method>`` (body ``*``) would: the
same transcoding (:mod:`cloudstate.proxy.http.transcode`), the same router, the caller's
authorization passed along (the service's auth rules apply as for a client). The console's
"call it" form sends this.

Example (HTTP; NDJSON, one line per reply message as it arrives)::

    POST /v1/call  {"service": "ShoppingCart", "method": "AddItem",
                    "request": {"userId": "alice", "productId": "apple", "quantity": 1}}
    -> {"reply":{}}
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from google.protobuf import json_format

from cloudstate.protocol import admin_pb2, entity_pb2
from cloudstate.proxy.admin.operations import (
    NotFound,
    ProxyState,
    Starting,
    ready,
    streaming_operation,
)
from cloudstate.proxy.errors import BadRequest
from cloudstate.proxy.http.rules import Binding, method_bindings
from cloudstate.proxy.http.transcode import JsonOptions, build_request, reply_value
from cloudstate.proxy.model import MethodModel, UserFunctionModel

JSON = "application/json"


def find_method(model: UserFunctionModel, service: str, method: str) -> MethodModel:
    """``service`` (full name or last part) and ``method``; NotFound naming what there is."""
    services = [
        s for s in model.services.values() if service in (s.name, s.name.rsplit(".", 1)[-1])
    ]
    if not services:
        known = ", ".join(model.services) or "none"
        raise NotFound(f"no service {service!r} (the services are: {known})")
    if len(services) > 1:
        names = ", ".join(s.name for s in services)
        raise BadRequest(f"service {service!r} is ambiguous: {names}; give the full name")
    found = services[0].methods.get(method)
    if found is None:
        known = ", ".join(services[0].methods) or "none"
        raise NotFound(f"{services[0].name} has no method {method!r} (its methods: {known})")
    return found


def _messages(binding: Binding, request: object, model: UserFunctionModel) -> list[bytes]:
    method = binding.method
    documents = request if method.client_streaming and isinstance(request, list) else [request]
    if method.client_streaming and not isinstance(request, list):
        raise BadRequest(
            f"{method.service.name}.{method.name} is client-streaming: send its request "
            "messages as a JSON array"
        )
    return [
        build_request(binding, {}, "", json.dumps(doc or {}).encode(), JSON, model.pool)
        for doc in documents
    ]


@streaming_operation("CallMethod")
async def call_method(
    request: admin_pb2.CallMethodRequest,
    proxy: ProxyState,
    metadata: entity_pb2.Metadata | None,
) -> AsyncIterator[admin_pb2.CallMethodReply]:
    _, model = ready(proxy)
    router = proxy.router
    if router is None:
        raise Starting("the proxy is starting: its router is not ready yet; retry in a moment")
    if not request.service or not request.method:
        raise BadRequest("CallMethod: give the service and the method to call")
    method = find_method(model, request.service, request.method)
    # The default route's binding (POST /pkg.Service/Method, body "*"), whatever the method's
    # own routes are: the whole request is the JSON body.
    binding = method_bindings(method, None, default_routes=True)[0]
    document = json_format.MessageToDict(request.request) if request.HasField("request") else {}
    payloads = _messages(binding, document, model)
    config = proxy.config
    options = JsonOptions(
        proto_names=config.http_proto_names, emit_defaults=config.http_emit_defaults
    )

    def reply_of(payload: bytes) -> admin_pb2.CallMethodReply:
        value = reply_value(binding, payload, options, model.pool)
        reply = admin_pb2.CallMethodReply()
        json_format.ParseDict(value, reply.reply)
        return reply

    if not method.client_streaming and not method.server_streaming:
        answer = await router.call(method, payloads[0], metadata)
        yield reply_of(answer.payload)
        return

    async def requests() -> AsyncIterator[bytes]:
        for payload in payloads:
            yield payload

    stream = router.stream(method, requests() if method.client_streaming else payloads[0], metadata)
    try:
        async for answer in stream:
            yield reply_of(answer.payload)
    finally:
        await stream.aclose()
