"""The replicated KV store of a memberlist node (floor 4): a facade over the node's engine.

The store holds no state of its own: its entries are the ``kv`` part of the node's engine
state, and every write is a command to the node's one writer::

    kv = KVStore([RING_CODEC], KVSettings())
    async with open_memberlist(config, kv=kv) as node:
        await node.join(seeds)
        await kv.cas("ring", lambda ring: ...)

or, in one step, ``async with open_kv(config, codecs=[RING_CODEC]) as kv`` (``kv.node`` is
the node). Reads are the latest snapshot and never block; watches are fed from the engine's
``KeyChanged`` effects.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import attrs
import trio

from trio_gossip.core.engine.events import KVCas, KVDelete
from trio_gossip.core.engine.queue import KV_FORWARDED, KV_OWN, KV_STREAM
from trio_gossip.core.kv.codec import Codec, CodecRegistry
from trio_gossip.core.kv.entry import KVStatistics
from trio_gossip.core.kv.message import MessageFormat
from trio_gossip.core.kv.replica import KeyDeletedError, KVContext, Replica
from trio_gossip.core.kv.settings import KVSettings
from trio_gossip.shell.kv.client import KVClient
from trio_gossip.shell.kv.clock import default_clock
from trio_gossip.shell.kv.watch import KeyWatch, PrefixWatch, WatchHub
from trio_gossip.shell.memberlist import Memberlist, open_memberlist
from trio_gossip.wire.errors import GossipError

if TYPE_CHECKING:
    from trio_gossip.core.config import Config
    from trio_gossip.core.engine.queue import TransmitQueue
    from trio_gossip.core.membership.member import Member
    from trio_gossip.shell.node.delegate import Delegate, Delegates
    from trio_gossip.shell.node.events import EventHub
    from trio_gossip.shell.node.writer import Writer
    from trio_gossip.transport.base import Transport

V = TypeVar("V")

__all__ = ["KVStore", "KeyDeletedError", "open_kv", "packet_budget"]

_DRAIN_POLL = 0.25  # dskit polls its local queue at this pace on shutdown
_NO_REPLICA = Replica()


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


class ChangeObserver(Protocol):
    """Told of each changed key from the node's writer, after the watches (e.g. the
    `MessageHistory` of a status page). It must be quick and must not block."""

    def key_changed(self, key: str) -> None: ...

    def state_exchanged(self, payload: bytes, *, sent: bool, stream: bool = False) -> None:
        """A full KV state went out (``sent``) or came in: ``payload`` is a push/pull's user
        state (memberlist's LocalState and MergeRemoteState), or with ``stream`` a user message
        over a stream, which may be a state exchange."""
        ...


@attrs.define
class KVIO:
    """What the shell counts of the store's I/O (the engine counts the protocol)."""

    state_pulls: int = 0  # push/pull states we produced
    state_pulls_bytes: int = 0
    stream_sends: int = 0
    stream_send_failures: int = 0


class KVStore:
    """A node's replicated key-value store. Values are immutable `Mergeable` CRDTs.

    ``peer_filter``: which members run the KV (None: all of them). With a filter, KV traffic
    goes to those members only, never piggybacked on what every member receives (an agent
    beside Serf agents, which log an error for every byte of it).

    ``message_format``: how pairs and states look on the wire; None is our own msgpack
    format, ``core.dskit.kv_format.DSKIT_FORMAT`` is dskit's KeyValuePair protobuf.
    """

    def __init__(
        self,
        codecs: Iterable[Codec[Any]],
        settings: KVSettings | None = None,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] | None = None,
        peer_filter: Callable[[Member], bool] | None = None,
        message_format: MessageFormat | None = None,
    ) -> None:
        self.settings = settings = settings or KVSettings()
        self.codecs = CodecRegistry.of(codecs)
        self.peer_filter = peer_filter
        self.message_format = message_format
        self.io = KVIO()
        self._rng = rng or random.Random(os.urandom(16))
        self._clock = clock
        self._watches = WatchHub(settings.notify_interval)
        self.observer: ChangeObserver | None = None  # optional, off by default
        self._writer: Writer | None = None
        self._node: Memberlist | None = None
        self._stopped = False

    # ---- plugged into a node by open_memberlist ------------------------------------------

    def context(self, config: Config) -> KVContext:
        """What the node's engine needs to run this store."""
        return KVContext(self.codecs, self.settings, packet_budget(config), self.peer_filter,
                         self.message_format)  # fmt: skip

    def attach(self, writer: Writer, events: EventHub) -> None:
        if self._writer is not None or self._stopped:
            raise GossipError("a KV store runs once, on one node")
        self.now()  # pick the clock inside Trio
        self._writer, self._node = writer, Memberlist(writer, events)

    def detach(self) -> None:
        self._stopped = True
        self._watches.close()

    async def notify(self) -> None:
        if self.settings.notify_interval > 0:
            await self._watches.run_flusher()

    def stream_limit(self) -> int:
        return self.settings.max_concurrent_streams

    def changed(self, key: str) -> None:
        self._watches.changed(key)
        if self.observer is not None:
            self.observer.key_changed(key)

    def state_exchanged(self, payload: bytes, *, sent: bool, stream: bool = False) -> None:
        if self.observer is not None:
            self.observer.state_exchanged(payload, sent=sent, stream=stream)

    def counted(self, *, stream_sent: bool | None = None, state_bytes: int = 0) -> None:
        io = self.io
        if stream_sent is True:
            io.stream_sends += 1
        elif stream_sent is False:
            io.stream_send_failures += 1
        if state_bytes:
            io.state_pulls += 1
            io.state_pulls_bytes += state_bytes

    # ---- reading (the latest snapshot, never blocks) ------------------------------------

    @property
    def node(self) -> Memberlist:
        if self._node is None or self._stopped:
            raise GossipError("the KV store is not running")
        return self._node

    @property
    def running(self) -> bool:
        return self._node is not None and not self._stopped

    @property
    def replica(self) -> Replica:
        """The store's whole state right now: immutable, never half updated."""
        if self._writer is None:
            return _NO_REPLICA
        return self._writer.state.kv or _NO_REPLICA

    @property
    def transmit_queue(self) -> TransmitQueue | None:
        """The node's transmit queue right now (its KV lanes hold our changes waiting to go
        out); None before the store runs."""
        return self._writer.state.queue if self._writer is not None else None

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
        entry = self.replica.entries.get(key)
        return None if entry is None else entry.view()

    def list(self, prefix: str = "") -> list[str]:
        """Keys (not deleted) starting with `prefix`, sorted."""
        return sorted(k for k, e in self.replica.entries.items()
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
        replica = self.replica
        c = replica.counters
        queue = self._writer.state.queue if self._writer is not None else None
        io = self.io
        return KVStatistics(
            received_broadcasts=c.received_broadcasts,
            received_broadcasts_bytes=c.received_broadcasts_bytes,
            received_broadcasts_invalid=c.received_broadcasts_invalid,
            received_broadcasts_duplicate=c.received_broadcasts_duplicate,
            state_pushes=c.state_pushes,
            state_pushes_bytes=c.state_pushes_bytes,
            state_pulls=io.state_pulls,
            state_pulls_bytes=io.state_pulls_bytes,
            cas_attempts=c.cas_attempts,
            cas_successes=c.cas_successes,
            cas_failures=c.cas_failures,
            changes_applied=c.changes_applied,
            broadcasts_superseded=c.broadcasts_superseded,
            broadcasts_dropped=c.broadcasts_dropped,
            stream_sends=io.stream_sends,
            stream_send_failures=io.stream_send_failures,
            tombstones_removed=c.tombstones_removed,
            keys=len(replica.entries),
            local_queue=queue.lane_len(KV_OWN) if queue is not None else 0,
            gossip_queue=queue.lane_len(KV_FORWARDED) if queue is not None else 0,
            stream_queue=queue.lane_len(KV_STREAM) if queue is not None else 0,
            pending_notifications=self._watches.pending,
        )

    # ---- writing: commands to the node's writer -------------------------------------------

    async def cas(self, key: str, fn: Callable[[Any], Any], *, codec: str | None = None) -> Any:
        """Compare-and-swap: ``fn(current)`` returns the whole new value, or None to change
        nothing. Records missing from it become tombstones; only the change is gossiped.

        `fn` sees the tombstone-free value (None for a new key) and must not modify it (values
        are immutable anyway). It runs once, in the node's writer, so nothing changes the key
        between its read and its write: a CAS never conflicts. It must be quick and must not
        block; an exception it raises comes back here. `codec` is needed only to create a key
        when several codecs are registered. Returns the key's value afterwards.
        """
        writer = self._running_writer()
        with writer.pending() as pending:
            writer.submit(KVCas(pending.token, key, fn, codec))
            return await pending.answer()

    async def delete(self, key: str) -> bool:
        """Soft-delete `key` everywhere; False if it did not exist (or was deleted already)."""
        writer = self._running_writer()
        with writer.pending() as pending:
            writer.submit(KVDelete(pending.token, key))
            return bool(await pending.answer())

    def _running_writer(self) -> Writer:
        if self._writer is None or self._stopped:
            raise GossipError("the KV store is not running")
        return self._writer

    async def drain(self) -> None:
        """Give our own changes up to ``broadcast_timeout_for_local_updates_on_shutdown`` to
        go out (shielded: this runs on the way out)."""
        timeout = self.settings.broadcast_timeout_for_local_updates_on_shutdown
        with trio.CancelScope(shield=True):
            await self.wait_local_broadcasts(timeout or math.inf)

    async def wait_local_broadcasts(self, timeout: float = math.inf) -> bool:
        """Wait until our own changes have been sent as often as gossip sends anything (or
        there is nobody to send them to); False if `timeout` ran out first."""
        with trio.move_on_after(timeout):
            while True:
                queue = self._writer.state.queue if self._writer is not None else None
                if queue is None or not (queue.lane_len(KV_OWN) or queue.lane_len(KV_STREAM)):
                    return True
                if not self._has_peers():
                    return True
                await trio.sleep(_DRAIN_POLL)
        return False

    def _has_peers(self) -> bool:
        node = self._node
        if node is None:
            return False
        me = node.local_member.name
        accept = self.peer_filter
        return any(m.name != me and (accept is None or accept(m)) for m in node.members())


@asynccontextmanager
async def open_kv(
    config: Config,
    *,
    codecs: Iterable[Codec[Any]],
    settings: KVSettings | None = None,
    transport: Transport | None = None,
    delegate: Delegate | Delegates | None = None,
    rng: random.Random | None = None,
    clock: Callable[[], float] | None = None,
) -> AsyncIterator[KVStore]:
    """A node running a KV store, for the block (``kv.node`` is the node). On exit the
    store's last changes still go out, then the node leaves. `rng` seeds both (for
    replayable simulations)."""
    kv_rng = random.Random(rng.getrandbits(64)) if rng is not None else None
    kv = KVStore(codecs, settings, rng=kv_rng, clock=clock)
    async with open_memberlist(config, transport=transport, delegate=delegate, rng=rng, kv=kv):
        yield kv
