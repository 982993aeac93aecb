"""A user's cluster test, timed: ``trio_gossip.testing.open_cluster(n)`` from start to
``await cluster.converged()``, in wall and CPU seconds (the issue's goals: 100 nodes in under
2 s wall, 1,000 in under 30 s).

    python benchmarks/bench_testing.py [--nodes 10,100] [--starts joined,formed] [--seed 1]
                                       [--name testing] [--quick] [--results DIR]

Each size and start runs once in a fresh simulation (``trio_gossip.testing.run``), exactly as
a test would: start the nodes, then either join them all to node-00 ("joined", the default
of ``open_cluster``) or form them at once ("formed", ``open_cluster(formed=True)``), wait for
every node to list every node as alive, then run 10 more simulated seconds (what a test
does next costs at least that). Writes results/<name>.{json,md,png}. --quick: 5 and 20 nodes.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import trio
from report import plot_bars, progress
from sim_results import RESULTS, recorded_command, write

from trio_gossip.testing import open_cluster, run

GOALS = {100: 2.0, 1000: 30.0}


STARTS = ("joined", "formed")
AFTER = 10.0  # simulated seconds run after convergence


def measure(nodes: int, seed: int, start: str) -> dict[str, float]:
    out: dict[str, float] = {}

    async def main() -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        async with open_cluster(nodes, seed=seed, formed=start == "formed") as cluster:
            simulated = await cluster.converged()
            out["wall"] = time.perf_counter() - wall
            out["cpu"] = time.process_time() - cpu
            out["sim"] = simulated
            out["bound"] = cluster.convergence_bound()
            then = time.perf_counter()
            await trio.sleep(AFTER)
            out["after"] = time.perf_counter() - then

    run(main, seed=seed)
    return out


def main() -> None:
    logging.disable(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", default="10,100", help="comma-separated cluster sizes")
    parser.add_argument("--starts", default=",".join(STARTS),
                        help="comma-separated: joined (joins through node-00), formed")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--name", default="testing", help="results/<name>.{json,md,png}")
    parser.add_argument("--quick", action="store_true", help="5 and 20 nodes")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the files go")
    args = parser.parse_args()
    sizes = [5, 20] if args.quick else [int(x) for x in args.nodes.split(",")]
    starts = args.starts.split(",")
    if unknown := set(starts) - set(STARTS):
        parser.error(f"--starts: unknown {sorted(unknown)}, choose from {', '.join(STARTS)}")
    runs = [(n, start) for start in starts for n in sizes]
    rows = []
    for n, start in progress(runs, "clusters"):
        r = measure(n, args.seed, start)
        goal = GOALS.get(n)
        rows.append((n, start, r["wall"], r["cpu"], r["sim"], r["bound"], r["after"],
                     "-" if goal is None else f"< {goal:g}"))  # fmt: skip
    command = recorded_command()
    notes = ["Start to converged: starting the nodes, then joining each to node-00 (10 ms apart,",
             "as open_cluster does: 'joined') or forming them at once (open_cluster(formed=True):",
             "'formed'), until every node lists every node as alive. 'converged at sim s' is the",
             "simulated wait inside converged(); 'bound' its default deadline",
             "(bounds.join_timeout); 'next 10 sim s' the wall time of the 10 simulated seconds",
             "after it. One run per size; the machine is shared."]  # fmt: skip
    write(args.name, "trio_gossip.testing: start to converged",
          ["nodes", "start", "wall s", "cpu s", "converged at sim s", "bound sim s",
           "next 10 sim s, wall s", "goal wall s"],
          rows, command=command, notes=notes, results=args.results)  # fmt: skip
    plot_bars(args.results / f"{args.name}.png",
              [f"{row[0]:,} nodes, {row[1]}" for row in rows],
              {"wall s": [row[2] for row in rows], "cpu s": [row[3] for row in rows]},
              title="trio_gossip.testing: start to converged", value_label="seconds",
              horizontal=False)  # fmt: skip


if __name__ == "__main__":
    main()
