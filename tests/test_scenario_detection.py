"""Failure detection at cluster scale: killed nodes in a 30-node cluster are declared dead by
every survivor within memberlist's detection formula plus a stated margin (simulated network)."""

from __future__ import annotations

import trio

from trio_gossip.apps.sim import ClusterSpec, FactKind, Kill, open_cluster, run_simulation
from trio_gossip.core.config import Config
from trio_gossip.core.membership.bounds import detection_formula, epidemic_time, suspicion_window

CONFIG = Config.lan(name="sim")
N = 30
SEED = 6
VICTIMS = ("node-07", "node-16", "node-25")


def margin(n: int) -> float:
    """What the formula (probe interval + probe timeout + minimum suspicion) leaves out:
    - the first probe of the victim: the formula allows one probe interval; after a full
      probe round every survivor walks its own shuffled list, so nobody probing it within t
      more intervals has probability about e^-t: allow 5 more (< 1%);
    - a failed probe is only called at the end of its probe interval (the indirect probes
      get until then), not at the probe timeout;
    - spreading the dead verdict: twice the epidemic bound.
    Measured (benchmarks/bench_sim_detection.py, n = 30, 30 kills): the last survivor's
    verdict at most 2.9 s past the formula, median 0.5 s."""
    return (
        5 * CONFIG.probe_interval
        + (CONFIG.probe_interval - CONFIG.probe_timeout)
        + 2 * epidemic_time(CONFIG, n)
    )


def test_killed_nodes_are_declared_dead_everywhere_within_the_formula() -> None:
    spec = ClusterSpec(nodes=N, seed=SEED, config=CONFIG)

    async def main() -> None:
        async with open_cluster(spec) as cluster:
            await cluster.join()
            await cluster.wait_converged(timeout=2 * CONFIG.push_pull_interval)
            # Past one full probe round, so probe orders are reshuffled independently (right
            # after a join they are all close to the join order, and probes of one victim bunch).
            await trio.sleep(N * CONFIG.probe_interval + 1)
            for victim in VICTIMS:
                n = len(cluster.live_names())  # the victim still counts in its own suspicion
                bound = detection_formula(CONFIG, n) + margin(n)
                await cluster.run_scenario([Kill(at=0.0, node=victim)])
                survivors = cluster.live_names()
                times = await cluster.wait_detected(victim, timeout=bound,
                                                    poll=CONFIG.gossip_interval / 4)  # fmt: skip
                assert set(times) == set(survivors)
                assert max(times.values()) <= bound
                # Nobody can call it dead before a probe failed and the shortest suspicion ran.
                low, high = suspicion_window(CONFIG, n)
                assert min(times.values()) >= CONFIG.probe_timeout + low
                # Confirmations by other accusers cut the suspicion well below its maximum.
                assert max(times.values()) < high
                # Once one node has called it, the verdict spreads epidemically.
                assert max(times.values()) - min(times.values()) <= 2 * epidemic_time(CONFIG, n)
                suspected = cluster.history.first_times(victim, FactKind.SUSPECT, since=0.0)
                assert len(suspected) >= 2  # the accuser and at least one confirmation
                await cluster.wait_converged(timeout=bound)

    run_simulation(main, seed=SEED)
