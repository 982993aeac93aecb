"""memberlist's TransmitLimitedQueue (queue.go) as an immutable value, with lanes.

Every broadcast a node gossips waits here, in one of four lanes handed out in this order:

- ``MEMBERLIST``: alive, suspect and dead messages, named after the node they are about; a
  newer one of a name replaces the queued one (queue.go, ``QueueBroadcast`` with
  ``NamedBroadcast``);
- ``KV_OWN`` and ``KV_FORWARDED``: the KV store's changes, ours first (dskit#539), then those
  learned from others, named after their key. A change drops queued changes of its key whose
  record names it covers and that are no newer (dskit kv/memberlist/memberlist_client.go,
  ``queueBroadcast`` with ``ringBroadcast.Invalidates``; dskit compares every pair, here items
  are indexed by key);
- ``KV_STREAM``: changes too big for a gossip packet, never piggybacked: the engine sends them
  over streams to a few peers each gossip round.

Within a lane a broadcast is handed out at most its lane's retransmit limit of times, fewest
transmits first, then longest, then newest, exactly as ``TransmitLimitedQueue.GetBroadcasts``
orders its btree.

The value is persistent: items live in an ``immutables.Map`` and the order in one sorted tuple
of keys, so a change costs one map update and one tuple copy (a memmove), and a reader holding
an older queue never sees it change.
"""

from __future__ import annotations

import math
import sys
from bisect import bisect_left, insort
from collections.abc import Iterable, Iterator

import attrs
import immutables

from trio_gossip.wire.messages import MessageType

MEMBERLIST, KV_OWN, KV_FORWARDED, KV_STREAM = 0, 1, 2, 3

_ALIVE = bytes((MessageType.ALIVE,))

Key = tuple[int, int, int, int]
"""(lane, transmits, -len(message), -id): ascending order is the order they are handed out."""


def retransmit_limit(retransmit_mult: int, n: int) -> int:
    """How many times a broadcast is sent: ``mult * ceil(log10(n + 1))`` (util.go)."""
    return retransmit_mult * math.ceil(math.log10(n + 1))


@attrs.frozen(slots=True)
class Queued:
    """One broadcast. ``token`` names a local waiter (a leave, a metadata update) to tell when
    the broadcast is finished: sent its last time, or replaced by a newer one of its name.
    A KV change carries the record names it holds (``content``; None for a key deletion,
    which covers every record) and the store version that made it."""

    id: int
    message: bytes
    name: str | None
    token: int | None = None
    lane: int = MEMBERLIST
    content: frozenset[str] | None = None
    version: int = 0

    @property
    def first_key(self) -> Key:
        """Its key when queued. How often it was sent lives only in its key in ``order``, so
        a send moves a key and never rebuilds the item."""
        return (self.lane, 0, -len(self.message), -self.id)


@attrs.frozen(slots=True)
class Taken:
    """What ``TransmitQueue.take`` hands out, and the waiters whose broadcasts it finished."""

    queue: TransmitQueue
    messages: list[bytes]
    finished: tuple[int, ...]


_EMPTY_MAP: immutables.Map[int, Queued] = immutables.Map()
_EMPTY_NAMES: immutables.Map[str, int] = immutables.Map()
_EMPTY_KEYS: immutables.Map[str, frozenset[int]] = immutables.Map()


