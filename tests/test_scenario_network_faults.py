"""Membership under the faults the simulator has beside loss, pauses and partitions: bit flips
in datagrams, asymmetric links, seconds-long bursts of 50% loss, clocks that drift. None of
them may get a healthy node declared dead by anyone, and a real crash in the middle of them is
still detected within memberlist's formula bound.

A flipped bit can turn one message into another (alive, type 4, and dead, type 5, differ in
one bit). memberlist puts its CRC only on datagrams to a node it looked up (net.go
rawSendMsgPacket: gossip, and probes only where node names are IP addresses), and so does
trio_gossip; a CRC'd datagram with a flipped bit is counted as bad and dropped, and what a
flipped probe may still claim is refuted like any other stale news.
"""

from __future__ import annotations

import pytest
import trio

from trio_gossip.testing import FactKind, GossipCluster, open_cluster, run

N = 16
CORRUPT = 0.05
BURST_LOSS = 0.5
BURST = 5.0  # seconds: longer than the shortest suspicion timeout at N (4 x log10(16) s)
SOAK = 120.0


def false_deaths(cluster: GossipCluster, since: float, crashed: set[str]) -> list[str]:
    dead = [f for f in cluster.facts() if f.kind is FactKind.DEAD and f.time >= since]
    return [f"{f.observer}: {f.subject} at {f.time:.1f}" for f in dead if f.subject not in crashed]


def bad_packets(cluster: GossipCluster) -> int:
    return sum(h.memberlist.statistics().bad_packets for h in cluster.running())


@pytest.mark.parametrize("seed", [0, 1])
def test_corruption_asymmetry_bursts_and_drift_kill_nobody(seed: int) -> None:
    async def main() -> tuple[list[str], float, float, int]:
        async with open_cluster(N, seed=seed) as cluster:
            await cluster.converged()
            since = trio.current_time()
            bad_before = bad_packets(cluster)
            cluster.set_corruption(CORRUPT)
            # node-03 hears nothing node-07 sends, and node-11 nothing from node-12; the
            # other directions work: probes get through only indirectly.
            cluster.set_link("node-07", "node-03", loss=1.0, both_ways=False)
            cluster.set_link("node-12", "node-11", loss=1.0, both_ways=False)
            cluster.drift("node-05", 0.3)
            cluster.drift("node-09", -0.3)
            await trio.sleep(SOAK / 2)
            cluster.set_loss(BURST_LOSS)
            await cluster.kill("node-14")  # a real crash, in the burst
            crashed_at = trio.current_time()
            await trio.sleep(BURST)
            cluster.set_loss(0.0)
            took = await cluster.detected("node-14")
            await trio.sleep(SOAK / 2)
            corrupted = bad_packets(cluster) - bad_before
            deaths = false_deaths(cluster, since, {"node-14"})
            return deaths, took, trio.current_time() - crashed_at, corrupted

    deaths, took, _, corrupted = run(main, seed=seed)
    assert deaths == []
    assert corrupted > 0  # the flipped datagrams were seen, counted and dropped
    assert took <= _detection_bound(seed)


def _detection_bound(seed: int) -> float:
    async def bound() -> float:
        async with open_cluster(N, seed=seed, join=False) as cluster:
            return cluster.detection_bound()

    return run(bound, seed=seed)
