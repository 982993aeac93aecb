"""Wall-clock cost of simulated clusters on the memory network and the mock clock.

    python benchmarks/bench_node_cluster.py [nodes] [simulated seconds] [--compress] [--quick]
                                            [--results DIR]

Starts N nodes (LAN config), joins each to a random earlier one, runs for the given simulated
time, kills one node and reports when every live node has it dead. Compression is off unless
--compress is given: the pure-Python LZW dominates the cost otherwise. Writes
results/node_cluster.png (wall and simulated seconds per phase). --quick: 20 nodes, 5 s.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from contextlib import AsyncExitStack
from pathlib import Path

import trio
import trio.testing
from report import RESULTS, plot_bars, progress

from trio_gossip import Config, Memberlist, NodeState, open_memberlist
from trio_gossip.transport.memory import MemoryNetwork


async def run(n: int, seconds: float, compress: bool) -> dict[str, tuple[float, float]]:
    """Per phase: (wall seconds, simulated seconds)."""
    net = MemoryNetwork(seed=1)
    rng = random.Random(1)
    wall = time.perf_counter()
    async with AsyncExitStack() as stack:
        nodes: list[Memberlist] = []
        for i in progress(range(n), "starting nodes"):
            config = Config.lan(name=f"n{i}", enable_compression=compress)
            node = await stack.enter_async_context(
                open_memberlist(config, transport=net.add_node(), rng=random.Random(i),
                                leave_on_exit=False)
            )  # fmt: skip
            if nodes:
                await node.join([rng.choice(nodes).local_member.address])
            nodes.append(node)
        joined = time.perf_counter()
        start = trio.current_time()
        while not all(node.num_members() == n for node in nodes):
            await trio.sleep(0.5)
        converged = trio.current_time() - start
        await trio.sleep(seconds)
        steady = time.perf_counter()
        victim = nodes[-1]
        net.kill(victim.local_member.host)
        killed = trio.current_time()
        while not all(
            (m := node.member(victim.local_member.name)) is not None and m.state == NodeState.DEAD
            for node in nodes[:-1]
        ):
            await trio.sleep(0.5)
        detected = trio.current_time() - killed
        done = time.perf_counter()
        packets = sum(node.statistics().packets_received for node in nodes)
        print(f"{n} nodes: start+join {joined - wall:.1f}s wall; converged after {converged:.1f}s"
              f" simulated; {seconds:.0f}s steady state took {steady - joined:.1f}s wall;"
              f" dead everywhere {detected:.1f}s simulated after the kill ({done - steady:.1f}s"
              f" wall); {packets} packets received in total")  # fmt: skip
    return {"start + join": (joined - wall, math.nan),
            "convergence + steady state": (steady - joined, converged + seconds),
            "detection of a kill": (done - steady, detected)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("nodes", type=int, nargs="?", default=100)
    parser.add_argument("seconds", type=float, nargs="?", default=30.0, help="simulated seconds")
    parser.add_argument("--compress", action="store_true", help="LZW on (off by default)")
    parser.add_argument("--quick", action="store_true", help="20 nodes, 5 simulated seconds")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the PNG goes")
    args = parser.parse_args()
    if args.quick:
        args.nodes, args.seconds = 20, 5.0
    n, seconds, compress = args.nodes, args.seconds, args.compress
    phases = trio.run(run, n, seconds, compress,
                      clock=trio.testing.MockClock(autojump_threshold=0))  # fmt: skip
    plot_bars(args.results / "node_cluster.png", list(phases),
              {"wall s": [wall for wall, _ in phases.values()],
               "simulated s": [sim for _, sim in phases.values()]},
              title=f"{n} simulated nodes (memory network, mock clock)",
              value_label="seconds")  # fmt: skip


if __name__ == "__main__":
    main()
