"""A dskit ring instance driven from Python: what ring.BasicLifecycler does with
InstanceRegisterDelegate(ACTIVE) and LeaveOnStoppingDelegate (dskit ring/basic_lifecycler.go,
basic_lifecycler_delegates.go), over a KV store in dskit mode (``DskitRingCodec``).

On entry it registers the instance ACTIVE with its tokens (kept when the ring already holds the
instance, as after a restart; else ``tokens`` random ones no other instance owns, as
RandomTokenGenerator does), stamps a heartbeat every ``heartbeat_period`` and, on exit, turns
LEAVING and then unregisters (a CAS without it: a LEFT tombstone everywhere). Timestamps are
dskit's whole seconds.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace

import trio

from trio_gossip.core.dskit.ring_value import DskitRing
from trio_gossip.shell.kv.store import KVStore
from trio_gossip.wire.dskit.ring_desc import Desc, InstanceDesc, InstanceState
from trio_gossip.wire.errors import ConfigError

TOKEN_SPACE = 1 << 32


def new_tokens(count: int, taken: set[int], rng: random.Random) -> tuple[int, ...]:
    """``count`` distinct uint32 tokens not in ``taken``, sorted (RandomTokenGenerator)."""
    out: set[int] = set()
    while len(out) < count:
        token = rng.getrandbits(32)
        if token not in taken:
            out.add(token)
    return tuple(sorted(out))


class DskitInstance:
    """The running registration; ``instance`` is our record in the store's copy of the ring."""

    def __init__(self, store: KVStore, key: str, instance_id: str) -> None:
        self._store, self._key, self.instance_id = store, key, instance_id

    @property
    def instance(self) -> InstanceDesc | None:
        ring = self._store.get(self._key)
        return None if ring is None else ring.desc.instances.get(self.instance_id)


@asynccontextmanager
async def dskit_lifecycler(
    store: KVStore,
    key: str,
    instance_id: str,
    addr: str,
    *,
    zone: str = "",
    tokens: int = 128,
    heartbeat_period: float = 5.0,
    rng: random.Random | None = None,
) -> AsyncIterator[DskitInstance]:
    """Register ``instance_id`` in the dskit ring under ``key`` for the block's duration."""
    if not instance_id:
        raise ConfigError("instance_id: must not be empty")
    if not isinstance(tokens, int) or tokens < 0:
        raise ConfigError(f"tokens: must be a count >= 0, got {tokens!r}")
    if not heartbeat_period > 0:
        raise ConfigError(f"heartbeat_period: must be positive, got {heartbeat_period!r}")
    rng = rng or random.Random()

    def with_me(ring: DskitRing | None, **changes: object) -> DskitRing:
        instances: Mapping[str, InstanceDesc] = ring.desc.instances if ring else {}
        now = int(store.now())
        mine = instances.get(instance_id)
        if mine is None or mine.state == InstanceState.LEFT:
            taken = {t for k, v in instances.items() if k != instance_id for t in v.tokens}
            mine = InstanceDesc(addr=addr, state=InstanceState.ACTIVE, zone=zone,
                                tokens=new_tokens(tokens, taken, rng),
                                registered_timestamp=now, id=instance_id)  # fmt: skip
        mine = replace(mine, timestamp=now, **changes)  # type: ignore[arg-type]
        return DskitRing(Desc({**instances, instance_id: mine}))

    def without_me(ring: DskitRing | None) -> DskitRing | None:
        if ring is None:
            return None
        return DskitRing(Desc({k: v for k, v in ring.desc.instances.items() if k != instance_id}))

    await store.cas(key, lambda ring: with_me(ring, state=InstanceState.ACTIVE), codec="ringDesc")
    async with trio.open_nursery() as nursery:

        async def heartbeat() -> None:
            while True:
                await trio.sleep(heartbeat_period)
                await store.cas(key, with_me)

        nursery.start_soon(heartbeat)
        try:
            yield DskitInstance(store, key, instance_id)
        finally:
            nursery.cancel_scope.cancel()
            with trio.CancelScope(shield=True):
                await store.cas(key, lambda r: with_me(r, state=InstanceState.LEAVING))
                await store.cas(key, without_me)
