"""Simulate clusters of nodes on the in-memory network under Trio's mock clock (floor 5).

    from trio_gossip.sim import ClusterSpec, Kill, open_cluster, run_simulation

    async def main() -> None:
        async with open_cluster(ClusterSpec(nodes=30, seed=4)) as cluster:
            await cluster.join()
            await cluster.wait_converged(timeout=60)
            await cluster.run_scenario([Kill(at=0.0, node="node-07")])
            # Per survivor, seconds from the kill to its dead verdict:
            print(await cluster.wait_detected("node-07", timeout=120))

    run_simulation(main, seed=4)

Names are imported lazily so the command line's parser stays quick to build.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trio_gossip.sim.bounds import (
        detection_formula,
        epidemic_rounds,
        epidemic_time,
        suspicion_window,
    )
    from trio_gossip.sim.cluster import Cluster, ClusterSpec, open_cluster
    from trio_gossip.sim.history import Fact, FactKind, History
    from trio_gossip.sim.observe import NodeStatus, SimNode
    from trio_gossip.sim.runner import deterministic_scheduler, run_simulation
    from trio_gossip.sim.scenario import (
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

_EXPORTS = {
    "detection_formula": "bounds",
    "epidemic_rounds": "bounds",
    "epidemic_time": "bounds",
    "suspicion_window": "bounds",
    "Cluster": "cluster",
    "ClusterSpec": "cluster",
    "open_cluster": "cluster",
    "Fact": "history",
    "FactKind": "history",
    "History": "history",
    "NodeStatus": "observe",
    "SimNode": "observe",
    "deterministic_scheduler": "runner",
    "run_simulation": "runner",
    "Heal": "scenario",
    "Kill": "scenario",
    "Leave": "scenario",
    "Partition": "scenario",
    "Pause": "scenario",
    "Resume": "scenario",
    "SetLoss": "scenario",
    "Slow": "scenario",
    "Step": "scenario",
    "UpdateMeta": "scenario",
}

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'trio_gossip.sim' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"trio_gossip.sim.{module}"), name)
    globals()[name] = value
    return value
