"""The replicated KV store on a memberlist node (floor 4).

The store is the node's Delegate, so it exists before the node::

    kv = KVStore([RING_CODEC], KVSettings())
    async with open_memberlist(config, delegate=kv) as node, kv.running(node):
        await node.join(seeds)
        await kv.cas("ring", lambda ring: ...)

or, in one step, ``async with open_kv(config, codecs=[RING_CODEC]) as kv``.

Every change (a local CAS or delete, a gossiped delta, one key of a push/pull state, a
sweep) becomes a command in one inbox, applied by one merge task (`KVState`). The
Delegate hooks run synchronously inside the node's tasks: they decode (DecodeError is
counted, never raised past them) and queue, nothing more. Gossip picks up our changes
through `get_broadcasts` (ours first, then forwarded ones); changes too big for a packet
go to a few random peers over streams each gossip interval instead.
"""

from __future__ import annotations

import builtins
import math
import os
import random
import sys
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from trio_gossip.core.kv.broadcasts import BroadcastQueue
from trio_gossip.core.kv.codec import Codec, CodecRegistry
from trio_gossip.core.kv.entry import Counters, KVStatistics
from trio_gossip.core.kv.label import add_label, strip_label
from trio_gossip.core.kv.message import KeyValuePair, decode_pair, decode_state, encode_state
from trio_gossip.core.kv.settings import KVSettings
from trio_gossip.shell.kv.client import KVClient
from trio_gossip.shell.kv.clock import default_clock
from trio_gossip.shell.kv.inbox import (
    Commit,
    DeleteKey,
    MergeInbox,
    Outcome,
    Remote,
    Sweep,
)
from trio_gossip.shell.kv.reply import Reply
from trio_gossip.shell.kv.state import KeyDeletedError, KVState, Queues, log
from trio_gossip.shell.kv.watch import KeyWatch, PrefixWatch, WatchHub
from trio_gossip.shell.node.delegate import BaseDelegate
from trio_gossip.shell.node.streams import STREAM_ERRORS
from trio_gossip.shell.scope import only
from trio_gossip.wire.errors import DecodeError, GossipError

if TYPE_CHECKING:
    from trio_gossip.core.config import Config
    from trio_gossip.core.membership.member import Member
    from trio_gossip.shell.memberlist import Memberlist
    from trio_gossip.transport.base import Transport

V = TypeVar("V")

__all__ = ["CASError", "KVStore", "KeyDeletedError", "open_kv", "packet_budget"]

_DRAIN_POLL = 0.25  # dskit polls its local queue at this pace on shutdown
# Recent messages remembered to drop repeats undecoded: every node forwards each change it
# applies, so each one arrives several times; the cache holds a few rounds of gossip.
_SEEN_MESSAGES = 1024


class CASError(GossipError):
    """A CAS kept conflicting for ``cas_attempts`` attempts."""


def packet_budget(config: Config) -> int:
    """Bytes a KV message may have to fit in one gossip packet: the UDP buffer minus the
    compound header, label, encryption, the part's length and the user-message type byte
    (counted before compression, as memberlist does)."""
    overhead = 2 + 2 + 1
    if config.label:
        overhead += 2 + len(config.label)
    if config.secret_keys:
        overhead += 45
    return config.udp_buffer_size - overhead


