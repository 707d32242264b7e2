"""TLS on the admin port (``--admin-tls-cert/--admin-tls-key``): ``/metrics`` over HTTPS with a
certificate the test generates; a plaintext request gets no metrics."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest

from cloudstate.proxy import metrics
from cloudstate.proxy.config import ProxyConfig
from cloudstate.proxy.server import admin_tls_context
from tests.observability.test_tls import make_certificate


async def test_metrics_over_https(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    config = ProxyConfig(admin_tls_cert=str(cert), admin_tls_key=str(key))
    admin = metrics.AdminServer("127.0.0.1", 0, ssl=admin_tls_context(config))
    port = await admin.start()
    try:
        verify = ssl.create_default_context(cafile=str(cert))
        async with httpx.AsyncClient(verify=verify, timeout=10) as client:
            reply = await client.get(f"https://localhost:{port}/metrics")
            assert reply.status_code == 200
            assert "cloudstate_requests_in_flight" in reply.text
        async with httpx.AsyncClient(timeout=10) as client:
            with pytest.raises(httpx.HTTPError):
                await client.get(f"http://127.0.0.1:{port}/metrics")
    finally:
        await admin.close()


def test_half_a_configuration_is_refused(tmp_path: Path) -> None:
    cert, _ = make_certificate(tmp_path)
    with pytest.raises(ValueError, match="go together"):
        admin_tls_context(ProxyConfig(admin_tls_cert=str(cert)))
    with pytest.raises(ValueError, match="cannot load them"):
        admin_tls_context(ProxyConfig(admin_tls_cert=str(cert), admin_tls_key=str(cert)))
