"""Simulated time for Trio that costs one trip through the run loop per instant.

``trio.testing.MockClock(autojump_threshold=0)`` skips idle time in two trips: in the first
the loop finds every task blocked and jumps the clock, in the second it wakes the sleepers
whose deadline came. A simulation of a few hundred nodes has hundreds of distinct instants
per simulated second, and each trip is tens of microseconds of Trio's own work, so this clock
jumps at the moment the loop asks how long it may sleep (Trio asks only when no task can
run): the sleepers then wake in the same trip.

Trio's ``wait_all_tasks_blocked`` never fires under it while any deadline is pending (the
loop is never idle long enough); use ``MockClock`` for tests that need it.
"""

from __future__ import annotations

import math

import trio

# What MockClock answers for "no deadline": sleep until I/O (a thread, a real socket) wakes us.
_FOREVER = 999_999_999.0


class SimClock(trio.abc.Clock):
    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)

    def start_clock(self) -> None:
        pass

    def current_time(self) -> float:
        return self._now

    def deadline_to_sleep_time(self, deadline: float) -> float:
        if deadline <= self._now:
            return 0.0
        if math.isinf(deadline):
            return _FOREVER
        self._now = deadline  # exactly the deadline: no float drift from adding differences
        return 0.0

    def jump(self, seconds: float) -> None:
        """Move time forward by hand, as ``MockClock.jump`` does."""
        if seconds < 0:
            raise ValueError("time can't go backwards")
        self._now += seconds
