"""One step of the engine under construction: the state so far and the effects so far.

A ``Step`` lives for one call of ``handle`` and is never shared, so the handlers can build
the new state in a local variable and list effects in order; what leaves the engine is the
frozen state and the effect list. The helpers here are the ones every handler needs: carry
out a membership rule's transition, queue a broadcast, send a message with piggybacked
gossip.
"""

from __future__ import annotations

import math
import operator
from typing import TYPE_CHECKING

import attrs
import immutables

from trio_gossip.core.engine.effects import Effect, Finished, Send, SetTimer
from trio_gossip.core.engine.events import Address, GossipTick, SuspicionTimeout
from trio_gossip.core.engine.queue import (
    KV_FORWARDED,
    KV_OWN,
    MEMBERLIST,
    TransmitQueue,
    retransmit_limit,
)
from trio_gossip.core.engine.state import Context, Counters, EngineState, ProbeRound, Waiter
from trio_gossip.core.membership.codec import COMPOUND_OVERHEAD, USER_MSG_OVERHEAD
from trio_gossip.core.membership.member import EventKind, MemberEvent
from trio_gossip.core.membership.reconnect import FailedMembers
from trio_gossip.core.membership.state import (
    AddressRefused,
    Broadcast,
    Conflict,
    MembershipState,
    Refuted,
    SuspicionTimer,
    Transition,
)
from trio_gossip.wire import encode_message
from trio_gossip.wire.messages import MessageType

if TYPE_CHECKING:
    from trio_gossip.core.kv.replica import Replica

_USER = bytes((MessageType.USER,))


_FIELDS = tuple(a.name for a in attrs.fields(EngineState))
_ALL = operator.attrgetter(*_FIELDS)  # every field at once, as a tuple, in field order


