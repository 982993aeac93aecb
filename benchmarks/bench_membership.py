"""Cost of the pure membership core at cluster sizes: python benchmarks/bench_membership.py

Prints microseconds per operation for: an alive that changes the table (one dict copy), an
alive that changes nothing (stale incarnation), a suspect, and the queue's get_broadcasts.
"""

from __future__ import annotations

import argparse
import random
import time

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


def measure(n: int) -> None:
    state = build(n)
    names = [name for name in state.members if name != "me"]
    addrs = {name: state.members[name].addr for name in names}
    changing = per_op(lambda i: rules.alive(
        state, Alive(2, names[i % len(names)], addrs[names[i % len(names)]], 7946, None, VSN),
        1.0, CFG), 2000)  # fmt: skip
    stale = per_op(lambda i: rules.alive(
        state, Alive(1, names[i % len(names)], addrs[names[i % len(names)]], 7946, None, VSN),
        1.0, CFG), 20000)  # fmt: skip
    suspect = per_op(lambda i: rules.suspect(
        state, Suspect(1, names[i % len(names)], "x"), 1.0, CFG), 2000)  # fmt: skip
    rng = random.Random(2)
    targets = per_op(lambda i: schedule.gossip_targets(state, 1.0, CFG, rng), 20000)
    print(f"n={n:5d}: alive(change) {changing:7.1f} us  alive(stale) {stale:5.2f} us  "
          f"suspect {suspect:7.1f} us  gossip_targets {targets:5.2f} us")  # fmt: skip


def main() -> None:
    for n in (100, 1000, 5000):
        measure(n)
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
    argparse.ArgumentParser(description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    main()
