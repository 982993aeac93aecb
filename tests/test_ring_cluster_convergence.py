"""50 nodes, each registering an instance, converge to one ring through a lossy network.

The bound: every instance changes its record three times (PENDING, JOINING with tokens,
ACTIVE) in the first second; gossip spreads each change in a few rounds, but with 20% loss
a node misses a given change with probability about (1 - 0.8/49)^(8 * 50) ~ 0.15%
(8 sends by each of 50 forwarders), so a handful of the 2,500 node x instance pairs start
out stale. A record is re-stamped every `record_refresh_period`, a fresh epidemic that
repairs them: two refresh periods leave essentially no stale pair (0.15%^3 * 2,500), plus
one heartbeat period for the last refresh to start and 10 s for it to spread.
"""

from __future__ import annotations

import random

import pytest
import trio
import trio.testing

from trio_gossip.apps.sim.ring_cluster import ring_cluster, rings_converged, seed_trio, wait_until
from trio_gossip.core.config import Config
from trio_gossip.core.ring import WRITE
from trio_gossip.shell.ring.client import RingClient
from trio_gossip.transport.memory import LinkConfig, MemoryNetwork

N = 50
HEARTBEAT = 5.0
REFRESH = 15.0
BOUND = 2 * REFRESH + HEARTBEAT + 10.0


@pytest.mark.parametrize("push_pull", [30.0, 0.0], ids=["push-pull", "deltas-only"])
async def test_fifty_nodes_converge_to_one_ring_with_loss(
    autojump_clock: trio.testing.MockClock, push_pull: float
) -> None:
    seed_trio(11)
    net = MemoryNetwork(seed=11, default_link=LinkConfig(loss=0.2))
    config = Config.lan(name="t", push_pull_interval=push_pull)
    options = {"heartbeat_period": HEARTBEAT, "record_refresh_period": REFRESH}
    async with ring_cluster(net, N, config=config, lifecyclers=True,
                          lifecycler_options=options) as nodes:  # fmt: skip
        names = {n.name for n in nodes}
        await wait_until(lambda: rings_converged(nodes, names), BOUND)
        ring = nodes[0].ring()
        assert all(len(d.tokens) == 128 for d in ring.live())
        # The same replicas for any key on every node, all of them healthy.
        clients = [RingClient(n.kv) for n in nodes]
        rng = random.Random(0)
        for key in (rng.getrandbits(32) for _ in range(50)):
            answers = {tuple(d.id for d in c.get(key, WRITE).instances) for c in clients}
            assert len(answers) == 1
            assert len(answers.pop()) == 3
        assert all(len(c.get_all_healthy()) == N for c in clients)
