"""Fixtures of the HTTP tests: the echo user function and proxies in front of it (session scope),
and in-process HTTP APIs over a fake router (see support.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.processes import Process, http_echo_user_function, proxy, wait_serving


@dataclass
class Running:
    uf: Process
    default: Process  # default options
    custom: Process  # --http-proto-names --http-emit-defaults --cors-origin https://app.example

    def url(self, path: str, custom: bool = False) -> str:
        port = (self.custom if custom else self.default).port
        return f"http://127.0.0.1:{port}{path}"


@pytest.fixture(scope="session")
def echo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    tmp: Path = tmp_path_factory.mktemp("http-echo")
    uf = http_echo_user_function(tmp).start()
    started: list[Process] = []
    try:
        default = proxy(tmp, uf.port, "memory:").start()
        started.append(default)
        custom = proxy(
            tmp,
            uf.port,
            "memory:",
            "--http-proto-names",
            "--http-emit-defaults",
            "--cors-origin",
            "https://app.example",
        ).start()
        started.append(custom)
        for p in started:
            wait_serving(p.port)
        yield Running(uf, default, custom)
    finally:
        for p in started:
            p.terminate()
        uf.terminate()
