"""Cost of the pure membership core at cluster sizes: python benchmarks/bench_membership.py

Prints microseconds per operation for: an alive that changes the table (one dict copy), an
alive that changes nothing (stale incarnation), a suspect, and the queue's get_broadcasts,
and writes results/membership.png (us per operation against N). --quick: N = 100 and 1,000
with a tenth of the repetitions.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from report import RESULTS, plot_lines, progress

from trio_gossip.core.config import Config
from trio_gossip.core.engine.queue import TransmitQueue
from trio_gossip.core.membership import rules, schedule
from trio_gossip.core.membership.state import MembershipState
from trio_gossip.wire.messages import Alive, Suspect

CFG = Config(name="me")
VSN = CFG.build_vsn()


def build(n: int) -> MembershipState:
    rng = random.Random(1)
    state = rules.set_local_alive(MembershipState("me"), addr=b"\x0a\x00\x00\x01", port=1,
                                  meta=b"", now=0.0, config=CFG, rng=rng).state  # fmt: skip
    for i in range(n - 1):
        addr = bytes([10, 1, i // 256 % 256, i % 256])
        state = rules.alive(state, Alive(1, f"node-{i}", addr, 7946, None, VSN), 0.0, CFG,
                            rng).state  # fmt: skip
    return state


def per_op(fn: object, repeat: int) -> float:
    start = time.perf_counter()
    for i in range(repeat):
        fn(i)  # type: ignore[operator]
    return (time.perf_counter() - start) / repeat * 1e6


def measure(n: int, scale: float = 1.0) -> dict[str, float]:
    state = build(n)
    names = [name for name in state.members if name != "me"]
    addrs = {name: state.members[name].addr for name in names}
    changing = per_op(lambda i: rules.alive(
        state, Alive(2, names[i % len(names)], addrs[names[i % len(names)]], 7946, None, VSN),
        1.0, CFG), int(2000 * scale))  # fmt: skip
    stale = per_op(lambda i: rules.alive(
        state, Alive(1, names[i % len(names)], addrs[names[i % len(names)]], 7946, None, VSN),
        1.0, CFG), int(20000 * scale))  # fmt: skip
    suspect = per_op(lambda i: rules.suspect(
        state, Suspect(1, names[i % len(names)], "x"), 1.0, CFG), int(2000 * scale))  # fmt: skip
    rng = random.Random(2)
    targets = per_op(lambda i: schedule.gossip_targets(state, 1.0, CFG, rng), int(20000 * scale))
    print(f"n={n:5d}: alive(change) {changing:7.1f} us  alive(stale) {stale:5.2f} us  "
          f"suspect {suspect:7.1f} us  gossip_targets {targets:5.2f} us")  # fmt: skip
    return {"alive (change)": changing, "alive (stale)": stale, "suspect": suspect,
            "gossip_targets": targets}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="N = 100, 1000; 10x fewer calls")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the PNG goes")
    args = parser.parse_args()
    sizes, scale = ((100, 1000), 0.1) if args.quick else ((100, 1000, 5000), 1.0)
    costs = {n: measure(n, scale) for n in progress(sizes, "cluster sizes")}
    plot_lines(args.results / "membership.png",
               {op: (list(sizes), [costs[n][op] for n in sizes]) for op in costs[sizes[0]]},
               title="Membership core: cost per operation", xlabel="members",
               ylabel="us per call", logx=True, logy=True)  # fmt: skip
    queue = TransmitQueue()
    for i in range(2000):
        queue, _ = queue.push(bytes(40 + i % 60), name=f"n{i}")
    limit = 16  # retransmit_limit(4, 1000)

    def take(_: int) -> None:
        nonlocal queue
        queue = queue.take(2, 1398, limit).queue

    took = per_op(take, 500)
    print(f"queue of 2000: take(2, 1398) {took:.1f} us, {len(queue)} left")


if __name__ == "__main__":
    main()
