"""A tenant-sharding service tested with trio_gossip.testing (run: python -m pytest
examples/test_sharding.py). Each node assigns a tenant to itself when the ring says it is the
tenant's owner; the invariant: once a partition heals and the ring settles, no tenant has two
live owners."""

from __future__ import annotations

import zlib

import pytest
import trio

from trio_gossip import READ, RingClient
from trio_gossip.core.ring import RingError
from trio_gossip.testing import GossipCluster, NodeHandle
from trio_gossip.testing.plugin import Gossip

TENANTS = [f"tenant-{i}" for i in range(40)]


class Assigner:
    """The service under test: which tenants this node serves, by ring lookup."""

    def __init__(self, node: NodeHandle) -> None:
        assert node.kv is not None
        self.name = node.name
        self.ring = RingClient(node.kv, replication_factor=1)

    def owns(self, tenant: str) -> bool:
        try:
            replicas = self.ring.get(zlib.crc32(tenant.encode()), READ)
        except RingError:  # its owner is unhealthy: nobody serves it until it is forgotten
            return False
        return [d.id for d in replicas.instances] == [self.name]


def owners(cluster: GossipCluster) -> dict[str, set[str]]:
    served: dict[str, set[str]] = {t: set() for t in TENANTS}
    for node in cluster.running():
        assigner = Assigner(node)
        for tenant in TENANTS:
            if assigner.owns(tenant):
                served[tenant].add(node.name)
    return served


@pytest.mark.gossip_seeds(2)
async def test_one_owner_per_tenant_after_a_partition_heals(gossip: Gossip) -> None:
    async with gossip.cluster(6, kind="ring") as cluster:
        await cluster.converged()
        await cluster.ring_settled()
        cluster.partition(cluster.names[:3], cluster.names[3:])
        await trio.sleep(30.0)
        cluster.heal()
        await cluster.join(cluster.names[0], cluster.names[3])  # memberlist does not reconnect
        await cluster.converged()
        await cluster.ring_settled()
        served = owners(cluster)
        assert all(len(nodes) == 1 for nodes in served.values()), served


async def test_a_killed_owner_hands_its_tenants_over(gossip: Gossip) -> None:
    async with gossip.cluster(5, kind="ring") as cluster:
        await cluster.converged()
        await cluster.ring_settled()
        victim = "node-02"
        await cluster.kill(victim)
        await cluster.detected(victim)
        # dskit skips an instance whose heartbeat is older than the timeout (1 min).
        await trio.sleep(70.0)
        served = owners(cluster)
        assert all(len(nodes) <= 1 and victim not in nodes for nodes in served.values())
        assert sum(len(nodes) for nodes in served.values()) > len(TENANTS) // 2

