"""A gRPC client for the raw user function's Counter service, through the proxy."""

from __future__ import annotations

import sys
from pathlib import Path

import grpc

RAWUF_DIR = Path(__file__).resolve().parent.parent / "rawuf"
if str(RAWUF_DIR) not in sys.path:
    sys.path.insert(0, str(RAWUF_DIR))

from rawuf import counter_pb2  # noqa: E402

SERVICE = "/rawuf.Counter/"


class CounterClient:
    def __init__(self, port: int) -> None:
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")

    def _call(
        self, method: str, request: object, response_type: type, timeout: float = 10
    ) -> object:
        rpc = self.channel.unary_unary(
            SERVICE + method,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_type.FromString,
        )
        return rpc(request, timeout=timeout)

    def increase(self, counter_id: str, by: int) -> counter_pb2.Value:
        return self._call(
            "Increase", counter_pb2.IncreaseRequest(counter_id=counter_id, by=by), counter_pb2.Value
        )  # type: ignore[return-value]

    def get(self, counter_id: str, timeout: float = 10) -> counter_pb2.Value:
        return self._call(  # type: ignore[return-value]
            "Get", counter_pb2.GetRequest(counter_id=counter_id), counter_pb2.Value, timeout
        )

    def fail(self, counter_id: str) -> counter_pb2.Value:
        return self._call(
            "Fail", counter_pb2.IncreaseRequest(counter_id=counter_id, by=1), counter_pb2.Value
        )  # type: ignore[return-value]

    def fail_with(self, counter_id: str, by: int) -> counter_pb2.Value:
        return self._call(  # type: ignore[return-value]
            "Fail", counter_pb2.IncreaseRequest(counter_id=counter_id, by=by), counter_pb2.Value
        )

    def entity_id_of(self, tenant: str, name: str) -> str:
        reply = self._call(
            "EntityIdOf",
            counter_pb2.MultiKeyRequest(tenant=tenant, name=name),
            counter_pb2.MultiKeyRequest,
        )
        return reply.name  # type: ignore[attr-defined,no-any-return]

    def raw(self, method: str, data: bytes, timeout: float = 10) -> bytes:
        rpc = self.channel.unary_unary(method)
        return rpc(data, timeout=timeout)  # type: ignore[no-any-return]

    def close(self) -> None:
        self.channel.close()
