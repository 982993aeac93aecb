"""Simulate clusters of nodes on the in-memory network under Trio's mock clock (floor 5).

    from trio_gossip.apps.sim import ClusterSpec, Kill, open_cluster, run_simulation

    async def main() -> None:
        async with open_cluster(ClusterSpec(nodes=30, seed=4)) as cluster:
            await cluster.join()
            await cluster.wait_converged(timeout=60)
            await cluster.run_scenario([Kill(at=0.0, node="node-07")])
            # Per survivor, seconds from the kill to its dead verdict:
            print(await cluster.wait_detected("node-07", timeout=120))

    run_simulation(main, seed=4)
"""

from __future__ import annotations

from trio_gossip.apps.sim.cluster import Cluster, ClusterSpec, open_cluster
from trio_gossip.apps.sim.history import Fact, FactKind, History
from trio_gossip.apps.sim.observe import NodeStatus, SimNode
from trio_gossip.apps.sim.runner import deterministic_scheduler, run_simulation
from trio_gossip.apps.sim.scenario import (
    Heal,
    Kill,
    Leave,
    Partition,
    Pause,
    Resume,
    SetLoss,
    Slow,
    Step,
    UpdateMeta,
)
from trio_gossip.core.membership.bounds import (
    detection_formula,
    epidemic_rounds,
    epidemic_time,
    suspicion_window,
)

__all__ = [
    "Cluster",
    "ClusterSpec",
    "Fact",
    "FactKind",
    "Heal",
    "History",
    "Kill",
    "Leave",
    "NodeStatus",
    "Partition",
    "Pause",
    "Resume",
    "SetLoss",
    "SimNode",
    "Slow",
    "Step",
    "UpdateMeta",
    "detection_formula",
    "deterministic_scheduler",
    "epidemic_rounds",
    "epidemic_time",
    "open_cluster",
    "run_simulation",
    "suspicion_window",
]
