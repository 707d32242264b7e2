"""Mutual TLS on the cluster port (``--cluster-tls-cert/-key/-ca``): three ClusterNodes in one
process on one memory store, real TCP and TLS between them, certificates made by openssl.

What must hold: nodes whose certificates the cluster's CA signed forward to each other; a node
with a certificate of another CA is refused in both directions at once, with an error naming
the TLS flags and saying the command was not sent, and runs nothing anywhere; a client without
a certificate, or speaking plain TCP, gets no command served by the cluster port.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import grpc
import pytest
import pytest_asyncio

from cloudstate.proxy.config import ProxyConfig
from cloudstate.proxy.config_check import check
from cloudstate.proxy.errors import ProxyError
from cloudstate.proxy.server import cluster_settings
from cloudstate.proxy.stores.memory import MemoryStore
from cloudstate.proxy.workers import wire
from cloudstate.proxy.workers.cluster import ClusterNode, ClusterSettings
from cloudstate.proxy.workers.cluster_tls import ClusterTls, ClusterTlsError
from cloudstate.proxy.workers.supervisor import worker_config
from tests.cluster.test_cluster_node import SERVICE, RecordingHandler, model, settled
from tests.observability.test_uf_mtls import make_ca, make_signed

HEARTBEAT, TTL = 0.2, 1.0


def node_certificate(tmp: Path, name: str, ca: tuple[Path, Path]) -> tuple[Path, Path]:
    """One certificate a node presents both as the cluster port's server and as a client."""
    return make_signed(tmp, name, ca, server=False, usage="serverAuth,clientAuth")


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ClusterTls | Path]:
    tmp = tmp_path_factory.mktemp("cluster-tls")
    ca, other_ca = make_ca(tmp, "cluster-ca"), make_ca(tmp, "other-ca")
    found: dict[str, ClusterTls | Path] = {"ca": ca[0]}
    for name in ("a", "b"):
        cert, key = node_certificate(tmp, f"node-{name}", ca)
        found[name] = ClusterTls.load(str(cert), str(key), str(ca[0]))
        found[f"{name}-cert"], found[f"{name}-key"] = cert, key
    cert, key = node_certificate(tmp, "stranger", other_ca)
    found["stranger"] = ClusterTls.load(str(cert), str(key), str(other_ca[0]))
    # Trusts the cluster's CA (so it accepts the members' server certificates) but presents a
    # certificate of another CA: only the member's check of the client certificate stops it.
    found["impostor"] = ClusterTls.load(str(cert), str(key), str(ca[0]))
    return found


class Member:
    def __init__(self, store: MemoryStore, tls: ClusterTls) -> None:
        settings = ClusterSettings(port=0, host="127.0.0.1", heartbeat=HEARTBEAT, ttl=TTL, tls=tls)
        self.node = ClusterNode(store, settings, command_timeout=5.0)
        self.local = RecordingHandler()
        self.handlers: dict[str, object] = {SERVICE: self.local}

    async def start(self) -> Member:
        await self.node.join(model(), self.handlers)  # type: ignore[arg-type]
        self.local.node = self.node.me
        return self

    async def add(self, key: str) -> str:
        handler = self.handlers[SERVICE]
        outcome = await handler.handle(SimpleNamespace(name="Add"), key, b"", None)  # type: ignore[attr-defined]
        return bytes(outcome.client_action.reply.payload.value).decode()


@pytest_asyncio.fixture
async def store() -> AsyncIterator[MemoryStore]:
    store = MemoryStore()
    yield store
    await store.close()


def owned_by(member: Member, owner: Member, count: int = 40) -> list[str]:
    keys = [f"cart-{n}" for n in range(count)]
    return [k for k in keys if member.node.ownership.owner(SERVICE, k) == owner.node.me]


async def test_nodes_of_one_ca_forward_to_each_other_over_tls(
    store: MemoryStore, certificates: dict[str, ClusterTls | Path]
) -> None:
    a = await Member(store, certificates["a"]).start()  # type: ignore[arg-type]
    b = await Member(store, certificates["b"]).start()  # type: ignore[arg-type]
    try:
        await settled([a, b], 2)  # type: ignore[list-item]
        for landing, owner in ((a, b), (b, a)):
            keys = owned_by(landing, owner)
            assert keys
            assert [await landing.add(k) for k in keys] == [owner.node.me] * len(keys)
            assert set(keys) <= set(owner.local.ran)
            assert not set(keys) & set(landing.local.ran)
            connection = landing.node.peers[owner.node.me]._connection
            assert connection is not None and connection.transport is not None
            assert connection.transport.get_extra_info("ssl_object") is not None
    finally:
        for member in (a, b):
            await member.node.close()


