"""A simulated cluster at rest: how fast the simulator runs it, and what a node costs in memory.

    python benchmarks/bench_sim_rest.py [--nodes 1000,10000] [--seconds 60] [--quick]
                                        [--name sim_rest] [--results DIR]

For each size the nodes start on the memory network and are formed at once
(``Cluster.form_at_once``: every node holds every node, as converged joins leave them, without
the joins' n^2 log n messages); once the alive each node queued at its start has had its sends,
they run ``--seconds`` simulated seconds with nothing
happening but probes, acks and periodic push/pulls. Times are CPU and wall seconds of this
process; memory is the growth of its resident set from before the nodes started to the end,
divided by the nodes (sizes run smallest first, so freed memory of a smaller run can only
make a larger one look cheaper, never dearer). The goal: 10,000 nodes x 60 simulated s in
60 wall s. --quick: 100 and 300 nodes for 5 simulated s. Writes results/<name>.{json,md,png}.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
import time
from pathlib import Path

import trio
from report import plot_bars, progress
from sim_results import RESULTS, recorded_command, write

from trio_gossip.apps.sim import ClusterSpec, open_cluster, run_simulation
from trio_gossip.core.config import Config

GOAL_NODES, GOAL_SECONDS = 10_000, 60.0


def resident_mib() -> float:
    """This process's resident set now (not its peak: sizes run one after another)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(nodes: int, seconds: float) -> dict[str, float]:
    # Suspicion sampling once a simulated second: the study watches nothing but speed.
    spec = ClusterSpec(nodes=nodes, seed=1, config=Config.lan(name="sim"), sample_interval=1.0)
    out: dict[str, float] = {}
    gc.collect()
    before = resident_mib()

    async def main() -> None:
        cpu = time.process_time()
        async with open_cluster(spec) as cluster:
            cluster.history.enabled = False
            await cluster.form_at_once()
            out["form_cpu"] = time.process_time() - cpu
            # Each node queued its own alive when it started: once those have had their
            # sends (to peers that know them already), nothing is queued anywhere.
            await cluster.wait_until(cluster.quiet, timeout=60.0, poll=1.0)
            sent = cluster.net.statistics().packets_sent
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in progress(range(int(seconds)), f"{nodes:,} nodes, simulated s"):
                await trio.sleep(1.0)
            await trio.sleep(seconds - int(seconds))
            out["steady_cpu"] = time.process_time() - cpu
            out["steady_wall"] = time.perf_counter() - wall
            out["packets_per_sim_s"] = (cluster.net.statistics().packets_sent - sent) / seconds
            out["mib"] = resident_mib() - before
            running = cluster.running()
            out["all_alive"] = float(all(sim.memberlist.num_members() == nodes for sim in running))

    run_simulation(main, seed=1)
    return out


def main() -> None:
    logging.disable(logging.WARNING)
    parser = argparse.ArgumentParser(description="A formed simulated cluster at rest: speed "
                                     "and memory per node.")  # fmt: skip
    parser.add_argument("--nodes", default="1000,10000", help="comma-separated sizes")
    parser.add_argument("--seconds", type=float, default=GOAL_SECONDS)
    parser.add_argument("--name", default="sim_rest", help="results/<name>.{json,md,png}")
    parser.add_argument("--quick", action="store_true", help="100,300 nodes, 5 simulated s")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the files go")
    args = parser.parse_args()
    if args.quick:
        args.nodes, args.seconds = "100,300", 5.0
    sizes = sorted(int(x) for x in args.nodes.split(","))
    rows = []
    for n in sizes:
        r = measure(n, args.seconds)
        if not r["all_alive"]:
            sys.exit(f"bench_sim_rest: a node of the {n}-node cluster lost a member at rest")
        per_60 = r["steady_wall"] * 60.0 / args.seconds
        rows.append((n, r["form_cpu"], args.seconds, r["steady_cpu"], r["steady_wall"],
                     args.seconds / r["steady_cpu"], n * args.seconds / r["steady_cpu"], per_60,
                     r["mib"] * 1024 / n, r["packets_per_sim_s"]))  # fmt: skip
    notes = ["Formed at once (no joins); then the simulated seconds at rest, every member",
             "alive at the end in every view (checked). 'wall s per 60 sim s' scales the",
             "measured run; KiB per node is resident-set growth over the nodes.",
             f"Goal: {GOAL_NODES:,} nodes x {GOAL_SECONDS:g} simulated s in <= "
             f"{GOAL_SECONDS:g} wall s."]  # fmt: skip
    command = recorded_command()
    title = "A formed simulated cluster at rest (memory network, SimClock, LAN config)"
    write(args.name, title,
          ["nodes", "form cpu s", "sim s", "cpu s", "wall s", "sim s / cpu s",
           "node-s / cpu s", "wall s per 60 sim s", "KiB per node", "packets / sim s"],
          rows, command=command, notes=notes, results=args.results)  # fmt: skip
    plot_bars(args.results / f"{args.name}.png", [f"{row[0]:,} nodes" for row in rows],
              {"wall s per 60 simulated s": [row[7] for row in rows]},
              title=title, value_label="wall seconds", horizontal=False,
              refs={"goal (60 s)": GOAL_SECONDS})  # fmt: skip


if __name__ == "__main__":
    main()