@attrs.frozen(slots=True)
class TransmitQueue:
    items: immutables.Map[int, Queued] = _EMPTY_MAP
    names: immutables.Map[str, int] = _EMPTY_NAMES  # memberlist lane: name -> its one item
    kv_keys: immutables.Map[str, frozenset[int]] = _EMPTY_KEYS  # KV lanes: key -> its items
    order: tuple[Key, ...] = ()
    next_id: int = 1

    def __len__(self) -> int:
        return len(self.order)

    def __iter__(self) -> Iterator[Queued]:
        items = self.items
        return (items[-key[3]] for key in self.order)

    def lane(self, lane: int) -> tuple[int, int]:
        """The slice of ``order`` that holds ``lane``."""
        order = self.order
        return bisect_left(order, (lane,)), bisect_left(order, (lane + 1,))

    def lane_len(self, lane: int) -> int:
        lo, hi = self.lane(lane)
        return hi - lo

    def in_lane(self, lane: int) -> Iterator[Queued]:
        lo, hi = self.lane(lane)
        items = self.items
        return (items[-key[3]] for key in self.order[lo:hi])

    def sent_fewer_than(self, transmits: int, lane: int = MEMBERLIST) -> int:
        """How many broadcasts of ``lane`` have been sent fewer than ``transmits`` times."""
        lo, _ = self.lane(lane)
        return bisect_left(self.order, (lane, transmits)) - lo

    def forget_alives(self, names: Iterable[str]) -> tuple[TransmitQueue, int]:
        """Drop the queued alive messages about ``names`` that no local caller waits on;
        returns the new queue and how many it dropped."""
        items, index = self.items, self.names
        gone = [item for item in (items[i] for i in
                                  (index.get(name) for name in names) if i is not None)
                if item.token is None and item.message[:1] == _ALIVE]  # fmt: skip
        if not gone:
            return self, 0
        mutation, names_mut = items.mutate(), index.mutate()
        for item in gone:
            del mutation[item.id]
            if item.name is not None:
                del names_mut[item.name]
        order = _without_ids(self.order, {item.id for item in gone})
        return TransmitQueue(mutation.finish(), names_mut.finish(), self.kv_keys, order,
                             self.next_id), len(gone)  # fmt: skip

    def transmits_of(self, name: str) -> int | None:
        """Transmit count of the queued broadcast ``name``, or None if none is queued."""
        item_id = self.names.get(name)
        if item_id is None:
            return None
        return next(key[1] for key in self.order if key[3] == -item_id)

    def push(
        self, message: bytes, *, name: str | None = None, token: int | None = None
    ) -> tuple[TransmitQueue, int | None]:
        """Queue a memberlist broadcast. A queued broadcast of the same name is dropped and
        finished: its token, if any, is returned for the caller to tell its waiter."""
        items, names, order = self.items, self.names, self.order
        finished: int | None = None
        if name is not None and (old_id := names.get(name)) is not None:
            old = items[old_id]
            finished = old.token
            items = items.delete(old_id)
            order = _without_ids(order, {old_id})
        item = Queued(self.next_id, message, name, token)
        items = items.set(item.id, item)
        if name is not None:
            names = names.set(name, item.id)
        listed = list(order)
        insort(listed, item.first_key)
        return TransmitQueue(items, names, self.kv_keys, tuple(listed), self.next_id + 1), finished

    def push_kv(
        self, message: bytes, *, key: str, content: frozenset[str] | None, version: int, lane: int
    ) -> tuple[TransmitQueue, int]:
        """Queue a KV change after dropping the queued changes of ``key`` it covers; returns
        the new queue and how many it dropped."""
        queue, superseded = self.invalidate(key, content, version)
        item = Queued(queue.next_id, message, key, None, lane, content, version)
        ids = queue.kv_keys.get(key, frozenset())
        listed = list(queue.order)
        insort(listed, item.first_key)
        return TransmitQueue(queue.items.set(item.id, item), queue.names,
                             queue.kv_keys.set(key, ids | {item.id}), tuple(listed),
                             queue.next_id + 1), superseded  # fmt: skip

    def invalidate(
        self, key: str, content: frozenset[str] | None, version: int
    ) -> tuple[TransmitQueue, int]:
        """Drop queued changes of ``key`` that a change with this content (None: all of the
        key) and version covers."""
        ids = self.kv_keys.get(key)
        if not ids:
            return self, 0
        items = self.items
        stale = [
            item for item in (items[i] for i in ids)
            if item.version <= version and (content is None or (
                item.content is not None and item.content <= content))
        ]  # fmt: skip
        if not stale:
            return self, 0
        drop = {item.id for item in stale}
        left = ids - drop
        mutation = items.mutate()
        for item in stale:
            del mutation[item.id]
        kv_keys = self.kv_keys.set(key, left) if left else self.kv_keys.delete(key)
        order = _without_ids(self.order, drop)
        return TransmitQueue(mutation.finish(), self.names, kv_keys, order,
                             self.next_id), len(stale)  # fmt: skip

    def take(self, overhead: int, limit: int, transmit_limit: int, *, lane: int = MEMBERLIST
             ) -> Taken:  # fmt: skip
        """Broadcasts of ``lane`` that fit in ``limit`` bytes at ``overhead`` bytes each.

        In each tier of equal transmits, from the fewest up, the longest (then newest) message
        that still fits is taken, until nothing more fits. Taken messages are sent once more;
        one at ``transmit_limit`` leaves the queue and is finished.
        """
        order = self.order
        i, n = self.lane(lane)
        if i == n or limit - overhead <= 0:
            return Taken(self, [], ())
        items, names, kv_keys = self.items, self.names, self.kv_keys
        used = 0
        picked: list[int] = []
        messages: list[bytes] = []
        bumped: list[Key] = []
        gone: list[Queued] = []
        while i < n:
            free = limit - used - overhead
            if free <= 0:
                break
            key = order[i]
            if key[2] < -free:
                # The longest left in this tier does not fit: find the longest that does.
                # (When it fits, which is nearly every pick since a tier's messages are much
                # the same length, it is what this bisection would find.)
                tier = key[1]
                j = bisect_left(order, (lane, tier, -free, -sys.maxsize), i + 1, n)
                if j == n or order[j][1] != tier:
                    i = j  # nothing left in this tier fits: on to the next tier
                    continue
                i = j
                key = order[j]
            picked.append(i)
            used += overhead - key[2]
            item = items[-key[3]]
            messages.append(item.message)
            if key[1] + 1 >= transmit_limit:
                gone.append(item)
            else:
                bumped.append((key[0], key[1] + 1, key[2], key[3]))
            i += 1
        if not picked:
            return Taken(self, [], ())
        finished: list[int] = []
        if gone:
            mutation = items.mutate()
            for item in gone:
                del mutation[item.id]
                names, kv_keys = _forget(item, names, kv_keys)
                if item.token is not None:
                    finished.append(item.token)
            items = mutation.finish()
        return Taken(TransmitQueue(items, names, kv_keys, _reordered(order, picked, bumped),
                                   self.next_id), messages, tuple(finished))  # fmt: skip

    def prune(self, max_retain: int, *, lane: int = MEMBERLIST
              ) -> tuple[TransmitQueue, tuple[int, ...]]:  # fmt: skip
        """Drop the most sent, shortest, oldest broadcasts of ``lane`` beyond ``max_retain``
        (queue.go, Prune); returns the tokens of the dropped ones that had waiters."""
        lo, hi = self.lane(lane)
        if hi - lo <= max_retain:
            return self, ()
        drop = self.order[lo + max_retain : hi]
        items, names, kv_keys = self.items, self.names, self.kv_keys
        finished: list[int] = []
        for key in drop:
            item = items[-key[3]]
            items = items.delete(item.id)
            names, kv_keys = _forget(item, names, kv_keys)
            if item.token is not None:
                finished.append(item.token)
        order = self.order[: lo + max_retain] + self.order[hi:]
        return TransmitQueue(items, names, kv_keys, order, self.next_id), tuple(finished)


