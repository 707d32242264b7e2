"""Mutual TLS on the cluster port (``--cluster-tls-cert``, ``--cluster-tls-key``,
``--cluster-tls-ca``).

A node forwards commands with the metadata its client port accepted (bearer tokens already
checked there), so the cluster port must serve only the cluster's own nodes: each node presents
its certificate both as the port's server and as a client of the others, and each side requires
the other's to be signed by the cluster's CA. Host names are not checked: nodes reach each other
at pod addresses that come and go, and the cluster's own CA, not a public one, decides who is a
member (issue certificates from a CA used for nothing else). Example::

    tls = ClusterTls.load("node.pem", "node.key", "cluster-ca.pem")
    server = OwnerServer("tcp:0.0.0.0:9100", serve, tls=tls.server)
    client = PeerClient("10.0.0.8:9100", "tcp:10.0.0.8:9100", timeout=30, tls=tls.client)
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass


class ClusterTlsError(ValueError):
    """The cluster's certificate files cannot be used (the message names the file and flag)."""


@dataclass(frozen=True, slots=True)
class ClusterTls:
    """The two TLS contexts of a node: serving its cluster port, and calling the others'."""

    server: ssl.SSLContext
    client: ssl.SSLContext

    @classmethod
    def load(cls, cert: str, key: str, ca: str) -> ClusterTls:
        """Contexts from PEM files; :class:`ClusterTlsError` names what is wrong."""
        # Bare contexts: the system's CAs must not vouch for a member, only the cluster's.
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client.check_hostname = False  # membership is the CA's signature, not an address
        for context in (server, client):
            context.verify_mode = ssl.CERT_REQUIRED
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            try:
                context.load_verify_locations(cafile=ca)
            except (OSError, ssl.SSLError) as error:
                raise ClusterTlsError(
                    f"--cluster-tls-ca {ca!r}: not a PEM CA certificate ({error})"
                ) from None
            try:
                context.load_cert_chain(cert, key)
            except (OSError, ssl.SSLError) as error:
                raise ClusterTlsError(
                    f"--cluster-tls-cert {cert!r} / --cluster-tls-key {key!r}: not a PEM "
                    f"certificate chain and its private key ({error})"
                ) from None
        return cls(server, client)
