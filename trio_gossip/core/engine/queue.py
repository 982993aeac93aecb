"""memberlist's TransmitLimitedQueue (queue.go) as an immutable value.

Every broadcast a node gossips waits here: memberlist's own (alive, suspect, dead, named after
the node they are about) and the KV store's (named after their key, as dskit's memberlist
client invalidates older values of one key). A broadcast is handed out at most
``retransmit_limit`` times, fewest transmits first, then longest, then newest, exactly as
``TransmitLimitedQueue.GetBroadcasts`` orders its btree.

The value is persistent: items live in an ``immutables.Map`` and the order in one sorted tuple
of keys, so a change costs one map update and one tuple copy (a memmove), and a reader holding
an older queue never sees it change.
"""

from __future__ import annotations

import math
import sys
from bisect import bisect_left, insort
from collections.abc import Iterator

import attrs
import immutables

Key = tuple[int, int, int]
"""(transmits, -len(message), -id): ascending order is the order memberlist hands them out."""


def retransmit_limit(retransmit_mult: int, n: int) -> int:
    """How many times a broadcast is sent: ``mult * ceil(log10(n + 1))`` (util.go)."""
    return retransmit_mult * math.ceil(math.log10(n + 1))


@attrs.frozen(slots=True)
class Queued:
    """One broadcast. ``token`` names a local waiter (a leave, a metadata update) to tell when
    the broadcast is finished: sent its last time, or replaced by a newer one of its name."""

    id: int
    message: bytes
    name: str | None
    transmits: int = 0
    token: int | None = None

    @property
    def key(self) -> Key:
        return (self.transmits, -len(self.message), -self.id)


@attrs.frozen(slots=True)
class Taken:
    """What ``TransmitQueue.take`` hands out, and the waiters whose broadcasts it finished."""

    queue: TransmitQueue
    messages: list[bytes]
    finished: tuple[int, ...]


_EMPTY_MAP: immutables.Map[int, Queued] = immutables.Map()
_EMPTY_NAMES: immutables.Map[str, int] = immutables.Map()


@attrs.frozen(slots=True)
class TransmitQueue:
    items: immutables.Map[int, Queued] = _EMPTY_MAP
    names: immutables.Map[str, int] = _EMPTY_NAMES
    order: tuple[Key, ...] = ()
    next_id: int = 1

    def __len__(self) -> int:
        return len(self.order)

    def __iter__(self) -> Iterator[Queued]:
        items = self.items
        return (items[-key[2]] for key in self.order)

    def transmits_of(self, name: str) -> int | None:
        """Transmit count of the queued broadcast ``name``, or None if none is queued."""
        item_id = self.names.get(name)
        return None if item_id is None else self.items[item_id].transmits

    def push(
        self, message: bytes, *, name: str | None = None, token: int | None = None
    ) -> tuple[TransmitQueue, int | None]:
        """Queue ``message``. A queued broadcast of the same name is dropped and finished:
        its token, if any, is returned for the caller to tell its waiter."""
        items, names, order = self.items, self.names, self.order
        finished: int | None = None
        if name is not None and (old_id := names.get(name)) is not None:
            old = items[old_id]
            finished = old.token
            items = items.delete(old_id)
            order = _without(order, old.key)
        item = Queued(self.next_id, message, name, 0, token)
        items = items.set(item.id, item)
        if name is not None:
            names = names.set(name, item.id)
        listed = list(order)
        insort(listed, item.key)
        return TransmitQueue(items, names, tuple(listed), self.next_id + 1), finished

    def take(self, overhead: int, limit: int, transmit_limit: int) -> Taken:
        """Broadcasts that fit in ``limit`` bytes at ``overhead`` bytes each.

        In each tier of equal transmits, from the fewest up, the longest (then newest) message
        that still fits is taken, until nothing more fits. Taken messages are sent once more;
        one at ``transmit_limit`` leaves the queue and is finished.
        """
        order = self.order
        n = len(order)
        if not n or limit - overhead <= 0:
            return Taken(self, [], ())
        items = self.items
        used = 0
        picked: list[int] = []
        i = 0
        while i < n:
            free = limit - used - overhead
            if free <= 0:
                break
            tier = order[i][0]
            j = bisect_left(order, (tier, -free, -sys.maxsize), i)
            if j < n and order[j][0] == tier:
                picked.append(j)
                used += overhead - order[j][1]
                i = j + 1
            else:
                i = j  # nothing left in this tier fits: on to the next tier
        if not picked:
            return Taken(self, [], ())
        names = self.names
        messages: list[bytes] = []
        finished: list[int] = []
        bumped: list[Key] = []
        mutation = items.mutate()
        for j in picked:
            item = mutation[-order[j][2]]
            messages.append(item.message)
            if item.transmits + 1 >= transmit_limit:
                del mutation[item.id]
                if item.name is not None and names.get(item.name) == item.id:
                    names = names.delete(item.name)
                if item.token is not None:
                    finished.append(item.token)
            else:
                item = Queued(item.id, item.message, item.name, item.transmits + 1, item.token)
                mutation[item.id] = item
                bumped.append(item.key)
        items = mutation.finish()
        rest = list(order)
        for j in reversed(picked):  # picked ascends: delete from the back
            del rest[j]
        rest.extend(bumped)
        rest.sort()  # two sorted runs: timsort merges them in linear time
        return Taken(TransmitQueue(items, names, tuple(rest), self.next_id), messages,
                     tuple(finished))  # fmt: skip

    def prune(self, max_retain: int) -> tuple[TransmitQueue, tuple[int, ...]]:
        """Drop the most sent, shortest, oldest broadcasts beyond ``max_retain`` (Prune)."""
        if len(self.order) <= max_retain:
            return self, ()
        keep, drop = self.order[:max_retain], self.order[max_retain:]
        items, names = self.items, self.names
        finished: list[int] = []
        for key in drop:
            item = items[-key[2]]
            items = items.delete(item.id)
            if item.name is not None and names.get(item.name) == item.id:
                names = names.delete(item.name)
            if item.token is not None:
                finished.append(item.token)
        return TransmitQueue(items, names, keep, self.next_id), tuple(finished)


def _without(order: tuple[Key, ...], key: Key) -> tuple[Key, ...]:
    i = bisect_left(order, key)
    return order[:i] + order[i + 1 :]