def _forget(
    item: Queued, names: immutables.Map[str, int], kv_keys: immutables.Map[str, frozenset[int]]
) -> tuple[immutables.Map[str, int], immutables.Map[str, frozenset[int]]]:
    """The indexes without ``item``, which left the queue."""
    if item.name is None:
        return names, kv_keys
    if item.lane == MEMBERLIST:
        if names.get(item.name) == item.id:
            names = names.delete(item.name)
        return names, kv_keys
    left = kv_keys.get(item.name, frozenset()) - {item.id}
    kv_keys = kv_keys.set(item.name, left) if left else kv_keys.delete(item.name)
    return names, kv_keys


def _reordered(order: tuple[Key, ...], picked: list[int], bumped: list[Key]) -> tuple[Key, ...]:
    """``order`` without the keys at ``picked`` (ascending) and with ``bumped`` (ascending)
    put in their places: copies of the runs between, found by bisection, never a sort (a
    sort compares every key; a join's queue holds a key per node).

    A bumped key's place among the keys that stay is its bisection point in ``order`` itself
    (dropping keys never reorders the rest), so one pass copies each run of ``order`` once.
    """
    out: list[Key] = []
    start = 0
    b = 0
    nb = len(bumped)
    at = bisect_left(order, bumped[0]) if nb else len(order) + 1
    for j in picked:
        while at <= j:  # a bumped key goes in before the key at ``j`` (ties: insert first)
            out += order[start:at]
            out.append(bumped[b])
            start = at
            b += 1
            at = bisect_left(order, bumped[b], at) if b < nb else len(order) + 1
        out += order[start:j]
        start = j + 1
    while b < nb:
        out += order[start:at]
        out.append(bumped[b])
        start = at
        b += 1
        at = bisect_left(order, bumped[b], at) if b < nb else len(order) + 1
    out += order[start:]
    return tuple(out)


def _without_ids(order: tuple[Key, ...], ids: set[int]) -> tuple[Key, ...]:
    return tuple(key for key in order if -key[3] not in ids)
