"""The writer sends a datagram through the transport's synchronous send when it takes it at
once (Trio's socket sendto would yield after every send: one more pass of the loop per
packet), and awaits ``send_packet`` only when the synchronous send refuses."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing
from node_support import base_config, converged, convergence_bound, start_cluster, wait_for

from trio_gossip.transport.base import Address
from trio_gossip.transport.memory import MemoryNetwork, MemoryTransport


class CountingTransport:
    """A memory transport that counts which send the node used; ``refuse``: the synchronous
    send always says the socket would block."""

    def __init__(self, inner: MemoryTransport, *, refuse: bool) -> None:
        self.inner = inner
        self.refuse = refuse
        self.awaited = 0
        self.at_once = 0

    async def send_packet(self, addr: Address, data: bytes) -> None:
        self.awaited += 1
        await self.inner.send_packet(addr, data)

    def send_packet_nowait(self, addr: Address, data: bytes) -> bool:
        if self.refuse:
            return False
        self.at_once += 1
        return self.inner.send_packet_nowait(addr, data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class CountingNetwork:
    def __init__(self, *, refuse: bool) -> None:
        self.net = MemoryNetwork(seed=21)
        self.refuse = refuse
        self.transports: list[CountingTransport] = []

    def add_node(self) -> CountingTransport:
        transport = CountingTransport(self.net.add_node(), refuse=self.refuse)
        self.transports.append(transport)
        return transport


async def _probe_for_a_while(refuse: bool) -> tuple[list[CountingTransport], int, int]:
    net = CountingNetwork(refuse=refuse)
    config = base_config()
    async with start_cluster(net, 3, config) as nodes:
        await wait_for(lambda: converged(nodes), convergence_bound(config, 3))
        await trio.sleep(20 * config.probe_interval)
        probes = sum(node.statistics().probes for node in nodes)
        failed = sum(node.statistics().failed_probes for node in nodes)
    return net.transports, probes, failed


async def test_datagrams_leave_without_waiting_when_the_transport_takes_them(
    autojump_clock: trio.testing.MockClock,
) -> None:
    transports, probes, failed = await _probe_for_a_while(refuse=False)
    assert probes >= 3 * 15
    assert failed == 0
    assert all(t.at_once >= 15 for t in transports)  # pings, acks and gossip
    assert sum(t.awaited for t in transports) == 0


async def test_a_refused_synchronous_send_falls_back_to_send_packet(
    autojump_clock: trio.testing.MockClock,
) -> None:
    transports, probes, failed = await _probe_for_a_while(refuse=True)
    assert probes >= 3 * 15
    assert failed == 0  # every ping and ack still arrived
    assert all(t.awaited >= 15 for t in transports)
    assert sum(t.at_once for t in transports) == 0
