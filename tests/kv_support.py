"""Helpers for the KV store tests: stores on fake nodes, with gossip pumped by hand.

`FakeNode` has just what a `KVStore` uses of a `Memberlist` (config, members, local
member, send_reliable), so the store's rules can be tested step by step without a
network; the cluster tests (test_ring_cluster_*.py) run the real node instead.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any, cast

import trio

from trio_gossip.core.config import Config
from trio_gossip.core.kv import LWW_CODEC, LWWMap
from trio_gossip.core.kv.settings import KVSettings
from trio_gossip.core.membership.member import Member
from trio_gossip.core.ring import RING_CODEC
from trio_gossip.shell.kv.store import KVStore
from trio_gossip.wire.messages import NodeState

if TYPE_CHECKING:
    from trio_gossip.shell.memberlist import Memberlist

OVERHEAD = 3  # what a gossip packet spends per user broadcast: part length + type byte


class FakeNode:
    def __init__(self, name: str, config: Config) -> None:
        self.config = config
        self.local_member = Member(name, bytes([10, 0, 0, len(name)]), 7946, b"", 1,
                                   NodeState.ALIVE, 0.0)  # fmt: skip
        self.peers: dict[str, FakeNode] = {}
        self.stores: dict[str, KVStore] = {}
        self.reliable_sent: list[tuple[str, bytes]] = []

    def members(self) -> list[Member]:
        return [self.local_member] + [p.local_member for p in self.peers.values()]

    def num_members(self) -> int:
        return 1 + len(self.peers)

    async def send_reliable(self, to: Member | str, data: bytes) -> None:
        name = to if isinstance(to, str) else to.name
        self.reliable_sent.append((name, data))
        self.stores[name].notify_msg(data)


class FakeClock:
    """Wall time the test moves by hand."""

    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def ring_store(clock: FakeClock | None = None, **settings: Any) -> KVStore:
    """A store for rings and LWW maps. Hand-pumped gossip never drains the queues, so the
    shutdown wait defaults to next to nothing (tests that need it set it)."""
    settings.setdefault("broadcast_timeout_for_local_updates_on_shutdown", 1e-3)
    return KVStore([RING_CODEC, LWW_CODEC], KVSettings(**settings), rng=random.Random(1),
                   clock=clock)  # fmt: skip


@asynccontextmanager
async def fake_cluster(
    n: int,
    *,
    config: Config | None = None,
    stores: Sequence[KVStore] | None = None,
    clock: FakeClock | None = None,
    **settings: Any,
) -> AsyncIterator[list[KVStore]]:
    """`n` running stores on fake nodes named k0.. that all know each other."""
    config = config or Config(name="template")
    if stores is None:
        stores = [ring_store(clock, **settings) for _ in range(n)]
    kvs = list(stores)
    nodes = [FakeNode(f"k{i}", config) for i in range(n)]
    by_name = {node.local_member.name: kv for node, kv in zip(nodes, kvs, strict=True)}
    for node in nodes:
        node.peers = {p.local_member.name: p for p in nodes if p is not node}
        node.stores = by_name
    async with AsyncExitStack() as stack:
        for node, kv in zip(nodes, kvs, strict=True):
            await stack.enter_async_context(kv.running(cast("Memberlist", node)))
        yield kvs


def fake_node(kv: KVStore) -> FakeNode:
    return cast(FakeNode, kv.node)


async def settle() -> None:
    """Let the merge tasks apply everything queued (no clock time passes)."""
    for _ in range(5):
        await trio.testing.wait_all_tasks_blocked()


def pump(kvs: Sequence[KVStore], *, limit: int = 1400) -> int:
    """One gossip round: each store sends what fits one packet to every other store.
    Returns how many messages moved."""
    moved = 0
    for i, kv in enumerate(kvs):
        for message in kv.get_broadcasts(OVERHEAD, limit):
            for j, other in enumerate(kvs):
                if j != i:
                    other.notify_msg(message)
                    moved += 1
    return moved


async def gossip_until_quiet(kvs: Sequence[KVStore], rounds: int = 100) -> int:
    """Pump and apply until nothing is left to send; the number of rounds it took."""
    for r in range(rounds):
        await settle()
        if not pump(kvs):
            return r
    raise AssertionError("gossip did not quiet down")


def lww_put(key: str, value: bytes, now: float, writer: str = "w") -> Any:
    def fn(current: LWWMap | None) -> LWWMap:
        return (current or LWWMap()).put(key, value, now=now, writer=writer)

    return fn