@pytest.mark.parametrize("who", ["stranger", "impostor"])
async def test_a_node_of_another_ca_is_refused_both_ways_and_nothing_runs(
    store: MemoryStore, certificates: dict[str, ClusterTls | Path], who: str
) -> None:
    a = await Member(store, certificates["a"]).start()  # type: ignore[arg-type]
    other = await Member(store, certificates[who]).start()  # type: ignore[arg-type]
    try:
        await settled([a, other], 2)  # type: ignore[list-item]
        # The other calls a: the stranger refuses a's server certificate in the handshake; the
        # impostor accepts it, and a refuses the impostor's client certificate after the
        # impostor's side of the handshake has ended (TLS 1.3), so only the missing hello tells
        # it. a calls the other: a refuses its server certificate in the handshake.
        for landing, owner in ((other, a), (a, other)):
            key = owned_by(landing, owner)[0]
            async with asyncio.timeout(4):  # at once: not after the 5 s command timeout
                with pytest.raises(ProxyError) as refused:
                    await landing.add(key)
            assert refused.value.status == grpc.StatusCode.UNAVAILABLE
            message = refused.value.message
            assert "TLS handshake" in message and owner.node.me in message, message
            assert "--cluster-tls-ca" in message and "was not sent" in message, message
        assert not a.local.ran and not other.local.ran
    finally:
        for member in (a, other):
            await member.node.close()


async def _served_without_a_certificate(port: int, context: ssl.SSLContext | None) -> bytes:
    """Connect (TLS without a client certificate, or plain TCP), send one command frame, and
    return whatever the port answers before it closes the connection."""
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname="127.0.0.1" if context else None
    )
    writer.write(wire.encode_request(7, SERVICE, "Add", "cart-1", None, b""))  # length-prefixed
    await writer.drain()
    received = b""
    try:
        async with asyncio.timeout(5):
            while chunk := await reader.read(65536):
                received += chunk
    except (ConnectionError, ssl.SSLError, TimeoutError):
        pass  # closed by the port (or, with a bug, served and kept open)
    writer.close()
    return received


async def test_the_cluster_port_serves_no_client_without_a_certificate(
    store: MemoryStore, certificates: dict[str, ClusterTls | Path]
) -> None:
    a = await Member(store, certificates["a"]).start()  # type: ignore[arg-type]
    try:
        no_certificate = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        no_certificate.check_hostname = False
        no_certificate.load_verify_locations(cafile=str(certificates["ca"]))
        answer = await _served_without_a_certificate(a.node.port, no_certificate)
        assert answer == b"", f"a client without a certificate got {answer!r}"
        answer = await _served_without_a_certificate(a.node.port, None)
        assert answer == b"", f"a plain TCP client got {answer!r}"
        assert not a.local.ran
        # The same port serves a member of the cluster (the refusals above are not an outage).
        assert await a.add("cart-1") == a.node.me
    finally:
        await a.node.close()


def test_unusable_files_are_named(tmp_path: Path) -> None:
    (tmp_path / "not.pem").write_text("not a certificate\n")
    with pytest.raises(ClusterTlsError, match=r"--cluster-tls-ca .*not\.pem.*not a PEM CA"):
        ClusterTls.load(
            str(tmp_path / "not.pem"), str(tmp_path / "not.pem"), str(tmp_path / "not.pem")
        )


def test_the_flags_reach_every_worker_of_a_node(
    certificates: dict[str, ClusterTls | Path],
) -> None:
    config = ProxyConfig(
        workers=2,
        store="postgresql://cloudstate@db/cloudstate",
        cluster_port=9100,
        cluster_tls_cert=str(certificates["a-cert"]),
        cluster_tls_key=str(certificates["a-key"]),
        cluster_tls_ca=str(certificates["ca"]),
    )
    assert not check(config)
    for index in range(2):
        tls = cluster_settings(worker_config(config, index)).tls
        assert tls is not None
        assert tls.server.verify_mode == ssl.CERT_REQUIRED
        assert tls.client.verify_mode == ssl.CERT_REQUIRED
    assert cluster_settings(ProxyConfig(cluster_port=9100)).tls is None
