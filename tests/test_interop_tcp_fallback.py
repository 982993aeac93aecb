"""TCP fallback pings between Serf and trio_gossip when UDP to one node is dropped.

Everything runs in a network namespace the test creates and deletes, with an nftables rule
(in that namespace's output hook) dropping UDP to one node's gossip port, as in
tcp-fallback.pcap: senders get EPERM from sendto, TCP still passes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from interop.lab import Lab, alive
from interop.nft import add_output_chain, add_output_rule, flush_output_chain
from interop.procs import network_namespace, require, wait_until

pytestmark = pytest.mark.interop

TABLE = "tgtest"


@pytest.fixture
def netns_lab(tmp_path: Path) -> Iterator[Lab]:
    require("serf")
    require("nft", "install nftables")
    with network_namespace() as ns:
        lab = Lab(tmp_path, netns=ns)
        try:
            add_output_chain(ns, TABLE)
            yield lab
        finally:
            lab.close()


def drop_udp_to(lab: Lab, address: tuple[str, int]) -> None:
    assert lab.netns
    flush_output_chain(lab.netns, TABLE)
    add_output_rule(
        lab.netns,
        TABLE,
        "ip",
        "daddr",
        address[0],
        "udp",
        "dport",
        str(address[1]),
        "counter",
        "drop",
    )


def strictly_alive(lab: Lab, names: list[str]) -> bool:
    return all(view.get(n) == "alive" for view in lab.views().values() for n in names)


def test_tcp_fallback_keeps_nodes_alive_both_ways(netns_lab: Lab) -> None:
    lab = netns_lab
    names = ["serf-a", "serf-b", "py-1"]
    a = lab.serf("serf-a")
    lab.serf("serf-b").rpc().join(a.gossip_address)
    t = lab.trio("py-1", join=[a.gossip_address])
    lab.wait_views(alive(*names), 5.0, "the cluster to form in the namespace")

    def tcp_successes() -> int:
        return int(t.stats()["node"]["tcp_fallback_successes"])

    # UDP to the trio node dropped: its UDP probes get no ack, its TCP pings to Serf do.
    drop_udp_to(lab, t.bind)
    before = tcp_successes()
    wait_until(lambda: tcp_successes() >= before + 3, 15.0, what="three TCP pings from py-1")
    assert strictly_alive(lab, names), lab.views()

    # UDP to a Serf agent dropped: Serf's probes of us end in a TCP ping that we answer
    # (Serf logs that it could connect over TCP), and ours of it end in one it answers.
    drop_udp_to(lab, a.bind)
    before = tcp_successes()
    wait_until(
        lambda: "Was able to connect to py-1" in a.process.log(),
        15.0,
        what="serf-a to reach py-1 by TCP ping",
    )
    wait_until(lambda: tcp_successes() > before, 15.0, what="py-1 to reach serf-a by TCP")
    assert strictly_alive(lab, names), lab.views()
    flush_output_chain(lab.netns or "", TABLE)
