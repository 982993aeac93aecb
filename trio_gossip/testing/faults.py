"""Faults a test can schedule against a cluster: the simulator's steps, plus a restart, a clock
skew and a clock drift. ``at`` is seconds after the schedule starts
(``GossipCluster.run_schedule``)."""

from __future__ import annotations

import attrs

from trio_gossip.apps.sim.scenario import Heal, Kill, Partition, Pause, Resume, SetLoss, Slow


@attrs.frozen
class Restart:
    """Start a killed node again under its old name and address, and rejoin it."""

    at: float
    node: str


@attrs.frozen
class Skew:
    """Offset the node's wall clock (the one its KV store and ring heartbeats stamp with)."""

    at: float
    node: str
    offset: float


@attrs.frozen
class Drift:
    """From then on the node's wall clock gains ``rate`` seconds a second (negative: loses)."""

    at: float
    node: str
    rate: float


Fault = Kill | Restart | Pause | Resume | Slow | Partition | Heal | SetLoss | Skew | Drift

__all__ = [
    "Drift",
    "Fault",
    "Heal",
    "Kill",
    "Partition",
    "Pause",
    "Restart",
    "Resume",
    "SetLoss",
    "Skew",
    "Slow",
]
