"""Cluster label and TLS against Go dskit (tests/peers/dskit): a trio_gossip node on dskit's TCP
transport with the cluster's label and TLS settings joins; one with another label, or without
TLS, or trusting another CA, is refused: its join fails and no Go node counts it as a member
(a certificate our side cannot verify is also counted as a failed dial)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from dskit_cluster import DskitCluster
from tls_support import self_signed

from trio_gossip import Config, open_memberlist
from trio_gossip.transport.dskit import create_dskit_transport
from trio_gossip.transport.dskit_tls import DskitTLS
from trio_gossip.wire.errors import GossipError

pytestmark = pytest.mark.interop

GO_NODES = 2
LABEL = "blue"
BOUND = 10.0


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"), "cluster")


@pytest.fixture
def cluster(certs: tuple[Path, Path]) -> Iterator[DskitCluster]:
    cert, key = certs
    go = DskitCluster(
        "-nodes", str(GO_NODES), "-tokens", "8", "-cluster-label", LABEL,
        "-tls-cert", str(cert), "-tls-key", str(key), "-tls-ca", str(cert),
        "-gossip-interval", "100ms", "-pushpull-interval", "2s",
    )  # fmt: skip
    try:
        yield go
    finally:
        go.close()


async def _try_join(go: DskitCluster, *, label: str, tls: DskitTLS | None) -> tuple[int, int]:
    """(members a Go node counts while we are in, our transport's refused connections)."""
    transport = await create_dskit_transport("127.0.0.1", 0, tls=tls)
    config = Config.lan(name=f"trio-{label}-{tls is not None}", bind_addr="127.0.0.1",
                        bind_port=transport.local_address[1], label=label)  # fmt: skip
    try:
        async with open_memberlist(config, transport=transport) as node:
            try:
                with trio.fail_after(BOUND):
                    await node.join([go.ready["nodes"][0]["addr"]])
            except GossipError:
                return (await go.members_everywhere())[0], transport.statistics().send_errors
            with trio.fail_after(BOUND):
                while (await go.members_everywhere()) != [GO_NODES + 1] * GO_NODES:
                    await trio.sleep(0.2)
            return GO_NODES + 1, transport.statistics().send_errors
    finally:
        await transport.aclose()


async def test_same_label_and_tls_join(cluster: DskitCluster, certs: tuple[Path, Path]) -> None:
    cert, key = certs
    tls = DskitTLS.from_files(cert_path=cert, key_path=key, ca_path=cert)
    members, _ = await _try_join(cluster, label=LABEL, tls=tls)
    assert members == GO_NODES + 1


async def test_another_label_is_refused(cluster: DskitCluster, certs: tuple[Path, Path]) -> None:
    cert, key = certs
    tls = DskitTLS.from_files(cert_path=cert, key_path=key, ca_path=cert)
    members, _ = await _try_join(cluster, label="red", tls=tls)
    assert members == GO_NODES


async def test_no_tls_is_refused(cluster: DskitCluster) -> None:
    members, _ = await _try_join(cluster, label=LABEL, tls=None)
    assert members == GO_NODES


async def test_a_certificate_from_another_ca_is_refused(
    cluster: DskitCluster, tmp_path: Path
) -> None:
    """Our side verifies Go's certificate: with a CA that did not sign it, the dial fails
    and is counted."""
    cert, key = self_signed(tmp_path, "stranger")
    tls = DskitTLS.from_files(cert_path=cert, key_path=key, ca_path=cert)
    members, refused = await _try_join(cluster, label=LABEL, tls=tls)
    assert members == GO_NODES
    assert refused >= 1