class KVStore(BaseDelegate):
    """A node's replicated key-value store. Values are immutable `Mergeable` CRDTs."""

    def __init__(
        self,
        codecs: Iterable[Codec[Any]],
        settings: KVSettings | None = None,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.settings = settings = settings or KVSettings()
        self.codecs = CodecRegistry.of(codecs)
        self._rng = rng or random.Random(os.urandom(16))
        self._clock = clock
        self._counters = Counters()
        self._inbox = MergeInbox(settings.processed_messages_queue_size)
        self._watches = WatchHub(settings.notify_interval)
        size = self._cluster_size
        limit = settings.broadcast_queue_limit
        factor = settings.retransmit_factor
        self._queues = Queues(
            local=BroadcastQueue(factor, size, max_items=limit),
            gossip=BroadcastQueue(factor, size, max_items=limit),
            stream=BroadcastQueue(factor, size, max_items=limit),
        )
        self._state = KVState(self.codecs, settings, queues=self._queues,
                              watches=self._watches, counters=self._counters,
                              clock=self.now)  # fmt: skip
        self._locks: dict[str, trio.Lock] = {}
        self._seen: dict[bytes, None] = {}  # insertion-ordered: a FIFO set
        self._node: Memberlist | None = None
        self._running = False
        self._stopped = False

    # -- reading (local, never blocks) -----------------------------------------------------

    @property
    def node(self) -> Memberlist:
        if self._node is None:
            raise GossipError("the KV store is not running")
        return self._node

    def client(self, codec: Codec[V]) -> KVClient[V]:
        """Typed access to the keys holding `codec`'s values (dskit's per-codec kv.Client)."""
        if codec.id not in self.codecs:
            raise GossipError(f"codec {codec.id!r} is not registered")
        return KVClient(self, codec.id)

    def child_rng(self, name: str) -> random.Random:
        """A generator for a helper of this store (a lifecycler's token draws): seeded from
        the store's own and `name`, so seeded simulations stay replayable."""
        return random.Random(f"{self._rng.getrandbits(64)}:{name}")

    def now(self) -> float:
        """Wall-clock seconds as this store stamps them (see `trio_gossip.shell.kv.clock`)."""
        if self._clock is None:
            self._clock = default_clock()
        return self._clock()

    def get(self, key: str) -> Any:
        """The key's value without tombstones; None if missing or deleted. (Untyped: a
        `client(codec)` gives typed access to the keys of one codec.)"""
        entry = self._state.entries.get(key)
        return None if entry is None else entry.view()

    def list(self, prefix: str = "") -> list[str]:
        """Keys (not deleted) starting with `prefix`, sorted."""
        return sorted(k for k, e in self._state.entries.items()
                      if k.startswith(prefix) and not e.deleted)  # fmt: skip

    def watch_key(self, key: str) -> KeyWatch:
        """``async for value in kv.watch_key(key)``: the current value, then the latest one
        after each (coalesced) change; ends when the store stops or the watch is closed."""
        return self._watches.add_key(key, self.get)

    def watch_prefix(self, prefix: str) -> PrefixWatch:
        """``async for key, value in kv.watch_prefix(prefix)``: every key first, then each
        changed key (None once deleted); repeated changes of one key coalesce."""
        return self._watches.add_prefix(prefix, self.get, self.list(prefix))

    def statistics(self) -> KVStatistics:
        c = self._counters
        q = self._queues
        return KVStatistics(
            received_broadcasts=c.received_broadcasts,
            received_broadcasts_bytes=c.received_broadcasts_bytes,
            received_broadcasts_invalid=c.received_broadcasts_invalid,
            received_broadcasts_dropped=c.received_broadcasts_dropped,
            received_broadcasts_duplicate=c.received_broadcasts_duplicate,
            state_pushes=c.state_pushes,
            state_pushes_bytes=c.state_pushes_bytes,
            state_pulls=c.state_pulls,
            state_pulls_bytes=c.state_pulls_bytes,
            cas_attempts=c.cas_attempts,
            cas_successes=c.cas_successes,
            cas_failures=c.cas_failures,
            changes_applied=c.changes_applied,
            broadcasts_superseded=sum(x.superseded for x in q.all()),
            broadcasts_dropped=c.broadcasts_dropped + sum(x.dropped for x in q.all()),
            stream_sends=c.stream_sends,
            stream_send_failures=c.stream_send_failures,
            tombstones_removed=c.tombstones_removed,
            keys=len(self._state.entries),
            local_queue=len(q.local),
            gossip_queue=len(q.gossip),
            stream_queue=len(q.stream),
            merge_queue=self._inbox.network_depth,
            pending_notifications=self._watches.pending,
        )

    # -- writing -------------------------------------------------------------------------------

    async def cas(self, key: str, fn: Callable[[Any], Any], *, codec: str | None = None) -> Any:
        """Compare-and-swap: ``fn(current)`` returns the whole new value, or None to change
        nothing. Records missing from it become tombstones; only the change is gossiped.

        `fn` sees the tombstone-free value (None for a new key) and must not modify it (values
        are immutable anyway). It runs in the caller's task; the merge task applies its result
        only if the key did not change since it was read, otherwise `fn` runs again, up to
        ``cas_attempts`` times (CASError after). CAS calls on one key queue behind each other,
        so they never conflict among themselves. `codec` is needed only to create a key when
        several codecs are registered. Returns the key's value afterwards.
        """
        if not self._running:
            raise GossipError("the KV store is not running")
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = trio.Lock()
        try:
            async with lock:
                return await self._cas_locked(key, fn, codec)
        finally:
            if not lock.locked() and lock.statistics().tasks_waiting == 0:
                self._locks.pop(key, None)

    async def _cas_locked(self, key: str, fn: Callable[[Any], Any], codec: str | None) -> Any:
        counters = self._counters
        for _ in range(self.settings.cas_attempts):
            counters.cas_attempts += 1
            entry = self._state.entries.get(key)
            if entry is not None and entry.deleted:
                counters.cas_failures += 1
                raise KeyDeletedError(f"key {key!r} is deleted")
            codec_id = self._codec_for(key, entry.codec if entry else None, codec)
            out = fn(None if entry is None else entry.view())
            if out is None:
                counters.cas_successes += 1
                return self.get(key)
            reply: Reply[Outcome] = Reply()
            # Read and queue in one synchronous step: the commit is the merge task's next job.
            self._inbox.put_local(Commit(key, codec_id, out, entry.version if entry else 0, reply))
            if await reply.wait() is not Outcome.CONFLICT:
                counters.cas_successes += 1
                return self.get(key)
        counters.cas_failures += 1
        raise CASError(f"CAS of {key!r} conflicted {self.settings.cas_attempts} times")

    def _codec_for(self, key: str, current: str | None, wanted: str | None) -> str:
        if current is not None:
            if wanted is not None and wanted != current:
                raise GossipError(f"key {key!r} holds codec {current!r}, not {wanted!r}")
            return current
        if wanted is not None:
            if wanted not in self.codecs:
                raise GossipError(f"codec {wanted!r} is not registered")
            return wanted
        if len(self.codecs.codecs) != 1:
            raise GossipError(f"new key {key!r}: say which codec (several are registered)")
        return next(iter(self.codecs.codecs))

    async def delete(self, key: str) -> bool:
        """Soft-delete `key` everywhere; False if it did not exist (or was deleted already)."""
        if not self._running:
            raise GossipError("the KV store is not running")
        reply: Reply[bool] = Reply()
        self._inbox.put_local(DeleteKey(key, reply))
        return await reply.wait()

    # -- running -------------------------------------------------------------------------------

    @asynccontextmanager
    async def running(self, node: Memberlist) -> AsyncIterator[KVStore]:
        """Run the store's tasks on `node` (whose delegate it must be) for the block.

        On exit our own queued changes get up to
        ``broadcast_timeout_for_local_updates_on_shutdown`` to go out before the tasks stop
        (leave the store's block before the node's, so that is possible: dskit#881).
        """
        if self._node is not None or self._stopped:
            raise GossipError("a KV store runs once")
        self._node = node
        self.now()  # pick the clock inside Trio
        self._state.packet_budget = packet_budget(node.config)
        body_error: BaseException | None = None
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._merge_loop)
                nursery.start_soon(self._stream_loop, nursery)
                nursery.start_soon(self._sweep_loop)
                if self.settings.notify_interval > 0:
                    nursery.start_soon(self._watches.run_flusher)
                self._running = True
                try:
                    yield self
                except BaseException as exc:
                    body_error = exc
                    raise
                finally:
                    self._running = False
                    timeout = self.settings.broadcast_timeout_for_local_updates_on_shutdown
                    with trio.CancelScope(shield=True):
                        await self.wait_local_broadcasts(timeout or math.inf)
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            if body_error is not None and only(group, body_error):
                raise body_error from None  # the caller's own exception, not a group of it
            raise
        finally:
            self._running = False
            self._stopped = True
            for command in self._inbox.close():
                reply = getattr(command, "reply", None)
                if reply is not None:
                    reply.fail(GossipError("the KV store stopped"))
            self._watches.close()

    async def wait_local_broadcasts(self, timeout: float = math.inf) -> bool:
        """Wait until our own changes have been sent as often as gossip sends anything (or
        there is nobody to send them to); False if `timeout` ran out first."""
        queues = self._queues
        with trio.move_on_after(timeout):
            while len(queues.local) or len(queues.stream):
                if not self._has_peers():
                    return True
                await trio.sleep(_DRAIN_POLL)
            return True
        return False

    async def _merge_loop(self) -> None:
        state = self._state
        inbox = self._inbox
        while True:
            state.apply(await inbox.get())
            await trio.lowlevel.checkpoint()  # one command at a time: let the node breathe

    async def _sweep_loop(self) -> None:
        while True:
            await trio.sleep(self.settings.sweep_interval)
            self._inbox.put_local(Sweep())

    async def _stream_loop(self, nursery: trio.Nursery) -> None:
        config = self.node.config
        interval = config.gossip_interval or 0.2
        fanout = max(1, config.gossip_nodes)
        limiter = trio.CapacityLimiter(self.settings.max_concurrent_streams)
        queue = self._queues.stream
        while True:
            await trio.sleep(interval)
            if not len(queue):
                continue
            for peer in self._peers(fanout):
                for payload in queue.get_broadcasts(0, sys.maxsize):
                    nursery.start_soon(self._send_stream, limiter, peer, payload)

    async def _send_stream(self, limiter: trio.CapacityLimiter, peer: Member, data: bytes) -> None:
        async with limiter:
            try:
                await self.node.send_reliable(peer, data)
            except STREAM_ERRORS as exc:
                self._counters.stream_send_failures += 1
                log.debug("kv: stream to %s failed: %r", peer.name, exc)
            else:
                self._counters.stream_sends += 1

    def _peers(self, k: int) -> builtins.list[Member]:
        node = self._node
        if node is None:
            return []
        me = node.local_member.name
        peers = [m for m in node.members() if m.name != me]
        return self._rng.sample(peers, min(k, len(peers)))

    def _has_peers(self) -> bool:
        return self._node is not None and self._node.num_members() > 1

    def _cluster_size(self) -> int:
        return self._node.num_members() if self._node is not None else 1

    # -- the Delegate hooks (called synchronously by the node) -------------------------------

    def notify_msg(self, message: bytes) -> None:
        if self._stopped:
            return
        counters = self._counters
        counters.received_broadcasts += 1
        counters.received_broadcasts_bytes += len(message)
        seen = self._seen
        if message in seen:  # the same change from another forwarder: merging it is a no-op
            counters.received_broadcasts_duplicate += 1
            return
        try:
            pair = decode_pair(self._unlabel(message), max_size=self.settings.max_message_bytes)
            command = self._decode(pair)
        except DecodeError as exc:
            counters.received_broadcasts_invalid += 1
            log.debug("kv: bad message: %s", exc)
            return
        if not self._inbox.put_network(command):
            counters.received_broadcasts_dropped += 1
            return  # not remembered: a later copy may still get in
        seen[message] = None
        if len(seen) > _SEEN_MESSAGES:
            del seen[next(iter(seen))]

    def get_broadcasts(self, overhead: int, limit: int) -> builtins.list[bytes]:
        if self._stopped:
            return []
        parts = self._queues.local.get_broadcasts(overhead, limit)
        used = sum(len(p) + overhead for p in parts)
        return parts + self._queues.gossip.get_broadcasts(overhead, limit - used)

    def local_state(self, join: bool) -> bytes:
        entries = self._state.entries
        if not entries:
            return b""
        pairs = [
            KeyValuePair(
                key, e.codec, b"" if e.deleted else e.encoded(self.codecs), e.deleted, e.updated_at
            )
            for key, e in entries.items()
        ]
        try:
            data = encode_state(pairs, max_size=self.settings.max_message_bytes)
        except ValueError as exc:
            log.warning("kv: push/pull state not sent: %s", exc)
            return b""
        self._counters.state_pulls += 1
        self._counters.state_pulls_bytes += len(data)
        return add_label(data, self.settings.label_bytes)

    def merge_remote_state(self, buf: bytes, join: bool) -> None:
        if self._stopped:
            return
        counters = self._counters
        try:
            pairs = decode_state(self._unlabel(buf), max_size=self.settings.max_message_bytes)
        except DecodeError as exc:
            counters.received_broadcasts_invalid += 1
            log.debug("kv: bad push/pull state: %s", exc)
            return
        counters.state_pushes += 1
        counters.state_pushes_bytes += len(buf)
        for pair in pairs:
            try:
                command = self._decode(pair)
            except DecodeError as exc:
                counters.received_broadcasts_invalid += 1
                log.debug("kv: bad value for %r in a push/pull state: %s", pair.key, exc)
                continue
            if not self._inbox.put_network(command):
                counters.received_broadcasts_dropped += 1

    def _unlabel(self, data: bytes) -> bytes:
        settings = self.settings
        return strip_label(data, settings.label_bytes,
                           verify=not settings.cluster_label_verification_disabled)  # fmt: skip

    def _decode(self, pair: KeyValuePair) -> Remote:
        value = None
        if pair.value or not pair.deleted:
            value = self.codecs.decode(pair.codec, pair.value)
        elif pair.codec not in self.codecs:
            raise DecodeError(f"unknown codec id {pair.codec!r}")
        return Remote(pair.key, pair.codec, value, pair.deleted, pair.updated_at)


@asynccontextmanager
async def open_kv(
    config: Config,
    *,
    codecs: Iterable[Codec[Any]],
    settings: KVSettings | None = None,
    transport: Transport | None = None,
    rng: random.Random | None = None,
    clock: Callable[[], float] | None = None,
) -> AsyncIterator[KVStore]:
    """A node with a KV store as its delegate, both running for the block (``kv.node`` is
    the node). The store stops first, so its last changes still go out; then the node
    leaves. `rng` seeds both (for replayable simulations)."""
    from trio_gossip.shell.memberlist import open_memberlist  # noqa: PLC0415 (floor 4 imports)

    kv_rng = random.Random(rng.getrandbits(64)) if rng is not None else None
    kv = KVStore(codecs, settings, rng=kv_rng, clock=clock)
    async with (
        open_memberlist(config, transport=transport, delegate=kv, rng=rng) as node,
        kv.running(node),
    ):
        yield kv
