"""``CloudState().start(workers=N)``: N user-function processes on consecutive ports, a killed one
restarted, all stopped by one SIGTERM to the parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc

from cloudstate.protocol import entity_pb2, entity_pb2_grpc
from cloudstate.tools.run_workers import consecutive_free_ports
from tests.processes import SHOPPINGCART_DIR


def _discover(port: int, timeout: float = 30.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                spec = entity_pb2_grpc.EntityDiscoveryStub(channel).discover(
                    entity_pb2.ProxyInfo(), timeout=2
                )
                return [entity.service_name for entity in spec.entities]
        except grpc.RpcError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "--ppid", str(pid), "-o", "pid="], capture_output=True, text=True)
    return [int(line) for line in out.stdout.split()]


def test_two_user_function_processes_on_consecutive_ports(tmp_path: Path) -> None:
    port = consecutive_free_ports(2, 23500)
    env = dict(os.environ, HOST="127.0.0.1", PORT=str(port), CLOUDSTATE_WORKERS="2")
    log = open(tmp_path / "uf.log", "wb")
    parent = subprocess.Popen(
        [sys.executable, "-m", "shoppingcart.shopping_cart"],
        cwd=SHOPPINGCART_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        for p in (port, port + 1):
            assert _discover(p) == ["com.example.shoppingcart.ShoppingCart"]
        children = [c for c in _children(parent.pid) if c != parent.pid]
        serving = [c for c in children if "shoppingcart" in Path(f"/proc/{c}/cmdline").read_text()]
        assert len(serving) == 2, children
        os.kill(serving[1], signal.SIGKILL)
        time.sleep(0.5)
        assert _discover(port) and _discover(port + 1)  # both ports serve again
        assert len([c for c in _children(parent.pid) if c not in serving]) >= 1
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(30) == 0
        assert not [c for c in _children(parent.pid)]
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        log.close()
