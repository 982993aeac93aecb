"""The KV store's broadcast queue: encoded changes, each sent a limited number of times.

Like memberlist's TransmitLimitedQueue (fewest transmits first, then longest, then newest;
an item is finished after ``factor * ceil(log10(N + 1))`` sends), plus dskit's invalidation
rule: a new change of a key replaces queued changes of the same key whose content (the
record names from ``merge_content``) it covers, when it is at least as new. dskit checks
that rule against every queued item with nested loops; here items are indexed by key and
contents are frozensets, so a queue costs O(changes of that key) per insert.

A mutable object used synchronously from one Trio thread (no locks, no awaits inside).
Each transmit tier is a list kept sorted with `bisect`: O(log n) lookups, cheap inserts at
the sizes gossip produces.
"""

from __future__ import annotations

import bisect
import math
import sys
from collections.abc import Callable

import attrs


def retransmit_limit(factor: int, n: int) -> int:
    """How many times a change is sent in a cluster of `n`: ``factor * ceil(log10(n + 1))``."""
    return factor * max(1, math.ceil(math.log10(n + 1)))


@attrs.define(eq=False)
class _Item:
    id: int
    key: str
    content: frozenset[str]
    version: int
    message: bytes
    covers_all: bool
    transmits: int = 0

    @property
    def order(self) -> tuple[int, int]:
        return (-len(self.message), -self.id)  # within a tier: longest, then newest


class BroadcastQueue:
    """Queued KV changes for one purpose (our own, forwarded, or too big for a packet)."""

    def __init__(
        self,
        retransmit_factor: int,
        num_nodes: Callable[[], int],
        *,
        max_items: int = 4096,
        on_drained: Callable[[], None] | None = None,
    ) -> None:
        self.retransmit_factor = retransmit_factor
        self._num_nodes = num_nodes
        self._max_items = max_items
        self._on_drained = on_drained
        self._items: dict[int, _Item] = {}
        self._by_key: dict[str, set[int]] = {}
        self._tiers: dict[int, list[tuple[int, int]]] = {}
        self._next_id = 0
        self.bytes = 0
        self.superseded = 0
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._items)

    def queue(
        self,
        key: str,
        content: frozenset[str],
        version: int,
        message: bytes,
        *,
        covers_all: bool = False,
    ) -> None:
        """Queue a change; `covers_all` (a key deletion) supersedes every older change of it."""
        self.invalidate(key, content, version, covers_all=covers_all)
        self._next_id += 1
        self._insert(_Item(self._next_id, key, content, version, message, covers_all))
        while len(self._items) > self._max_items:
            tier = self._tiers[max(self._tiers)]
            self._remove(self._items[-tier[-1][1]])  # most sent, shortest, oldest
            self.dropped += 1

    def invalidate(
        self, key: str, content: frozenset[str], version: int, *, covers_all: bool = False
    ) -> None:
        """Drop queued changes of `key` that a change with this content and version covers."""
        ids = self._by_key.get(key)
        if not ids:
            return
        stale = [
            item
            for item in map(self._items.__getitem__, ids)
            if item.version <= version and (covers_all or item.content <= content)
        ]
        for item in stale:
            self._remove(item)
        self.superseded += len(stale)
        if stale and not self._items and self._on_drained is not None:
            self._on_drained()

    def get_broadcasts(self, overhead: int, limit: int) -> list[bytes]:
        """Changes that fit in `limit` bytes, counting `overhead` per change.

        Each tier, from the fewest transmits up, gives its longest (then newest) change
        that still fits, repeatedly. Taken changes move up a tier after the walk, so none is
        taken twice in one call; one that reached the retransmit limit is finished.
        """
        if not self._items:
            return []
        transmit_limit = retransmit_limit(self.retransmit_factor, self._num_nodes())
        used = 0
        taken: list[bytes] = []
        again: list[_Item] = []
        for tier in sorted(self._tiers):
            keys = self._tiers.get(tier)
            while keys:
                free = limit - used - overhead
                i = bisect.bisect_left(keys, (-free, -sys.maxsize))
                if free <= 0 or i == len(keys):
                    break  # nothing left in this tier fits
                item = self._items[-keys[i][1]]
                self._remove(item)
                used += overhead + len(item.message)
                taken.append(item.message)
                item.transmits += 1
                if item.transmits < transmit_limit:
                    again.append(item)
            if limit - used - overhead <= 0:
                break
        for item in again:
            self._insert(item)
        if not self._items and self._on_drained is not None:
            self._on_drained()
        return taken

    def _insert(self, item: _Item) -> None:
        bisect.insort(self._tiers.setdefault(item.transmits, []), item.order)
        self._items[item.id] = item
        self._by_key.setdefault(item.key, set()).add(item.id)
        self.bytes += len(item.message)

    def _remove(self, item: _Item) -> None:
        keys = self._tiers[item.transmits]
        del keys[bisect.bisect_left(keys, item.order)]
        if not keys:
            del self._tiers[item.transmits]
        del self._items[item.id]
        ids = self._by_key[item.key]
        ids.discard(item.id)
        if not ids:
            del self._by_key[item.key]
        self.bytes -= len(item.message)
