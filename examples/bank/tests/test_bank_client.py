"""The bank client's retries: the same idempotency key on every attempt, retries only while the
proxy is unreachable (the call may or may not have run), other errors at once."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import grpc
import pytest

# examples/bank/client.py, under a name of its own (every example has a client.py).
_spec = importlib.util.spec_from_file_location(
    "bank_client", Path(__file__).resolve().parent.parent / "client.py"
)
assert _spec is not None and _spec.loader is not None
bank_client = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bank_client)
call_with_key = bank_client.call_with_key


class Failing(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code


class FlakyMethod:
    """A stub method that fails with ``codes`` first, then answers."""

    def __init__(self, *codes: grpc.StatusCode) -> None:
        self.codes = list(codes)
        self.calls: list[tuple[Any, Any]] = []

    def __call__(self, request: Any, metadata: Any, timeout: float) -> str:
        self.calls.append((request, metadata))
        if self.codes:
            raise Failing(self.codes.pop(0))
        return "answer"


def test_a_call_is_retried_with_the_same_key_while_the_proxy_is_unreachable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bank_client.time, "sleep", lambda seconds: None)
    method = FlakyMethod(grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    assert call_with_key(method, "request", "start-t1") == "answer"
    assert method.calls == [("request", [("idempotency-key", "start-t1")])] * 3


def test_other_errors_are_not_retried() -> None:
    method = FlakyMethod(grpc.StatusCode.FAILED_PRECONDITION)
    with pytest.raises(grpc.RpcError):
        call_with_key(method, "request", "start-t1")
    assert len(method.calls) == 1
