"""Token generators: random (dskit's default) and spread-minimizing (even ownership)."""

from __future__ import annotations

import hashlib
import heapq
import random
from collections.abc import Collection

from trio_gossip.core.ring.index import RING_SIZE, ZoneView
from trio_gossip.core.ring.model import Ring


def random_tokens(
    count: int, rng: random.Random, taken: Collection[int] = frozenset()
) -> tuple[int, ...]:
    """`count` uniform uint32 tokens, none in `taken` and no two equal, sorted."""
    if not 0 <= count <= RING_SIZE - len(taken):
        raise ValueError(f"cannot pick {count} free tokens")
    picked: set[int] = set()
    while len(picked) < count:
        token = rng.getrandbits(32)
        if token not in taken:
            picked.add(token)
    return tuple(sorted(picked))


def spread_minimizing_tokens(ring: Ring, count: int, *, zone: str | None = None) -> tuple[int, ...]:
    """`count` tokens for a new instance that evens out ownership in its `zone`.

    Random tokens leave ownership uneven (with 128 tokens the spread between instances is
    easily +-25%). Here the newcomer takes its fair share, ``1 / (instances + 1)`` of the
    zone's key space, from whoever owns most:

    - each existing range ``[previous token, token)`` belongs to the owner of ``token``;
    - for each new token: take the currently most-loaded owner and its largest range,
      and put the new token ``share`` keys into that range, so the newcomer gets the
      range's first ``share`` keys and the owner keeps the rest; ``share`` is what the
      newcomer still needs divided by the tokens it has left;
    - the first instance of a zone gets evenly spaced tokens, offset by a hash of the
      zone name so that zones do not all pick the same tokens.

    The result depends only on the ring, so two instances joining at the same moment
    would pick the same tokens: join one at a time (or let conflict resolution and an
    observe period sort it out). `zone=None` treats the whole ring as one zone.
    """
    if count < 1:
        raise ValueError(f"count must be positive, got {count}")
    index = ring.index
    if zone is None:
        view = ZoneView(index.tokens, index.owners)
    elif zone in index.zones:
        view = index.zone_view(index.zones.index(zone))
    else:
        view = ZoneView([], [])
    taken = ring.taken_tokens()
    if not view.tokens:
        return _evenly_spaced(count, zone or "", taken)
    return _split_largest(view, count, taken)


def _evenly_spaced(count: int, zone: str, taken: Collection[int]) -> tuple[int, ...]:
    spacing = RING_SIZE // count
    offset = int.from_bytes(hashlib.blake2b(zone.encode(), digest_size=4).digest(), "big")
    result: set[int] = set()
    for i in range(count):
        token = (offset + i * spacing) % RING_SIZE
        while token in taken or token in result:  # another zone got there first
            token = (token + 1) % RING_SIZE
        result.add(token)
    return tuple(sorted(result))


def _split_largest(view: ZoneView, count: int, taken: Collection[int]) -> tuple[int, ...]:
    tokens, owners = view.tokens, view.owners
    owned: dict[str, int] = {}
    ranges: dict[str, list[tuple[int, int]]] = {}  # owner -> max-heap of (-length, start)
    previous = tokens[-1] - RING_SIZE
    for token, owner in zip(tokens, owners, strict=True):
        owned[owner] = owned.get(owner, 0) + token - previous
        ranges.setdefault(owner, []).append((previous - token, previous % RING_SIZE))
        previous = token
    for heap in ranges.values():
        heapq.heapify(heap)
    loaded = [(-n, owner) for owner, n in owned.items()]
    heapq.heapify(loaded)

    need = RING_SIZE // (len(owned) + 1)
    result: set[int] = set()
    while len(result) < count and loaded:
        minus_owned, owner = heapq.heappop(loaded)
        if -minus_owned != owned[owner]:
            continue  # stale entry; the owner's current load was pushed again
        heap = ranges[owner]
        minus_length, start = heap[0]
        share = max(1, need // (count - len(result)))
        amount = min(share, -minus_length - 1)  # leave the owner at least its own token
        token = (start + amount) % RING_SIZE
        while amount >= 1 and (token in taken or token in result):
            amount -= 1  # another zone's token sits there: step back into the range
            token = (start + amount) % RING_SIZE
        if amount < 1:
            continue  # nothing left to split here: this owner drops out of the heap
        heapq.heapreplace(heap, (minus_length + amount, token))
        result.add(token)
        need -= amount
        owned[owner] -= amount
        heapq.heappush(loaded, (-owned[owner], owner))
    if len(result) < count:
        raise ValueError(f"the zone has no room for {count} more tokens")
    return tuple(sorted(result))
