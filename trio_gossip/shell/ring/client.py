"""The read side of a ring in the KV store: lookups from this node's copy, and watching it.

Every call reads the store's current snapshot (no network, no lock); lookups use the ring's
token index, which is rebuilt only when token ownership changes, never for heartbeats.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from trio_gossip.core.ring.instance import InstanceDesc
from trio_gossip.core.ring.lookup import DEFAULT_HEARTBEAT_TIMEOUT, WRITE, Operation, ReplicationSet
from trio_gossip.core.ring.model import Ring
from trio_gossip.core.ring.view import ring_to_json

if TYPE_CHECKING:
    from trio_gossip.shell.kv.store import KVStore


class RingClient:
    """Replication-set lookups against ``kv[key]`` as this node sees it."""

    def __init__(
        self,
        kv: KVStore,
        key: str = "ring",
        *,
        replication_factor: int = 3,
        zone_awareness: bool = True,
        heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT,
    ) -> None:
        self.kv = kv
        self.key = key
        self.replication_factor = replication_factor
        self.zone_awareness = zone_awareness
        self.heartbeat_timeout = heartbeat_timeout

    def ring(self) -> Ring:
        """The current ring (tombstones hidden); an empty one if the key does not exist."""
        ring = self.kv.get(self.key)
        return ring if isinstance(ring, Ring) else Ring()

    def get(self, key_hash: int, op: Operation = WRITE) -> ReplicationSet:
        """The healthy replicas of `key_hash` (uint32); RingError when there are too few."""
        return self.ring().get(
            key_hash,
            op,
            now=self.kv.now(),
            replication_factor=self.replication_factor,
            zone_awareness=self.zone_awareness,
            heartbeat_timeout=self.heartbeat_timeout,
        )

    def get_all_healthy(self, op: Operation = WRITE) -> tuple[InstanceDesc, ...]:
        return self.ring().get_all_healthy(
            op, now=self.kv.now(), heartbeat_timeout=self.heartbeat_timeout
        )

    def shuffle_shard(self, identifier: str, size: int) -> Ring:
        return self.ring().shuffle_shard(identifier, size, zone_awareness=self.zone_awareness)

    def is_healthy(self, desc: InstanceDesc, op: Operation = WRITE) -> bool:
        return self.ring().is_healthy(
            desc, op, now=self.kv.now(), heartbeat_timeout=self.heartbeat_timeout
        )

    async def watch(self) -> AsyncIterator[Ring]:
        """The current ring, then the latest one after each (coalesced) change."""
        with self.kv.watch_key(self.key) as updates:
            async for value in updates:
                yield value if isinstance(value, Ring) else Ring()


def ring_page(
    kv: KVStore,
    key: str = "ring",
    *,
    heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT,
    tokens: bool = False,
) -> dict[str, Any]:
    """`ring_to_json` of ``kv[key]`` as this node sees it now (the HTTP ring endpoint)."""
    ring = kv.get(key)
    page = ring_to_json(ring if isinstance(ring, Ring) else Ring(), now=kv.now(),
                        heartbeat_timeout=heartbeat_timeout, tokens=tokens)  # fmt: skip
    page["key"] = key
    return page
