"""Run a simulation on Trio's mock clock, reproducibly from one seed."""

from __future__ import annotations

import gc
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import trio
from trio._core import _run as trio_run_internals

from trio_gossip.shell.sim_clock import SimClock

T = TypeVar("T")


@contextmanager
def deterministic_scheduler(seed: int) -> Iterator[None]:
    """Make Trio's scheduling order a function of ``seed`` for the duration of the block.

    Trio shuffles (or reverses) each batch of runnable tasks with the module-level
    ``random.Random`` ``trio._core._run._r``, on purpose, so that code does not come to rely
    on an order. A replayable simulation needs that order to repeat, so we seed ``_r`` from
    the simulation seed. We also switch on the mode Trio itself uses under Hypothesis, which
    sorts each batch by task creation order before shuffling: otherwise tasks woken by equal
    deadlines enter the batch in ``id()`` order, which differs between runs.
    """
    flag = "_ALLOW_DETERMINISTIC_SCHEDULING"
    saved_flag = getattr(trio_run_internals, flag)
    saved_state = trio_run_internals._r.getstate()
    setattr(trio_run_internals, flag, True)
    trio_run_internals._r.seed(seed)
    try:
        yield
    finally:
        setattr(trio_run_internals, flag, saved_flag)
        trio_run_internals._r.setstate(saved_state)


@contextmanager
def patient_collector() -> Iterator[None]:
    """Run Python's cycle collector rarely for the duration of the block.

    A simulated join allocates millions of short-lived messages and keeps a member table per
    node (a million entries at 1,000 nodes), while making almost no reference cycles. With
    the default thresholds the collector runs every 700 allocations and re-walks the whole
    growing heap every time it grows by a quarter: at 1,000 nodes that was over half of the
    join's CPU time. Even a young-generation pass is dear here: each one walks every node's
    freshly rebuilt tuples (its broadcast queue's order, its probe order: a thousand entries
    each), so its cost hardly depends on how many allocations it follows. At 1,000 nodes,
    passes every 50,000 allocations took 20 s of a join's CPU, every 100,000 took 13 s, every
    1,000,000 took 5 s; the middle generation (over a million survivors by then) cost 8 s
    more at one pass per 20, so it waits for the end of the run. A run left with the
    collector off grew no larger: cycles are rare, and are still collected, later.
    """
    saved = gc.get_threshold()
    gc.set_threshold(1_000_000, 1_000, 100)
    try:
        yield
    finally:
        gc.set_threshold(*saved)


def run_simulation(main: Callable[[], Awaitable[T]], *, seed: int) -> T:
    """``trio.run(main)`` on a clock that jumps over idle time (so simulated minutes take
    milliseconds) with the scheduler seeded from ``seed``."""
    clock = SimClock()
    with deterministic_scheduler(seed), patient_collector():
        return trio.run(main, clock=clock)
