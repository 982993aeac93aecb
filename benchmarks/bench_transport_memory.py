"""Wall-clock cost of the simulated network alone, on the mock clock.

    python benchmarks/bench_transport_memory.py [nodes] [simulated seconds] [resolution]
                                                [--quick] [--results DIR]

N transports serve with a handler that only counts. Each node runs one task that every
200 ms sends to 3 random peers (gossip) and every second "probes" one peer, which answers
(ping + ack): about 17 packets per node per simulated second. The same run with the sends
skipped gives the cost of the sender tasks themselves, so the difference is what the network
costs per packet (send + heap + delivery + handler call). Times are CPU seconds of this
process, which a busy shared machine disturbs less than wall time. Writes
results/transport_memory.png (CPU seconds of both runs). --quick: 100 nodes, 2 s.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import trio
import trio.testing
from report import RESULTS, plot_bars

from trio_gossip.transport import Address, MemoryNetwork, MemoryTransport

GOSSIP = b"g" * 200


async def _node(me: MemoryTransport, peers: list[Address], rng: random.Random, send: bool) -> None:
    await trio.sleep(rng.random() * 0.2)  # stagger like real nodes
    tick = 0
    while True:
        await trio.sleep(0.2)
        tick += 1
        targets = rng.sample(peers, 3)
        if tick % 5 == 0:
            targets.append(rng.choice(peers))
        if send:
            for i, peer in enumerate(targets):
                await me.send_packet(peer, b"ping" if i == 3 else GOSSIP)


async def run(n: int, seconds: float, resolution: float, send: bool) -> tuple[float, int]:
    net = MemoryNetwork(seed=1, resolution=resolution)
    transports = [net.add_node() for _ in range(n)]
    addresses = [t.local_address for t in transports]
    replies: list[tuple[MemoryTransport, Address]] = []

    def handler_for(t: MemoryTransport) -> object:
        def on_packet(data: bytes, src: Address) -> None:
            if data == b"ping":
                replies.append((t, src))

        return on_packet

    async def no_streams(stream: trio.abc.Stream, peer: Address) -> None:
        pass

    async def answer_pings() -> None:
        # One task answers every ping (an "ack"), like the nodes' state tasks would.
        while True:
            await trio.sleep(0.01)
            pending, replies[:] = list(replies), []
            for t, src in pending:
                await t.send_packet(src, b"ack")

    cpu = time.process_time()
    async with trio.open_nursery() as nursery:
        for t in transports:
            await nursery.start(t.serve, handler_for(t), no_streams)
        nursery.start_soon(answer_pings)
        for i, t in enumerate(transports):
            nursery.start_soon(_node, t, addresses, random.Random(i), send)
        await trio.sleep(seconds)
        nursery.cancel_scope.cancel()
    return time.process_time() - cpu, net.statistics().packets_delivered


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("nodes", type=int, nargs="?", default=1000)
    parser.add_argument("seconds", type=float, nargs="?", default=10.0, help="simulated seconds")
    parser.add_argument("resolution", type=float, nargs="?", default=0.001)
    parser.add_argument("--quick", action="store_true", help="100 nodes, 2 simulated seconds")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the PNG goes")
    args = parser.parse_args()
    if args.quick:
        args.nodes, args.seconds = 100, 2.0
    n, seconds, resolution = args.nodes, args.seconds, args.resolution
    clock = trio.testing.MockClock(autojump_threshold=0)
    base, _ = trio.run(run, n, seconds, resolution, False, clock=clock)
    clock = trio.testing.MockClock(autojump_threshold=0)
    full, delivered = trio.run(run, n, seconds, resolution, True, clock=clock)
    per_packet = (full - base) / max(delivered, 1) * 1e6
    print(f"{n} nodes, {seconds:g} simulated s, resolution {resolution:g} s")
    print(f"  sender tasks alone: {base:.2f} s CPU")
    print(f"  with packets:       {full:.2f} s CPU, {delivered} packets delivered")
    print(f"  network cost:       {per_packet:.1f} us CPU per packet")
    print(f"  pace:               {seconds / full:.2f} simulated s per CPU s")
    plot_bars(args.results / "transport_memory.png",
              ["sender tasks alone", f"with packets ({delivered:,} delivered)"],
              {"CPU s": [base, full]},
              title=f"Memory network: {n} nodes, {seconds:g} simulated s "
                    f"({per_packet:.1f} us CPU per packet)",
              value_label="CPU seconds")  # fmt: skip


if __name__ == "__main__":
    main()
