"""Two halves of a cluster change the ring independently, then heal into one ring."""

from __future__ import annotations

import trio
import trio.testing

from trio_gossip.apps.sim.ring_cluster import (
    RingNode,
    digests,
    ring_cluster,
    rings_converged,
    seed_trio,
    wait_until,
)
from trio_gossip.core.config import Config
from trio_gossip.core.membership.schedule import push_pull_scale
from trio_gossip.core.ring import InstanceDesc, InstanceState, Ring
from trio_gossip.transport.memory import MemoryNetwork

N = 20
HEARTBEAT = 5.0
REFRESH = 15.0
PARTITION = 20.0


async def put(node: RingNode, desc: InstanceDesc) -> None:
    await node.kv.cas("ring", lambda r: (r or Ring()).put(desc, now=node.kv.now()))


async def test_partitioned_halves_merge_into_one_ring(
    autojump_clock: trio.testing.MockClock,
) -> None:
    seed_trio(21)
    net = MemoryNetwork(seed=21)
    config = Config.lan(name="t")
    options = {"heartbeat_period": HEARTBEAT, "record_refresh_period": REFRESH}
    async with ring_cluster(net, N, config=config, lifecyclers=True,
                          lifecycler_options=options) as nodes:  # fmt: skip
        names = {n.name for n in nodes}
        await wait_until(lambda: rings_converged(nodes, names), 2 * REFRESH + HEARTBEAT)
        a, b = nodes[: N // 2], nodes[N // 2 :]
        net.partition([n.host for n in a], [n.host for n in b])

        # Each side registers its own newcomer and retires one of its instances; both sides
        # write a record for the same id at the same instant (identical versions, since the
        # writer is the instance id): the tie must be broken the same way everywhere.
        await put(a[0], InstanceDesc(id="extra-a", state=InstanceState.ACTIVE, tokens=[1, 2]))
        await put(b[0], InstanceDesc(id="extra-b", state=InstanceState.ACTIVE, tokens=[3, 4]))
        async with trio.open_nursery() as nursery:
            for side, addr in ((a[1], "10.9.9.1:1"), (b[1], "10.9.9.2:1")):
                desc = InstanceDesc(id="shared", addr=addr, state=InstanceState.ACTIVE,
                                    tokens=[5, 6])  # fmt: skip
                nursery.start_soon(put, side, desc)
        assert a[2].lc is not None
        assert b[2].lc is not None
        await a[2].lc.change_state(InstanceState.LEAVING)
        await b[2].lc.change_state(InstanceState.LEAVING)
        # (Within a side these spread by gossip, or by push/pull when a fresh partition
        # made the writer spend its transmissions on the unreachable half.)
        await trio.sleep(PARTITION)
        assert not any(n.ring().instance("extra-b") for n in a)
        assert not any(n.ring().instance("extra-a") for n in b)
        net.heal()
        # memberlist does not re-merge halves that declared each other dead; like dskit's
        # rejoin, one node joins the other half (a join is a push/pull of both KV states).
        await a[0].kv.node.join([b[0].kv.node.local_member.address])

        # The two nodes of the join hold everything at once and gossip what was news to
        # them; changes too big for a packet go over streams. Anything a lost packet missed
        # comes with the next push/pull (one scaled interval, plus its start-up stagger).
        expected = names | {"extra-a", "extra-b", "shared"}
        bound = 2 * push_pull_scale(config.push_pull_interval, N)

        def healed() -> bool:
            return len(digests(nodes)) == 1 and {d.id for d in nodes[0].ring().live()} == expected

        await wait_until(healed, bound)
        ring = nodes[0].ring()
        leaving = {d.id for d in ring.live() if d.state is InstanceState.LEAVING}
        assert leaving == {a[2].name, b[2].name}
        shared = ring.instance("shared")
        assert shared is not None
        assert shared.addr in ("10.9.9.1:1", "10.9.9.2:1")
