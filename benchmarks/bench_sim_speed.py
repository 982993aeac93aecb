"""Simulation speed: simulated seconds per wall second on the memory network + mock clock.

    python benchmarks/bench_sim_speed.py [--nodes 100,1000] [--seconds 60] [--compress]
                                         [--profile] [--name sim_speed] [--quick]
                                         [--results DIR]

For each cluster size: join every node through node 0 and wait until every view is complete
(the join phase, timed on its own: every node's alive announcement reaches every node about
retransmit-limit times, n^2 log n messages), then run ``--seconds`` of simulated steady state.
Compression is off unless --compress (the pure-Python LZW then dominates). --profile runs the
join and steady phases of the largest size under cProfile and lists the hot spots. The goal:
1,000 nodes for 60 simulated seconds in under 60 wall seconds. Writes
results/sim_speed.{json,md,png} (or --name; the png: simulated s per CPU s against N).
--quick: 20 and 50 nodes for 5 simulated seconds. The figures in results/: ``--nodes 100,1000`` and,
for the hot spots, ``--nodes 200 --seconds 30 --profile --name sim_speed_profile``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import pstats
import sys
import time
from pathlib import Path

import trio
from report import plot_bars, progress
from sim_results import RESULTS, recorded_command, write

from trio_gossip.apps.sim import ClusterSpec, open_cluster, run_simulation
from trio_gossip.core.config import Config
from trio_gossip.core.membership.bounds import join_timeout

Profiles = tuple[cProfile.Profile, cProfile.Profile] | None  # (join, steady)


def measure(nodes: int, seconds: float, compress: bool, profiles: Profiles) -> dict[str, float]:
    config = Config.lan(name="sim", enable_compression=compress)
    spec = ClusterSpec(nodes=nodes, seed=1, config=config, join_spacing=0.005)
    out: dict[str, float] = {}

    async def main() -> None:
        async with open_cluster(spec) as cluster:
            cluster.history.enabled = False  # n^2 join facts are not what we time
            wall, cpu = time.perf_counter(), time.process_time()
            if profiles is not None:
                profiles[0].enable()
            await cluster.join()
            converged = await cluster.wait_converged(timeout=join_timeout(config, nodes),
                                                     poll=1.0)  # fmt: skip
            # The join's announcements are still being retransmitted: let the queues drain.
            limit = join_timeout(config, nodes)
            settled = await cluster.wait_until(cluster.quiet, timeout=limit, poll=1.0)
            if profiles is not None:
                profiles[0].disable()
            out["join_wall"] = time.perf_counter() - wall
            out["join_cpu"] = time.process_time() - cpu
            out["join_sim"] = converged
            out["settled_sim"] = settled
            before = cluster.net.statistics().packets_sent
            wall, cpu = time.perf_counter(), time.process_time()
            if profiles is not None:
                profiles[1].enable()
            await trio.sleep(seconds)
            if profiles is not None:
                profiles[1].disable()
            out["steady_wall"] = time.perf_counter() - wall
            out["steady_cpu"] = time.process_time() - cpu
            out["packets_per_sim_s"] = (cluster.net.statistics().packets_sent - before) / seconds

    run_simulation(main, seed=1)
    return out


def _unrooted(line: str) -> str:
    """A profile line without this machine's install or checkout paths."""
    repo = str(Path(__file__).resolve().parents[1]) + "/"
    return line.replace(sys.prefix, "").replace(repo, "")


def hot_spots(profile: cProfile.Profile, count: int = 15) -> list[str]:
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(count)
    lines = text.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("ncalls"))
    return ["```", *(_unrooted(line) for line in lines[start:] if line.strip()),
            "```"]  # fmt: skip


def main() -> None:
    logging.disable(logging.WARNING)  # lost probes under loss are expected here, not news
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", default="100,1000")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--compress", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--name", default="sim_speed", help="results/<name>.{json,md,png}")
    parser.add_argument("--quick", action="store_true", help="20,50 nodes, 5 simulated s")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the files go")
    args = parser.parse_args()
    if args.quick:
        args.nodes, args.seconds = "20,50", 5.0
    sizes = [int(x) for x in args.nodes.split(",")]
    rows = []
    profiles: Profiles = None
    for n in progress(sizes, "cluster sizes"):
        if args.profile and n == max(sizes):
            profiles = (cProfile.Profile(), cProfile.Profile())
        r = measure(n, args.seconds, args.compress, profiles)
        ratio = args.seconds / r["steady_cpu"]
        rows.append((n, "on" if args.compress else "off", r["join_sim"], r["settled_sim"],
                     r["join_cpu"],
                     r["join_wall"], args.seconds, r["steady_cpu"], r["steady_wall"], ratio,
                     ratio * n, r["packets_per_sim_s"]))  # fmt: skip
    notes = ["Join phase: from the first join until every node lists all n (converged), and",
             "until no broadcast is queued anywhere (settled), in simulated seconds; its cpu and",
             "wall seconds run to settled. Steady: the simulated seconds after that. Ratios use",
             "CPU time (the machine is shared; wall time is shown too).",
             "Goal: 1,000 nodes x 60 simulated s in < 60 wall s (ratio >= 1 at n = 1,000)."]  # fmt: skip  # noqa: E501
    if profiles is not None:
        for phase, profile in zip(("join", "steady"), profiles, strict=True):
            notes += ["", f"Hot spots, {phase} phase at n = {max(sizes)} (cProfile, by own time;",
                      "the profiler slows everything several times):", "",
                      *hot_spots(profile)]  # fmt: skip
    command = recorded_command()
    write(args.name, "Simulation speed (memory network, mock clock, LAN config)",
          ["nodes", "compression", "converged at sim s", "settled at sim s", "join cpu s",
           "join wall s", "steady sim s", "steady cpu s", "steady wall s", "sim s / cpu s",
           "node-s / cpu s", "packets / sim s"],
          rows, command=command, notes=notes, results=args.results)  # fmt: skip
    plot_bars(args.results / f"{args.name}.png", [f"{row[0]:,} nodes" for row in rows],
              {"steady phase": [row[9] for row in rows],
               "join phase": [row[3] / row[4] for row in rows]},
              title="Simulation speed (memory network, mock clock, LAN config)",
              value_label="simulated s per CPU s", horizontal=False,
              refs={"goal at 1,000 nodes": 1.0})  # fmt: skip


if __name__ == "__main__":
    main()
