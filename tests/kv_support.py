"""Helpers for the KV store tests, on two levels.

- `kv_cluster`: real nodes on the in-memory network, each running a `KVStore`; gossip and
  push/pull run by themselves (use the ``autojump_clock`` fixture so they take no real time).
- `EngineKV`: one node's engine alone, driven event by event with no task at all, so a test
  can hand a change to a node, look at exactly what it would gossip, and deliver it elsewhere
  in any order (`pump` moves one gossip round between several).
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import attrs
import trio

from trio_gossip.core.config import Config
from trio_gossip.core.engine import effects as fx
from trio_gossip.core.engine.engine import handle
from trio_gossip.core.engine.events import Event, KVCas, KVDelete, KVSweep, Merge, Received
from trio_gossip.core.engine.queue import KV_FORWARDED, KV_OWN, KV_STREAM
from trio_gossip.core.engine.state import Context, EngineState
from trio_gossip.core.engine.step import Step
from trio_gossip.core.kv import LWW_CODEC, LWWMap
from trio_gossip.core.kv.replica import KVContext, KVCounters, Replica, encode_replica
from trio_gossip.core.kv.settings import KVSettings
from trio_gossip.core.membership.codec import Codec
from trio_gossip.core.ring import RING_CODEC
from trio_gossip.shell.kv.store import KVStore, packet_budget
from trio_gossip.shell.memberlist import open_memberlist
from trio_gossip.transport.memory import MemoryNetwork
from trio_gossip.wire.messages import User

OVERHEAD = 3  # what a gossip packet spends per user broadcast: part length + type byte


class FakeClock:
    """Wall time the test moves by hand."""

    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def ring_store(clock: Callable[[], float] | None = None, **settings: Any) -> KVStore:
    """A store for rings and LWW maps."""
    return KVStore([RING_CODEC, LWW_CODEC], KVSettings(**settings), rng=random.Random(1),
                   clock=clock)  # fmt: skip


@asynccontextmanager
async def kv_cluster(
    n: int,
    *,
    config: Config | None = None,
    stores: Sequence[KVStore] | None = None,
    clock: Callable[[], float] | None = None,
    net: MemoryNetwork | None = None,
    **settings: Any,
) -> AsyncIterator[list[KVStore]]:
    """`n` nodes k0.. on the in-memory network, each running a store; k1.. join k0."""
    config = config or Config.lan(name="template")
    kvs = list(stores) if stores is not None else [ring_store(clock, **settings)
                                                   for _ in range(n)]  # fmt: skip
    net = net or MemoryNetwork()
    async with AsyncExitStack() as stack:
        nodes = []
        for i, kv in enumerate(kvs):
            node = await stack.enter_async_context(open_memberlist(
                attrs.evolve(config, name=f"k{i}"), transport=net.add_node(),
                rng=random.Random(i), kv=kv,
            ))  # fmt: skip
            nodes.append(node)
        for node in nodes[1:]:
            await node.join([nodes[0].local_member.address])
        yield kvs


async def until_quiet(kvs: Sequence[KVStore], *, limit: float = 60.0) -> float:
    """Wait (on the clock) until no store has a change queued; how long it took."""
    start = trio.current_time()
    with trio.fail_after(limit):
        while any(_queued(kv) for kv in kvs):
            await trio.sleep(0.1)
    return trio.current_time() - start


def _queued(kv: KVStore) -> int:
    s = kv.statistics()
    return s.local_queue + s.gossip_queue + s.stream_queue


def lww_put(key: str, value: bytes, now: float, writer: str = "w") -> Any:
    def fn(current: LWWMap | None) -> LWWMap:
        return (current or LWWMap()).put(key, value, now=now, writer=writer)

    return fn


# ---- one engine, by hand ---------------------------------------------------------------------


class EngineKV:
    """One node's engine running a KV replica, stepped by hand on a fake clock."""

    def __init__(self, name: str = "k", clock: FakeClock | None = None,
                 config: Config | None = None, **settings: Any) -> None:  # fmt: skip
        self.clock = clock or FakeClock()
        config = attrs.evolve(config or Config.lan(name=name), name=name)
        kv = KVContext(ring_store().codecs, KVSettings(**settings), packet_budget(config))
        self.ctx = Context(config, Codec(config), random.Random(name), kv=kv)
        self.state = EngineState.initial(name, kv=True)
        self.now = 0.0
        self._token = 0
        self.effects: list[fx.Effect] = []

    @property
    def replica(self) -> Replica:
        assert self.state.kv is not None
        return self.state.kv

    @property
    def counters(self) -> KVCounters:
        return self.replica.counters

    def run(self, event: Event) -> list[fx.Effect]:
        self.state, effects = handle(self.ctx, self.state, self.now, event, wall=self.clock())
        self.effects.extend(effects)
        return effects

    def _ask(self, make: Callable[[int], Event]) -> Any:
        self._token += 1
        (answer,) = [e for e in self.run(make(self._token)) if isinstance(e, fx.Answer)]
        if answer.error is not None:
            raise answer.error
        return answer.value

    def cas(self, key: str, fn: Callable[[Any], Any], codec: str | None = None) -> Any:
        return self._ask(lambda token: KVCas(token, key, fn, codec))

    def delete(self, key: str) -> bool:
        return bool(self._ask(lambda token: KVDelete(token, key)))

    def get(self, key: str) -> Any:
        entry = self.replica.entries.get(key)
        return None if entry is None else entry.view()

    def sweep(self) -> None:
        self.run(KVSweep())

    def deliver(self, message: bytes) -> None:
        """A KV message arriving in a gossip packet."""
        self.run(Received(User(message), ("10.0.0.9", 7946)))

    def broadcasts(self, limit: int = 100_000) -> list[bytes]:
        """What one gossip packet of ``limit`` bytes would carry of the KV's changes."""
        step = Step(self.ctx, self.state, self.now, self.clock())
        parts = step.take_kv(OVERHEAD, limit)
        self.state = step.finish()
        return [p[1:] for p in parts]  # without the user-message type byte

    def local_state(self) -> bytes:
        return encode_replica(self.replica, self.kv_ctx)

    def merge_state(self, data: bytes) -> None:
        self._ask(lambda token: Merge(token, (), data, False))

    @property
    def kv_ctx(self) -> KVContext:
        assert self.ctx.kv is not None
        return self.ctx.kv

    def queued(self, lane: int) -> int:
        return self.state.queue.lane_len(lane)

    @property
    def local_queue(self) -> int:
        return self.queued(KV_OWN)

    @property
    def gossip_queue(self) -> int:
        return self.queued(KV_FORWARDED)

    @property
    def stream_queue(self) -> int:
        return self.queued(KV_STREAM)


def pump(engines: Sequence[EngineKV], *, limit: int = 1400) -> int:
    """One gossip round: each engine sends what fits one packet to every other one.
    Returns how many messages moved."""
    moved = 0
    for i, kv in enumerate(engines):
        for message in kv.broadcasts(limit):
            for j, other in enumerate(engines):
                if j != i:
                    other.deliver(message)
                    moved += 1
    return moved


def gossip_until_quiet(engines: Sequence[EngineKV], rounds: int = 100) -> int:
    """Pump until nothing is left to send; the number of rounds it took."""
    for r in range(rounds):
        if not pump(engines):
            return r
    raise AssertionError("gossip did not quiet down")
