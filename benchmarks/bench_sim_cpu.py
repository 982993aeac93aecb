"""CPU cost of a cluster at rest on real sockets: 20 nodes in one process on 127.0.0.1.

    python benchmarks/bench_sim_cpu.py [--nodes 20] [--seconds 30] [--profile lan|local]
                                       [--quick] [--results DIR]

Joins the nodes (UDP + TCP on loopback, real time), waits until every view is complete and
no broadcast is queued, then measures the process's CPU time over --seconds of rest: probes,
acks, timers, the odd push/pull. --quick: 5 nodes, 3 seconds. Writes
results/sim_cpu.{json,md,png} (the png: CPU per node as % of a core).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import trio
from report import plot_bars
from sim_results import RESULTS, recorded_command, write

from trio_gossip.apps.sim import ClusterSpec, open_cluster
from trio_gossip.core.config import Config
from trio_gossip.core.membership.bounds import join_timeout


async def measure(nodes: int, seconds: float, config: Config) -> dict[str, float]:
    spec = ClusterSpec(nodes=nodes, seed=1, config=config)
    async with open_cluster(spec, real=True) as cluster:
        cluster.history.enabled = False
        await cluster.join()
        limit = join_timeout(config, nodes)
        await cluster.wait_converged(timeout=limit)
        await cluster.wait_until(
            cluster.quiet,
            timeout=limit,
        )
        before = [s.memberlist.statistics() for s in cluster.nodes]
        cpu, wall = time.process_time(), time.perf_counter()
        await trio.sleep(seconds)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        after = [s.memberlist.statistics() for s in cluster.nodes]
        assert cluster.converged(all_alive=True), "a node was suspected at rest"
    sent = sum(a.packets_sent - b.packets_sent for a, b in zip(after, before, strict=True))
    received = sum(a.bytes_received - b.bytes_received for a, b in zip(after, before, strict=True))
    return {
        "cpu": cpu,
        "wall": wall,
        "per_node_ms": 1000 * cpu / wall / nodes,
        "packets": sent / wall / nodes,
        "bytes": received / wall / nodes,
    }


def main() -> None:
    logging.disable(logging.WARNING)  # lost probes under loss are expected here, not news
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--profile", choices=("lan", "local"), default="lan")
    parser.add_argument("--quick", action="store_true", help="5 nodes, 3 seconds")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the files go")
    args = parser.parse_args()
    if args.quick:
        args.nodes, args.seconds = 5, 3.0
    config = Config.lan(name="cpu") if args.profile == "lan" else Config.local(name="cpu")
    r = trio.run(measure, args.nodes, args.seconds, config)
    rows = [(args.nodes, args.profile, r["wall"], r["cpu"], r["per_node_ms"],
             r["per_node_ms"] / 10, r["packets"], r["bytes"])]  # fmt: skip
    command = recorded_command()
    write("sim_cpu", "CPU per node at rest, real sockets on loopback, one process",
          ["nodes", "config", "wall s", "cpu s", "cpu ms per node-s", "% of a core per node",
           "packets sent per node-s", "bytes received per node-s"],
          rows, command=command,
          notes=["At rest: converged, nothing queued; CPU of the whole process."],
          results=args.results)  # fmt: skip
    plot_bars(args.results / "sim_cpu.png",
              [f"{args.nodes} nodes, {args.profile} config"],
              {"% of a core per node": [r["per_node_ms"] / 10]},
              title="CPU per node at rest (real sockets on loopback, one process)",
              value_label="% of one core per node")  # fmt: skip


if __name__ == "__main__":
    main()
