"""Which clock stamps KV versions and heartbeats.

KV times are compared *across* nodes (last-writer-wins versions, heartbeat ages, the
tombstone horizon), so they must be wall-clock seconds, not Trio's per-process monotonic
clock. Under a `MockClock` every simulated node shares the one Trio clock, and wall time
would make a simulation depend on when it ran; there the store counts from a fixed epoch
on the Trio clock instead, so the same seed gives the same versions.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import trio

from trio_gossip.shell.sim_clock import SimClock

SIM_EPOCH = 1_700_000_000.0  # a plausible Unix time, so versions and pages read as dates


def sim_clock() -> float:
    return SIM_EPOCH + trio.current_time()


def default_clock() -> Callable[[], float]:
    """Wall time, or `sim_clock` when the running Trio loop runs on simulated time."""
    # A MockClock exists only if trio.testing was imported; importing it here would pull in
    # pytest (trio.testing's RaisesGroup does), some 10 MiB for every node.
    clock = trio.lowlevel.current_clock()
    if isinstance(clock, SimClock):
        return sim_clock
    testing = sys.modules.get("trio.testing")
    if testing is not None and isinstance(clock, testing.MockClock):
        return sim_clock
    return time.time
