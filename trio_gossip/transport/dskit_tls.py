"""TLS for dskit's TCP transport, with the settings dskit has (dskit crypto/tls ClientConfig:
cert, key, CA, server name, insecure-skip-verify).

dskit builds one ``tls.Config`` and uses it both to listen and to dial (tcp_transport.go
NewTCPTransport): the listener presents the certificate and asks nothing of the dialer (no
ClientCAs), the dialer checks the listener's certificate against the CA (or the system roots)
and the server name (the dialed IP when unset), unless told to skip verification.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import attrs

from trio_gossip.wire.errors import ConfigError


@attrs.frozen
class DskitTLS:
    """Both sides of one TLS setting; make it with ``from_files``."""

    server: ssl.SSLContext
    client: ssl.SSLContext
    server_name: str | None = None

    @classmethod
    def from_files(
        cls,
        *,
        cert_path: str | Path,
        key_path: str | Path,
        ca_path: str | Path | None = None,
        server_name: str | None = None,
        insecure_skip_verify: bool = False,
    ) -> DskitTLS:
        """ConfigError naming the field when a file is missing or does not load."""
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        for context in (server, client):
            try:
                context.load_cert_chain(str(cert_path), str(key_path))
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"tls cert_path/key_path do not load: {exc}") from exc
        if ca_path is not None:
            try:
                client.load_verify_locations(cafile=str(ca_path))
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"tls ca_path does not load: {exc}") from exc
        if insecure_skip_verify:
            client.check_hostname = False
            client.verify_mode = ssl.CERT_NONE
        return cls(server=server, client=client, server_name=server_name)
