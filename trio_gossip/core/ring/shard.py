"""Shuffle sharding: a stable, small sub-ring per identifier (a tenant, a user).

Like dskit: zone-aware, each zone gives ``ceil(size / zones)`` instances and is walked as
a ring of its own, zones in sorted order. Within a zone, each slot draws a pseudo-random
uint32 from a stream seeded by the identifier and zone, and takes the first instance at or
after the following token that is not yet chosen and not read-only. Because draws land on
tokens, adding or removing one instance changes at most about one member of a shard, and
the same identifier gives the same shard on every node and across restarts.

The draws are not Go's math/rand (so shards differ from a Go dskit ring's): draw k of a
zone is the first 4 bytes, big-endian, of BLAKE2b-32(identifier NUL zone NUL k as u32be),
which any language can reproduce.
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_right
from collections.abc import Iterator, Mapping

from trio_gossip.core.ring.index import TokenIndex, ZoneView
from trio_gossip.core.ring.instance import InstanceDesc

_CACHE_LIMIT = 10_000  # identifiers per index; an index lives until the topology changes


def draws(identifier: str, zone: str) -> Iterator[int]:
    """The uint32 stream that picks `identifier`'s instances in `zone`."""
    prefix = identifier.encode("utf-8", "surrogatepass") + b"\x00" + zone.encode() + b"\x00"
    k = 0
    while True:
        digest = hashlib.blake2b(prefix + k.to_bytes(4, "big"), digest_size=4).digest()
        yield int.from_bytes(digest, "big")
        k += 1


def select(
    index: TokenIndex,
    instances: Mapping[str, InstanceDesc],
    identifier: str,
    size: int,
    zone_awareness: bool,
) -> tuple[tuple[str, ...], TokenIndex]:
    """The ids in `identifier`'s shard and the shard's own token index (both cached).

    ``size <= 0`` means every instance that may be chosen (all but read-only ones).
    """
    key = ("shard", identifier, size, zone_awareness)
    cached: tuple[tuple[str, ...], TokenIndex] | None = index.cache.get(key)
    if cached is not None:
        return cached
    if zone_awareness:
        zones = [(name, index.zone_view(z)) for z, name in enumerate(index.zones)]
    else:
        zones = [("", ZoneView(index.tokens, index.owners))]
    per_zone = math.ceil(size / len(zones)) if size > 0 and zones else math.inf
    ids: list[str] = []
    for zone_name, view in zones:
        ids.extend(_pick(index, view, per_zone, draws(identifier, zone_name)))
    result = tuple(ids), TokenIndex.build({i: instances[i] for i in ids})
    if len(index.cache) >= _CACHE_LIMIT:
        index.cache.clear()
    index.cache[key] = result
    return result


def _pick(index: TokenIndex, view: ZoneView, wanted: float, stream: Iterator[int]) -> list[str]:
    read_only = index.read_only
    eligible = sorted(set(view.owners) - read_only)
    if len(eligible) <= wanted:
        return eligible
    tokens, owners = view.tokens, view.owners
    count = len(tokens)
    chosen: list[str] = []
    taken: set[str] = set()
    while len(chosen) < wanted:
        start = bisect_right(tokens, next(stream))
        for step in range(count):
            owner = owners[(start + step) % count]
            if owner not in taken and owner not in read_only:
                chosen.append(owner)
                taken.add(owner)
                break
    return chosen
