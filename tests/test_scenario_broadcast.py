"""100 nodes join through one seed node and converge; one node's metadata update then reaches
all of them within the epidemic bound (simulated network, mock clock)."""

from __future__ import annotations

import trio

from trio_gossip.apps.sim import ClusterSpec, UpdateMeta, open_cluster, run_simulation
from trio_gossip.core.config import Config
from trio_gossip.core.membership.bounds import epidemic_rounds

CONFIG = Config.lan(name="sim")
N = 100
SEED = 4

# The join storm: all N alive announcements compete for the same 1,400-byte packets (about 20
# fit in one), so the whole table takes a few epidemic bounds to spread. Measured over seeds
# 0-15: 6 to 15 gossip rounds after the last join returned, against a bound of 4.9.
JOIN_ROUNDS = 4 * epidemic_rounds(N, CONFIG.gossip_nodes)
# One broadcast alone: waiting for the origin's next gossip tick costs up to one round more
# than the bound. Measured over seeds 0-15: 2.3 to 3.95 rounds, against a bound of 4.9.
BROADCAST_ROUNDS = epidemic_rounds(N, CONFIG.gossip_nodes) + 1


def test_hundred_nodes_converge_and_a_broadcast_reaches_all_within_the_epidemic_bound() -> None:
    spec = ClusterSpec(nodes=N, seed=SEED, config=CONFIG, join="seed")
    gossip = CONFIG.gossip_interval

    async def main() -> None:
        async with open_cluster(spec) as cluster:
            await cluster.join()
            joined = trio.current_time()
            converged = await cluster.wait_converged(timeout=JOIN_ROUNDS * gossip, poll=gossip / 2)
            assert converged - joined <= JOIN_ROUNDS * gossip
            assert cluster.join_failures == 0
            await trio.sleep(CONFIG.probe_interval)  # let the join announcements drain a bit

            subject = spec.name(N // 3)
            start = trio.current_time()
            await cluster.apply(UpdateMeta(at=0.0, node=subject, meta=b"zone=b"))
            incarnation = 2  # one above the start-up announcement
            await cluster.wait_until(
                lambda: len(cluster.reach_times(subject, incarnation, start)) == N,
                timeout=BROADCAST_ROUNDS * gossip,
                poll=gossip / 4,
            )
            reach = cluster.reach_times(subject, incarnation, start)
            assert max(reach.values()) <= BROADCAST_ROUNDS * gossip
            # Gossip, not luck: nobody but the origin knew at once.
            assert sorted(reach.values())[1] > 0
            for sim in cluster.nodes:
                member = sim.memberlist.member(subject)
                assert member is not None
                assert member.meta == b"zone=b"

    run_simulation(main, seed=SEED)
