"""TLS on the admin port (``--admin-tls-cert/--admin-tls-key``): ``/metrics``, the admin API's
HTTP/JSON (also through ``cloudstate admin --ca``) and its gRPC, over TLS with a certificate the
test generates; a plaintext request gets nothing."""

from __future__ import annotations

import asyncio
import ssl
import sys
from pathlib import Path

import grpc
import httpx
import pytest

from cloudstate.protocol import admin_pb2, admin_pb2_grpc
from cloudstate.proxy.admin.server import AdminPort
from cloudstate.proxy.config import ProxyConfig
from cloudstate.proxy.server import admin_tls_context
from cloudstate.proxy.workflows.wiring import WorkflowWiring
from tests.observability.test_tls import make_certificate


async def test_metrics_over_https(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    config = ProxyConfig(admin_tls_cert=str(cert), admin_tls_key=str(key))
    admin = AdminPort(_Starting(), "127.0.0.1", 0, tls=admin_tls_context(config))
    port = await admin.start()
    try:
        verify = ssl.create_default_context(cafile=str(cert))
        async with httpx.AsyncClient(verify=verify, timeout=10) as client:
            reply = await client.get(f"https://localhost:{port}/metrics")
            assert reply.status_code == 200
            assert "cloudstate_requests_in_flight" in reply.text
            # The admin API answers over TLS (UNAVAILABLE: this proxy never discovers).
            reply = await client.get(f"https://localhost:{port}/v1/services")
            assert reply.status_code == 503 and "starting" in reply.json()["message"]
        async with httpx.AsyncClient(timeout=10) as client:
            with pytest.raises(httpx.HTTPError):
                await client.get(f"http://127.0.0.1:{port}/metrics")
        credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        async with grpc.aio.secure_channel(f"localhost:{port}", credentials) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await admin_pb2_grpc.AdminStub(channel).ListServices(
                    admin_pb2.ListServicesRequest(), timeout=10
                )
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        cli = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "cloudstate.cli", "admin", "services", "--admin", f"https://localhost:{port}"),
            *("--ca", str(cert)),
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await cli.communicate()
        assert cli.returncode == 1 and b"starting" in err and b"HTTP 503" in err, err
    finally:
        await admin.close()


class _Starting:
    """A proxy that has not discovered its user function."""

    store = model = eventing = views = scheduler = None
    config = ProxyConfig()
    workflows = WorkflowWiring()
    handlers: dict[str, object] = {}


def test_half_a_configuration_is_refused(tmp_path: Path) -> None:
    cert, _ = make_certificate(tmp_path)
    with pytest.raises(ValueError, match="go together"):
        admin_tls_context(ProxyConfig(admin_tls_cert=str(cert)))
    with pytest.raises(ValueError, match="cannot load them"):
        admin_tls_context(ProxyConfig(admin_tls_cert=str(cert), admin_tls_key=str(cert)))
