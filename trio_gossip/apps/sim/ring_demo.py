"""``trio-gossip demo --ring``: a cluster builds one hash ring, loses an instance, agrees.

N simulated nodes (mock clock, seeded network) each run a KV store and a lifecycler that
registers one instance with 128 tokens. The demo prints how the rings converge, one
instance leaves (its LEFT tombstone spreading), the final ring as dskit's ring page, and
lookups that every node answers the same way. Seconds of wall time; replays from --seed.
"""

from __future__ import annotations

import math
import random
import statistics
import sys
import time
from typing import TextIO

import trio
import trio.testing

from trio_gossip.apps.sim.ring_cluster import RingNode, digest, ring_cluster, seed_trio, wait_until
from trio_gossip.core.config import Config
from trio_gossip.core.ring.lookup import WRITE
from trio_gossip.core.ring.view import render_table
from trio_gossip.shell.ring.client import RingClient, ring_page
from trio_gossip.transport.memory import LinkConfig, MemoryNetwork

HEARTBEAT = 5.0
SHOWN_ROWS = 12


def _epidemic_rounds(n: int, fanout: int) -> float:
    return math.log(n, fanout + 1) + math.log(n) / fanout


def _agreeing(nodes: list[RingNode], expected: set[str]) -> int:
    """How many nodes hold exactly `expected`, all ACTIVE, in the most common ring."""
    good = [n for n in nodes if {d.id for d in n.ring().live() if d.state.name == "ACTIVE"}
            == expected and len(n.ring().live()) == len(expected)]  # fmt: skip
    if not good:
        return 0
    counts: dict[str, int] = {}
    for n in good:
        counts[digest(n.ring())] = counts.get(digest(n.ring()), 0) + 1
    return max(counts.values())


async def _demo(n: int, seed: int, loss: float, out: TextIO) -> None:
    seed_trio(seed)
    net = MemoryNetwork(seed=seed, default_link=LinkConfig(loss=loss))
    config = Config.lan(name="demo")
    options = {"heartbeat_period": HEARTBEAT}
    fanout, gi = config.gossip_nodes, config.gossip_interval
    out.write(f"Ring demo: {n} nodes, each registering one instance with 128 tokens "
              f"(seed {seed}, loss {loss:.0%}, simulated time)\n")  # fmt: skip
    async with ring_cluster(net, n, config=config, seed=seed, lifecyclers=True,
                            lifecycler_options=options) as nodes:  # fmt: skip
        start = trio.current_time()
        names = {node.name for node in nodes}
        last, progress, printed = -1, 0.0, -math.inf
        while (agreeing := _agreeing(nodes, names)) < n:
            now = trio.current_time() - start
            if agreeing != last:
                last, progress = agreeing, now
            if agreeing and now - printed >= 1.0:  # a line a simulated second at most
                out.write(f"  t={now:5.1f}s  nodes holding the full ring: {agreeing:3d}/{n}\n")
                printed = now
            await trio.sleep(0.2)
        converged = trio.current_time() - start
        if converged - progress > 2.0:
            out.write(f"  (gossip missed a change at {n - last} node(s); the instance's next "
                      f"record refresh or a push/pull repaired it)\n")  # fmt: skip
        bound = _epidemic_rounds(n, fanout)
        out.write(f"  t={converged:5.1f}s  every node holds the same ring of {n} ACTIVE "
                  f"instances\n")  # fmt: skip
        budget = config.udp_buffer_size
        out.write(f"  (one change spreads in about {bound:.1f} gossip rounds = {bound * gi:.2f} s;"
                  f" here {3 * n} changes of ~650 bytes, PENDING, JOINING with tokens and"
                  f" ACTIVE per instance, share {budget}-byte gossip packets)\n\n")  # fmt: skip

        leaver = nodes[rng_index(seed, n)]
        out.write(f"{leaver.name} leaves the ring: LEAVING, then a LEFT tombstone\n")
        t0 = trio.current_time()
        leaver.leave.set()
        await leaver.left.wait()
        await wait_until(
            lambda: all(node.ring().instance(leaver.name) is None for node in nodes), 120.0
        )
        out.write(f"  gone from every node's ring {trio.current_time() - t0:.2f} s after it "
                  f"started leaving\n\n")  # fmt: skip

        page = ring_page(nodes[0].kv)
        table = render_table(page).splitlines()
        out.write(f"The ring as {nodes[0].name} sees it (dskit's ring page):\n")
        for line in table[: SHOWN_ROWS + 1]:
            out.write("  " + line + "\n")
        if len(table) > SHOWN_ROWS + 2:
            out.write(f"  ... {len(table) - SHOWN_ROWS - 2} more\n")
        out.write("  " + table[-1] + "\n\n")

        clients = [RingClient(node.kv) for node in nodes]
        rng = random.Random(seed)
        out.write("Write replicas (RF 3) for a few keys, identical on all nodes:\n")
        for key in (rng.getrandbits(32) for _ in range(4)):
            answers = {tuple(d.id for d in c.get(key, WRITE).instances) for c in clients}
            mark = "same on all nodes" if len(answers) == 1 else f"{len(answers)} answers!"
            out.write(f"  key {key:10d} -> {', '.join(next(iter(answers)))}  ({mark})\n")
        ownership = [s["ownership"] for s in page["shards"]]
        received = [node.kv.statistics().received_broadcasts_bytes for node in nodes]
        elapsed = trio.current_time() - start
        out.write(f"\nOwnership per instance: min {min(ownership):.1%}, median "
                  f"{statistics.median(ownership):.1%}, max {max(ownership):.1%} "
                  f"(random tokens)\n")  # fmt: skip
        out.write(f"KV gossip received per node: {statistics.median(received) / elapsed:,.0f} "
                  f"bytes/s (median over {elapsed:.0f} simulated s)\n")  # fmt: skip


def rng_index(seed: int, n: int) -> int:
    return random.Random(seed).randrange(1, n)


def run_ring_demo(nodes: int = 50, seed: int = 1, loss: float = 0.0,
                  out: TextIO | None = None) -> int:  # fmt: skip
    out = out or sys.stdout  # looked up now, so redirect_stdout works
    wall = time.perf_counter()
    trio.run(_demo, nodes, seed, loss, out, clock=trio.testing.MockClock(autojump_threshold=0))
    out.write(f"({time.perf_counter() - wall:.1f} s of wall time)\n")
    return 0
