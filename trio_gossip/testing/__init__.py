"""Deterministic tests of your own cluster logic: a simulated cluster on Trio's simulated
clock, from one seed.

    from trio_gossip.testing import open_cluster, run

    async def main() -> None:
        async with open_cluster(5, seed=7) as cluster:
            await cluster.converged()
            await cluster.kill("node-03")
            await cluster.detected("node-03")

    run(main, seed=7)

Under pytest, the ``gossip`` fixture (trio_gossip.testing.plugin) does the ``run`` part and
picks, prints and replays the seed. The names load on first use (PEP 562): pytest loads the
plugin in every run, and a run that builds no cluster should not pay for one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from trio_gossip._exports import lazy_exports

if TYPE_CHECKING:
    from trio_gossip.apps.sim.history import Fact, FactKind
    from trio_gossip.testing.cluster import GossipCluster, default_config, open_cluster
    from trio_gossip.testing.faults import (
        Drift,
        Fault,
        Heal,
        Kill,
        Partition,
        Pause,
        Restart,
        Resume,
        SetLoss,
        Skew,
        Slow,
    )
    from trio_gossip.testing.node import NodeHandle
    from trio_gossip.testing.views import GossipTimeoutError

T = TypeVar("T")

_FAULTS = "trio_gossip.testing.faults"
_EXPORTS = {
    "Fact": "trio_gossip.apps.sim.history",
    "FactKind": "trio_gossip.apps.sim.history",
    "GossipCluster": "trio_gossip.testing.cluster",
    "open_cluster": "trio_gossip.testing.cluster",
    "default_config": "trio_gossip.testing.cluster",
    "NodeHandle": "trio_gossip.testing.node",
    "GossipTimeoutError": "trio_gossip.testing.views",
    **dict.fromkeys(("Drift", "Fault", "Heal", "Kill", "Partition", "Pause", "Restart", "Resume",
                     "SetLoss", "Skew", "Slow"), _FAULTS),
}


def run(main: Callable[[], Awaitable[T]], *, seed: int) -> T:
    """Run ``main`` on simulated time (idle time costs nothing) with Trio's scheduling order
    fixed by ``seed``: the same seed replays the same run."""
    from trio_gossip.apps.sim.runner import run_simulation  # noqa: PLC0415

    return run_simulation(main, seed=seed)



__all__ = [
    "Drift",
    "Fact",
    "FactKind",
    "Fault",
    "GossipCluster",
    "GossipTimeoutError",
    "Heal",
    "Kill",
    "NodeHandle",
    "Partition",
    "Pause",
    "Restart",
    "Resume",
    "SetLoss",
    "Skew",
    "Slow",
    "default_config",
    "open_cluster",
    "run",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