class Step:
    """The draft of the next state: one attribute per ``EngineState`` field, changed in
    place by the handlers, and turned into one new frozen state by ``finish`` (building a
    frozen value once per batch instead of once per field change)."""

    __slots__ = ("_counts", "_kv_counts", "_start", "ctx", "effects", "now", "wall", *_FIELDS)

    membership: MembershipState
    queue: TransmitQueue
    addr: bytes
    port: int
    seq: int
    probe: ProbeRound | None
    waiters: immutables.Map[int, Waiter]
    probe_tick: float
    gossip_tick: float
    gossip_idle: bool
    started: bool
    counters: Counters
    kv: Replica | None
    failed: FailedMembers
    learned: int
    unmerged: int
    caught_up: bool
    news_at: float
    caught_up_at: float
    unmerged_at: float
    gossip_quiet: bool

    def __init__(self, ctx: Context, state: EngineState, now: float, wall: float) -> None:
        self.ctx = ctx
        self.now = now  # the node's (Trio) clock: timers
        self.wall = wall  # wall-clock seconds: KV stamps, compared across nodes
        self.effects: list[Effect] = []
        self._start = state
        self._counts: dict[str, int] = {}
        self._kv_counts: dict[str, int] = {}
        for name, value in zip(_FIELDS, _ALL(state), strict=True):
            setattr(self, name, value)

    def finish(self) -> EngineState:
        """The new state (the old one itself if nothing changed)."""
        if self._counts:
            self.counters = self.counters.plus(self._counts)
            self._counts = {}
        if self._kv_counts and self.kv is not None:
            kv_counters = self.kv.counters
            self.kv = attrs.evolve(self.kv, counters=attrs.evolve(kv_counters, **{
                name: getattr(kv_counters, name) + n for name, n in self._kv_counts.items()
            }))  # fmt: skip
            self._kv_counts = {}
        start = self._start
        now = _ALL(self)
        if all(a is b for a, b in zip(now, _ALL(start), strict=True)):
            return start
        return EngineState(*now)

    def emit(self, effect: Effect) -> None:
        self.effects.append(effect)

    def count(self, **deltas: int) -> None:
        counts = self._counts
        for name, n in deltas.items():
            counts[name] = counts.get(name, 0) + n

    def count_kv(self, **deltas: int) -> None:
        counts = self._kv_counts
        for name, n in deltas.items():
            if n:
                counts[name] = counts.get(name, 0) + n

    def next_seq(self) -> int:
        self.seq = (self.seq + 1) & 0xFFFFFFFF
        return self.seq

    # ---- membership ------------------------------------------------------------------

    def set_membership(self, membership: MembershipState) -> None:
        self.membership = membership

    def apply(self, t: Transition, *, token: int | None = None) -> None:
        """Store a rule's new membership, then carry out its effects in order. ``token``
        marks the broadcast a local caller waits on (leave, metadata update)."""
        self.set_membership(t.state)
        for effect in t.effects:
            if isinstance(effect, Broadcast):
                self.broadcast(
                    encode_message(effect.message), name=effect.message.node,
                    token=token if effect.notify else None,
                )  # fmt: skip
            elif isinstance(effect, SuspicionTimer):
                if not effect.confirmation:
                    self.count(suspicions=1)
                self.emit(SetTimer(SuspicionTimeout(effect.node), effect.deadline))
            else:
                if isinstance(effect, MemberEvent):
                    # memberlist/state.go counts memberlist.msg.alive in aliveNode and
                    # memberlist.msg.dead in deadNode (dead and left) as they change a member.
                    dead = effect.kind in (EventKind.FAILED, EventKind.LEFT)
                    self.count(**{"dead_verdicts" if dead else "alive_verdicts": 1})
                    if self.ctx.config.reconnect_interval > 0:
                        self.failed = self.failed.note(effect, self.now)
                elif isinstance(effect, Conflict):
                    self.count(conflicts=1)
                elif isinstance(effect, Refuted):
                    self.count(refutations=1)
                elif isinstance(effect, AddressRefused):
                    self.count(cidr_refusals=1)
                    continue
                self.emit(effect)

    def note_learned(self, t: Transition, *, merged: bool = False) -> int:
        """Count the members ``t`` taught us (joins), for ``catch_up_push_pull``; ``merged``:
        ``t`` is a push/pull's merge, which covers what it taught."""
        taught = 0
        for effect in t.effects:
            if type(effect) is MemberEvent and effect.kind is EventKind.JOINED:
                taught += 1
        if taught:
            self.learned += taught
            self.news_at = self.now
            if not merged:
                if not self.unmerged:
                    self.unmerged_at = self.now
                self.unmerged += taught
        return taught

    # ---- the transmit queue ------------------------------------------------------------

    def broadcast(self, message: bytes, *, name: str | None, token: int | None = None) -> None:
        self.queue, finished = self.queue.push(message, name=name, token=token)
        self.count(broadcasts_queued=1)
        if finished is not None:
            self.emit(Finished(finished))
        self.wake_gossip()

    def take_broadcasts(self, overhead: int, limit: int) -> list[bytes]:
        """Queued memberlist broadcasts for one packet, then the application's, then the KV
        store's (unless it gossips to its own peers only) in the space left."""
        parts: list[bytes] = []
        if self.queue.lane_len(MEMBERLIST):
            limit_n = retransmit_limit(self.ctx.config.retransmit_mult,
                                       self.membership.num_nodes)  # fmt: skip
            taken = self.queue.take(overhead, limit, limit_n)
            self.queue = taken.queue
            for token in taken.finished:
                self.emit(Finished(token))
            parts = taken.messages
        hook = self.ctx.hooks.broadcasts
        if hook is not None:
            avail = limit - sum(len(p) + overhead for p in parts)
            if avail > overhead + USER_MSG_OVERHEAD:
                parts.extend(_USER + b for b in hook(overhead + USER_MSG_OVERHEAD, avail))
        kv = self.ctx.kv
        if kv is not None and kv.peer_filter is None and len(self.queue):
            parts.extend(self.take_kv(overhead, limit - sum(len(p) + overhead for p in parts)))
        return parts

    def kv_transmit_limit(self) -> int:
        """How often a KV change is sent (dskit: ``-memberlist.retransmit-factor`` times the
        same log of the cluster size as memberlist's own broadcasts)."""
        assert self.ctx.kv is not None
        factor = self.ctx.kv.settings.retransmit_factor
        return max(factor, retransmit_limit(factor, self.membership.num_nodes))

    def take_kv(self, overhead: int, limit: int) -> list[bytes]:
        """The KV store's own changes, then forwarded ones, for ``limit`` bytes of a packet
        (as user messages)."""
        limit_n = self.kv_transmit_limit()
        parts: list[bytes] = []
        for lane in (KV_OWN, KV_FORWARDED):
            avail = limit - sum(len(p) + overhead for p in parts)
            if avail <= overhead + USER_MSG_OVERHEAD:
                break
            taken = self.queue.take(overhead + USER_MSG_OVERHEAD, avail, limit_n, lane=lane)
            self.queue = taken.queue
            parts.extend(_USER + m for m in taken.messages)
        return parts

    def send(self, to: Address, message: bytes, *, pmax: int = 0, probe: int | None = None
             ) -> None:  # fmt: skip
        """``message`` with as many queued broadcasts behind it as the packet holds."""
        codec = self.ctx.codec
        if len(self.queue) or self.ctx.hooks.broadcasts is not None:
            extra = self.take_broadcasts(COMPOUND_OVERHEAD, codec.piggyback_budget(len(message)))
            if extra:
                parts = [message, *extra]
                self.emit(Send(to, tuple(codec.packets(parts, peer_pmax=pmax)), probe,
                               bytes([p[0] for p in parts])))  # fmt: skip
                return
        self.emit(Send(to, tuple(codec.packets([message], peer_pmax=pmax)), probe, message[:1]))

    def send_bare(self, to: Address, parts: list[bytes], *, pmax: int = 0,
                  probe: int | None = None) -> None:  # fmt: skip
        self.emit(Send(to, tuple(self.ctx.codec.packets(parts, peer_pmax=pmax)), probe,
                       bytes([p[0] for p in parts])))  # fmt: skip

    # ---- the gossip timer ------------------------------------------------------------

    def wake_gossip(self) -> None:
        """Something was queued: if the gossip timer sleeps for lack of news, arm it for the
        next tick of its grid, exactly when an idle ticker would have sent it."""
        if not self.gossip_idle:
            return
        interval = self.ctx.config.gossip_interval
        tick = self.gossip_tick
        if tick < self.now:
            tick += interval * math.ceil((self.now - tick) / interval)
        self.gossip_tick, self.gossip_idle = tick, False
        self.emit(SetTimer(GossipTick(), tick))

