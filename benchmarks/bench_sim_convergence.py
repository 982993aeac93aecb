"""Dissemination vs the epidemic bound, on the simulated network (LAN config, no loss).

    python benchmarks/bench_sim_convergence.py [--sizes 10,100,1000] [--seeds 5]
                                               [--big-seeds 1] [--compress] [--quick]
                                               [--results DIR]

For each size and seed: join every node through node 0, wait until every view is complete
(join rounds: gossip intervals after the last join returned), then update one node's metadata
and time its arrival at every node (reach rounds). Both are compared with the push-epidemic
bound log_{f+1}(n) + ln(n)/f rounds. Sizes of 1,000 and more use --big-seeds seeds and a
history without the join's n^2 facts; they take minutes (5,000 nodes: over an hour), and print
a line per simulated second of the join. Compression is off unless
--compress (pure-Python LZW). --quick: sizes 10,30 with 2 seeds (seconds). Writes
results/sim_convergence.{json,md,png} (the png: rounds against N beside the bound).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import attrs
from report import plot_lines, progress
from sim_results import RESULTS, recorded_command, write

from trio_gossip.apps.sim.studies import Spread, spread_study
from trio_gossip.core.config import Config

BIG = 1000


def main() -> None:
    logging.disable(logging.WARNING)  # lost probes under loss are expected here, not news
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--big-seeds", type=int, default=1)
    parser.add_argument("--compress", action="store_true")
    parser.add_argument("--quick", action="store_true", help="sizes 10,30 with 2 seeds")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the files go")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.seeds = "10,30", 2
    config = Config.lan(name="sim", enable_compression=args.compress)
    rows = []
    runs: list[Spread] = []
    sizes = [int(x) for x in args.sizes.split(",")]
    plan = [(n, s) for n in sizes for s in range(args.big_seeds if n >= BIG else args.seeds)]
    by_size: dict[int, list[Spread]] = {}
    walls: dict[int, float] = {}
    for n, seed in progress(plan, "convergence runs"):
        start = time.perf_counter()
        by_size.setdefault(n, []).append(
            spread_study(nodes=n, seed=seed, config=config, record_join=n < BIG,
                         on_progress=_reporter(n, seed, start) if n >= BIG else None)
        )
        walls[n] = walls.get(n, 0.0) + time.perf_counter() - start
    for n, spreads in by_size.items():
        wall = walls[n] / len(spreads)
        runs += spreads
        joins = [s.join_rounds for s in spreads]
        reach_max = [s.reach_rounds[-1] for s in spreads]
        reach_median = [statistics.median(s.reach_rounds) for s in spreads]
        rows.append((n, len(spreads), spreads[0].bound_rounds, statistics.median(joins),
                     max(joins), statistics.median(reach_median), statistics.median(reach_max),
                     max(reach_max), max(reach_max) / spreads[0].bound_rounds, wall))  # fmt: skip
    notes = [
        "Rounds are gossip intervals (0.2 s, fanout 3). join: last join() returned -> every",
        "view complete (the n alive announcements compete for packet space; catch-up push/pulls",
        "fill what gossip missed). reach: a metadata update -> each node knew;",
        "'median' is the median node, 'last' the last node (median and max over seeds).",
    ]
    command = recorded_command()
    write("sim_convergence", "Convergence and broadcast reach vs the epidemic bound",
          ["nodes", "seeds", "bound rounds", "join rounds (median)", "join rounds (max)",
           "reach median node", "reach last node (median)", "reach last node (max)",
           "last / bound", "wall s per run"],
          rows, command=command, notes=notes,
          extra={"runs": [attrs.asdict(r) for r in runs]},
          results=args.results)  # fmt: skip
    ns = [row[0] for row in rows]
    plot_lines(args.results / "sim_convergence.png",
               {"epidemic bound": (ns, [row[2] for row in rows]),
                "join rounds (median)": (ns, [row[3] for row in rows]),
                "reach, median node": (ns, [row[5] for row in rows]),
                "reach, last node (median)": (ns, [row[6] for row in rows]),
                "reach, last node (max)": (ns, [row[7] for row in rows])},
               title="Convergence and broadcast reach vs the epidemic bound",
               xlabel="nodes", ylabel="gossip rounds (0.2 s)", logx=True, logy=True)  # fmt: skip


def _reporter(n: int, seed: int, start: float) -> Callable[[float, int, int], None]:
    """A line per simulated second of a big run's join: its bar moves once per run."""

    def report(now: float, joined: int, complete: int) -> None:
        print(f"n={n:,} seed {seed}: {now:.0f} s simulated, {joined:,} joined, {complete:,}"
              f" views complete, {time.perf_counter() - start:.0f} s wall", file=sys.stderr,
              flush=True)  # fmt: skip

    return report


if __name__ == "__main__":
    main()
