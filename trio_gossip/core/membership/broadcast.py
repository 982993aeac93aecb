"""memberlist's TransmitLimitedQueue: broadcasts handed out a limited number of times.

Unlike the rest of this package the queue is a mutable object: it is used synchronously from
one Trio thread (no locking, no awaits inside), and holding it in the immutable snapshot would
mean copying it on every packet. Each transmit tier is a list kept sorted with ``bisect``:
lookups are O(log n); inserts and removals shift the list (a fast memmove), which at the queue
sizes gossip produces (hundreds to a few thousand) is cheaper than any tree in Python.
"""

from __future__ import annotations

import bisect
import math
import sys
from collections.abc import Callable

import attrs

OnFinish = Callable[[], None]


def retransmit_limit(retransmit_mult: int, n: int) -> int:
    """How many times a broadcast is sent: ``mult * ceil(log10(n + 1))``."""
    return retransmit_mult * math.ceil(math.log10(n + 1))


@attrs.define(eq=False)
class _Item:
    id: int
    message: bytes
    name: str | None
    on_finish: OnFinish | None
    transmits: int = 0

    @property
    def key(self) -> tuple[int, int]:
        # Within a tier: longer first, then newer (higher id) first.
        return (-len(self.message), -self.id)


class TransmitLimitedQueue:
    """Queue of encoded broadcasts ordered by (fewer transmits, longer, newer).

    Named broadcasts (memberlist's own, named after the node they are about) replace any queued
    broadcast of the same name; the replaced one is *finished* at once, which is how a leave or
    metadata update waiter learns its message is no longer pending.
    """

    def __init__(self, retransmit_mult: int, num_nodes: Callable[[], int]) -> None:
        self.retransmit_mult = retransmit_mult
        self._num_nodes = num_nodes
        self._tiers: dict[int, list[tuple[int, int]]] = {}
        self._items: dict[int, _Item] = {}
        self._named: dict[str, _Item] = {}
        self._next_id = 0

    def __len__(self) -> int:
        return len(self._items)

    def queue_broadcast(
        self, message: bytes, *, name: str | None = None, on_finish: OnFinish | None = None
    ) -> None:
        """Queue ``message``; a queued broadcast with the same ``name`` is finished and dropped."""
        if name is not None:
            old = self._named.get(name)
            if old is not None:
                self._remove(old)
                _finish(old)
        self._next_id += 1
        item = _Item(self._next_id, message, name, on_finish)
        self._insert(item)

    def get_broadcasts(self, overhead: int, limit: int) -> list[bytes]:
        """Take broadcasts that fit in ``limit`` bytes, counting ``overhead`` per message.

        Walks the tiers from the fewest transmits up, taking in each the longest (then newest)
        message that still fits. Taken messages move one tier up, after the walk so a message
        is never taken twice in one call; a message at its retransmit limit is finished.
        """
        if not self._items:
            return []
        transmit_limit = retransmit_limit(self.retransmit_mult, self._num_nodes())
        used = 0
        chosen: list[bytes] = []
        bumped: list[_Item] = []
        for tier in sorted(self._tiers):
            keys = self._tiers.get(tier)
            while keys:
                free = limit - used - overhead
                if free <= 0:
                    break
                i = bisect.bisect_left(keys, (-free, -sys.maxsize))
                if i == len(keys):
                    break  # nothing in this tier fits
                item = self._items[-keys[i][1]]
                self._remove(item)
                used += overhead + len(item.message)
                chosen.append(item.message)
                if item.transmits + 1 >= transmit_limit:
                    _finish(item)
                else:
                    item.transmits += 1
                    bumped.append(item)
            if limit - used - overhead <= 0:
                break
        for item in bumped:
            self._insert(item)
        return chosen

    def prune(self, max_retain: int) -> None:
        """Drop and finish the most sent, shortest, oldest messages beyond ``max_retain``."""
        while len(self._items) > max_retain:
            keys = self._tiers[max(self._tiers)]
            item = self._items[-keys[-1][1]]
            self._remove(item)
            _finish(item)

    def reset(self) -> None:
        """Drop everything without finishing anything (memberlist's Reset)."""
        self._tiers.clear()
        self._items.clear()
        self._named.clear()

    def transmits_of(self, name: str) -> int | None:
        """Transmit count of the queued broadcast ``name``, or None if none is queued."""
        item = self._named.get(name)
        return None if item is None else item.transmits

    def _insert(self, item: _Item) -> None:
        bisect.insort(self._tiers.setdefault(item.transmits, []), item.key)
        self._items[item.id] = item
        if item.name is not None:
            self._named[item.name] = item

    def _remove(self, item: _Item) -> None:
        keys = self._tiers[item.transmits]
        del keys[bisect.bisect_left(keys, item.key)]
        if not keys:
            del self._tiers[item.transmits]
        del self._items[item.id]
        if item.name is not None and self._named.get(item.name) is item:
            del self._named[item.name]


def _finish(item: _Item) -> None:
    callback, item.on_finish = item.on_finish, None
    if callback is not None:
        callback()
