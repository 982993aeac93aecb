"""Simulated ring clusters: N nodes, each with a KV store (and a lifecycler), on one
MemoryNetwork, for tests, benchmarks and the ring demo.

    async with ring_cluster(MemoryNetwork(seed=1), 50, lifecyclers=True) as nodes:
        await wait_until(lambda: rings_converged(nodes, {n.name for n in nodes}), 60)

Run it under a MockClock (and `seed_trio`) and the same seed replays the same history.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio
import trio._core._run

from trio_gossip.core.config import Config
from trio_gossip.core.kv import LWW_CODEC
from trio_gossip.core.kv.settings import KVSettings
from trio_gossip.core.ring import RING_CODEC, InstanceState, Ring
from trio_gossip.core.ring.view import ring_digest
from trio_gossip.shell.kv.store import KVStore
from trio_gossip.shell.memberlist import open_memberlist
from trio_gossip.shell.ring.lifecycler import Lifecycler, lifecycler
from trio_gossip.transport.memory import MemoryNetwork


def seed_trio(seed: int) -> None:
    """Trio shuffles the order of tasks woken together with its own module-level generator;
    seeding it makes a whole simulation replay from its seed."""
    trio._core._run._r.seed(seed)


@attrs.define
class RingNode:
    name: str
    host: str
    kv: KVStore
    lc: Lifecycler | None = None
    # Set to make this node's lifecycler leave the ring (the node keeps running);
    # `left` is set once it has.
    leave: trio.Event = attrs.field(factory=trio.Event)
    left: trio.Event = attrs.field(factory=trio.Event)

    def ring(self) -> Ring:
        ring = self.kv.get("ring")
        return ring if isinstance(ring, Ring) else Ring()


@asynccontextmanager
async def ring_cluster(
    net: MemoryNetwork,
    n: int,
    *,
    config: Config | None = None,
    settings: KVSettings | None = None,
    seed: int = 0,
    lifecyclers: bool = False,
    lifecycler_options: dict[str, Any] | None = None,
    join_random: bool = False,
) -> AsyncIterator[list[RingNode]]:
    """`n` nodes n0.. each with a running KV store (and a lifecycler registering instance
    ``n<i>`` when asked); n1.. join n0 one after the other (or, with `join_random`, a
    random earlier node: no single seed answers a thousand push/pulls). Each node lives
    in its own task, so at the end they all shut down at once, as a fleet would."""
    config = config or Config.lan(name="template")
    nodes: list[RingNode] = []
    stop = trio.Event()
    registering = trio.Event()

    async def run(i: int, task_status: trio.TaskStatus[RingNode]) -> None:
        rng = random.Random(seed * 1000 + i)
        kv = KVStore([RING_CODEC, LWW_CODEC], settings, rng=random.Random(rng.getrandbits(64)))
        transport = net.add_node()
        name = f"n{i}"
        me = RingNode(name, transport.local_address[0], kv)
        async with open_memberlist(attrs.evolve(config, name=name), transport=transport,
                                   rng=rng, kv=kv):  # fmt: skip
            task_status.started(me)
            if not lifecyclers:
                await stop.wait()
                return
            await registering.wait()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_cancel_on, stop, nursery.cancel_scope)
                async with lifecycler(kv, instance_id=name, addr=me.host,
                                      **(lifecycler_options or {})) as me.lc:  # fmt: skip
                    await me.leave.wait()
                me.left.set()
                await stop.wait()

    async with trio.open_nursery() as nursery:
        for i in range(n):
            nodes.append(await nursery.start(run, i))
        pick = random.Random(seed)
        for i, kv_node in enumerate(nodes[1:], start=1):
            target = nodes[pick.randrange(i) if join_random else 0]
            await kv_node.kv.node.join([target.kv.node.local_member.address])
        registering.set()
        if lifecyclers:
            await wait_until(lambda: all(kv_node.lc is not None for kv_node in nodes), 60)
        try:
            yield nodes
        finally:
            stop.set()


async def _cancel_on(event: trio.Event, scope: trio.CancelScope) -> None:
    await event.wait()
    scope.cancel()


async def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.1) -> float:
    """Poll on the (mock) clock; the simulated time it took. Fails after `timeout`."""
    start = trio.current_time()
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(step)
    return trio.current_time() - start


_DIGESTS: dict[int, tuple[Ring, str]] = {}


def digest(ring: Ring) -> str:
    """`ring_digest`, memoized per ring object (rings are immutable; polling many nodes
    would otherwise hash every token of every ring on each poll)."""
    hit = _DIGESTS.get(id(ring))
    if hit is None or hit[0] is not ring:
        if len(_DIGESTS) > 10_000:
            _DIGESTS.clear()
        hit = _DIGESTS[id(ring)] = (ring, ring_digest(ring))
    return hit[1]


def digests(nodes: Sequence[RingNode]) -> set[str]:
    return {digest(n.ring()) for n in nodes}


def rings_converged(nodes: Sequence[RingNode], expected: set[str]) -> bool:
    """Every node holds the same ring, whose live instances are exactly `expected`, all
    ACTIVE (records compared by digest, so versions must agree too)."""
    if len(digests(nodes)) != 1:
        return False
    ring = nodes[0].ring()
    return {d.id for d in ring.live()} == expected and all(
        d.state is InstanceState.ACTIVE for d in ring.live()
    )
