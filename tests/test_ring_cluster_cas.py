"""Many writers at once: concurrent CAS loses nothing, equal timestamps never split rings."""

from __future__ import annotations

from functools import partial

import trio
import trio.testing

from trio_gossip.apps.sim.ring_cluster import RingNode, digests, ring_cluster, seed_trio, wait_until
from trio_gossip.core.config import Config
from trio_gossip.core.kv import LWWMap
from trio_gossip.core.membership.schedule import push_pull_scale
from trio_gossip.core.ring import InstanceDesc, InstanceState, Ring
from trio_gossip.transport.memory import LinkConfig, MemoryNetwork

NODES = 10
WRITES = 100


def adding(entry: str, node: RingNode):  # type: ignore[no-untyped-def]
    def fn(current: LWWMap | None) -> LWWMap:
        return (current or LWWMap()).put(entry, node.name.encode(), now=node.kv.now(),
                                         writer=node.name)  # fmt: skip

    return fn


async def test_ten_nodes_hundred_concurrent_cas_each_lose_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    seed_trio(31)
    net = MemoryNetwork(seed=31, default_link=LinkConfig(loss=0.05))
    config = Config.lan(name="t")
    async with ring_cluster(net, NODES, config=config) as nodes:
        async with trio.open_nursery() as nursery:
            for node in nodes:
                for j in range(WRITES):
                    cas = partial(node.kv.cas, "counter", adding(f"{node.name}/{j}", node))
                    nursery.start_soon(partial(cas, codec="lww"))
        expected = {f"{n.name}/{j}" for n in nodes for j in range(WRITES)}

        def complete() -> bool:
            return all(
                isinstance(v := n.kv.get("counter"), LWWMap) and set(v.entries) == expected
                for n in nodes
            )

        # Gossip carries most; with 5% loss a push/pull round (scaled, plus its start-up
        # stagger of up to one interval) repairs the rest.
        await wait_until(complete, 2 * push_pull_scale(config.push_pull_interval, NODES))
        for node in nodes:
            stats = node.kv.statistics()
            assert stats.cas_successes == WRITES
            assert stats.cas_failures == 0
            # CAS calls on one key queue behind each other: no attempt was ever wasted.
            assert stats.cas_attempts == WRITES


async def test_equal_timestamps_never_leave_rings_different(
    autojump_clock: trio.testing.MockClock,
) -> None:
    seed_trio(41)
    net = MemoryNetwork(seed=41)
    async with ring_cluster(net, NODES, config=Config.lan(name="t")) as nodes:
        # Two nodes write different records of "x" at the same instant with the same
        # writer (the instance id): identical versions. Two others write "y" at the same
        # millisecond as different writers. dskit keeps whichever each node saw first.
        writes = [
            (nodes[1], InstanceDesc(id="x", addr="10.1.0.1:1", tokens=[1])),
            (nodes[2], InstanceDesc(id="x", addr="10.1.0.2:1", tokens=[2])),
            (nodes[3], InstanceDesc(id="y", addr="10.1.0.3:1", tokens=[3])),
            (nodes[4], InstanceDesc(id="y", addr="10.1.0.4:1", tokens=[4])),
        ]
        now = nodes[0].kv.now()

        async def write(node: RingNode, desc: InstanceDesc, writer: str | None) -> None:
            await node.kv.cas("ring", lambda r: (r or Ring()).put(desc, now=now, writer=writer),
                              codec="ring")  # fmt: skip

        async with trio.open_nursery() as nursery:
            for node, desc in writes:
                writer = None if desc.id == "x" else node.name
                nursery.start_soon(write, node, desc, writer)
        x_versions = {n.ring().instances["x"].version for n in nodes[1:3]}
        assert len(x_versions) == 1  # the same stamp, different content

        def agreed() -> bool:
            return len(digests(nodes)) == 1 and all(
                {"x", "y"} <= set(n.ring().instances) for n in nodes
            )

        await wait_until(agreed, 10.0)
        ring = nodes[0].ring()
        x, y = ring.instances["x"], ring.instances["y"]
        # The winners follow from the records alone, so every node picked the same ones.
        assert x.addr == max(writes[:2], key=lambda w: w[1].tie_key())[1].addr
        assert y.version.writer == max(nodes[3].name, nodes[4].name)
        assert all(d.state is InstanceState.PENDING for d in (x, y))
