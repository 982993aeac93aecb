"""What the merge task does with each command: merge, store, tell watchers, queue the change.

Only the merge task calls `KVState.apply`, so this is the single writer of the entries.
Each key's entry is an immutable snapshot replaced whole; readers never see half a change.

The rules, from dskit with its weak spots fixed (dskit kv/memberlist/memberlist_client.go,
mergeBytesValueForKey and broadcastNewValue; ring/model.go, Merge):

- a change is merged with the value's own CRDT merge; only the *change* it reports is
  gossiped, never the message that caused it, so stale parts die out (cortex#4419);
- tombstones older than ``now - left_instances_timeout`` are dropped from the result and
  from the change after every merge, and a change left empty is not forwarded
  (cortex#4420); the horizon also goes into the merge, so a stale copy of something whose
  tombstone was collected is ignored instead of resurrected;
- our own changes go to the local queue, forwarded ones to the gossip queue, and anything
  too big for one gossip packet to the stream queue (sent over streams, never dropped);
- a key deletion is sticky: it wins over any value and is forgotten after
  ``obsolete_entries_timeout``; deletion notices for keys we do not hold are ignored, so a
  late one cannot create a key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import attrs

from trio_gossip.core.kv.broadcasts import BroadcastQueue
from trio_gossip.core.kv.codec import CodecRegistry
from trio_gossip.core.kv.entry import Counters, Entry
from trio_gossip.core.kv.label import add_label
from trio_gossip.core.kv.message import KeyValuePair, encode_pair
from trio_gossip.core.kv.settings import KVSettings
from trio_gossip.shell.kv.inbox import Command, Commit, DeleteKey, Outcome, Remote, Sweep
from trio_gossip.shell.kv.watch import WatchHub
from trio_gossip.wire.errors import GossipError

log = logging.getLogger("trio_gossip.core.kv")


class KeyDeletedError(GossipError):
    """The key was deleted; it cannot be written until the deletion is forgotten."""


@attrs.define(eq=False)
class Queues:
    local: BroadcastQueue  # our own changes: handed out first (dskit#539)
    gossip: BroadcastQueue  # changes learned from others, forwarded
    stream: BroadcastQueue  # changes over the packet budget, sent over streams

    def all(self) -> tuple[BroadcastQueue, ...]:
        return (self.local, self.gossip, self.stream)


class KVState:
    def __init__(
        self,
        codecs: CodecRegistry,
        settings: KVSettings,
        *,
        queues: Queues,
        watches: WatchHub,
        counters: Counters,
        clock: Callable[[], float],
    ) -> None:
        self.codecs = codecs
        self.settings = settings
        self.queues = queues
        self.watches = watches
        self.counters = counters
        self.clock = clock
        self.entries: dict[str, Entry] = {}
        self.version = 0  # store-wide change counter; entries carry it as their version
        self.packet_budget = 1 << 30  # bytes a change may have to ride a gossip packet

    def apply(self, command: Command) -> None:
        if isinstance(command, Commit):
            self._commit(command)
        elif isinstance(command, Remote):
            try:
                self._remote(command)
            except Exception:  # a value that decoded but will not merge: never end the task
                self.counters.received_broadcasts_invalid += 1
                log.warning("kv: change of %r could not be merged", command.key, exc_info=True)
        elif isinstance(command, DeleteKey):
            self._delete(command)
        else:
            assert isinstance(command, Sweep)
            self.sweep()

    # -- local writes ----------------------------------------------------------------------

    def _commit(self, cmd: Commit) -> None:
        entry = self.entries.get(cmd.key)
        if (entry.version if entry is not None else 0) != cmd.expected:
            cmd.reply.set(Outcome.CONFLICT)
            return
        if entry is not None and entry.deleted:
            cmd.reply.fail(KeyDeletedError(f"key {cmd.key!r} is deleted"))
            return
        horizon = self.clock() - self.settings.left_instances_timeout
        if entry is None:
            value = change = cmd.value
        else:
            result = entry.value.merge(cmd.value, local_cas=True, horizon=horizon)
            if result.change is None:
                cmd.reply.set(Outcome.UNCHANGED)
                return
            value, change = result.value, result.change
        self._store(cmd.key, cmd.codec, value, change, horizon, sent_at=None)
        cmd.reply.set(Outcome.APPLIED)

    def _delete(self, cmd: DeleteKey) -> None:
        entry = self.entries.get(cmd.key)
        if entry is None or entry.deleted:
            cmd.reply.set(False)
            return
        self._mark_deleted(cmd.key, entry, local=True)
        cmd.reply.set(True)

    # -- changes from the network ------------------------------------------------------------

    def _remote(self, cmd: Remote) -> None:
        entry = self.entries.get(cmd.key)
        if entry is not None and entry.codec != cmd.codec:
            self.counters.received_broadcasts_invalid += 1
            log.debug("kv: %r arrived with codec %r, ours is %r", cmd.key, cmd.codec, entry.codec)
            return
        if entry is not None and entry.deleted:
            return  # a deleted key takes nothing more until it is forgotten
        if cmd.deleted:
            if entry is not None:
                self._mark_deleted(cmd.key, entry, local=False)
            return
        if cmd.value is None:
            return
        horizon = self.clock() - self.settings.left_instances_timeout
        if entry is None:
            value = change = cmd.value
        else:
            result = entry.value.merge(cmd.value, horizon=horizon)
            if result.change is None:
                return
            value, change = result.value, result.change
        self._store(cmd.key, cmd.codec, value, change, horizon, sent_at=cmd.updated_at)

    # -- storing and sending -----------------------------------------------------------------

    def _store(
        self,
        key: str,
        codec: str,
        value: Any,
        change: Any,
        horizon: float,
        *,
        sent_at: float | None,
    ) -> None:
        """Keep `value`, tell watchers, and queue `change`: as our own news (`sent_at` None)
        or as forwarded news, keeping the originator's stamp so every node forwards the
        very same bytes and receivers can drop repeats before decoding them."""
        value, removed = value.remove_tombstones(horizon)
        change, _ = change.remove_tombstones(horizon)
        self.counters.tombstones_removed += removed
        content = change.merge_content()
        if not content and key in self.entries:
            return  # only expired tombstones: nothing to keep or forward (cortex#4420)
        self.version += 1
        now = self.clock()
        self.entries[key] = Entry(codec, value, self.version, updated_at=now)
        self.counters.changes_applied += 1
        self.watches.changed(key)
        if content:
            encoded = self.codecs[codec].encode(change)
            pair = KeyValuePair(key, codec, encoded, False, now if sent_at is None else sent_at)
            self._send(pair, content, local=sent_at is None)

    def _mark_deleted(self, key: str, entry: Entry, *, local: bool) -> None:
        self.version += 1
        now = self.clock()
        self.entries[key] = Entry(entry.codec, entry.value, self.version, True, now)
        self.counters.changes_applied += 1
        self.watches.changed(key)
        self._send(KeyValuePair(key, entry.codec, b"", True, now), frozenset(), local=local)

    def _send(self, pair: KeyValuePair, content: frozenset[str], *, local: bool) -> None:
        try:
            payload = encode_pair(pair, max_size=self.settings.max_message_bytes)
        except ValueError as exc:
            self.counters.broadcasts_dropped += 1
            log.warning("kv: change of %r not sent: %s", pair.key, exc)
            return
        payload = add_label(payload, self.settings.label_bytes)
        covers_all = pair.deleted
        for queue in self.queues.all():  # a newer change makes covered copies stale anywhere
            queue.invalidate(pair.key, content, self.version, covers_all=covers_all)
        if len(payload) > self.packet_budget:
            target = self.queues.stream
        else:
            target = self.queues.local if local else self.queues.gossip
        target.queue(pair.key, content, self.version, payload, covers_all=covers_all)

    # -- garbage collection ------------------------------------------------------------------

    def sweep(self) -> None:
        """Drop expired tombstones of every key and forget deletions past their timeout.

        dskit collects tombstones only when a key changes; a quiet key would keep them (and
        hand them to every push/pull) for ever. Readers never see tombstones, so nothing is
        notified, and the entry version stays: a CAS read before the sweep is still valid.
        """
        now = self.clock()
        horizon = now - self.settings.left_instances_timeout
        for key, entry in list(self.entries.items()):
            if entry.deleted:
                if now - entry.updated_at >= self.settings.obsolete_entries_timeout:
                    del self.entries[key]
                continue
            value, removed = entry.value.remove_tombstones(horizon)
            if removed:
                self.counters.tombstones_removed += removed
                self.entries[key] = Entry(entry.codec, value, entry.version,
                                          updated_at=entry.updated_at)  # fmt: skip
