"""The one writer task of a node: it alone runs the engine and stores the state.

It sleeps on the inbox until an event arrives or the earliest timer is due, hands the batch
(due timers first) to ``engine.handle_all``, stores the new snapshot, then carries the effects
out in order: datagrams to the transport, timers into its wheel, streams to short tasks whose
results come back through the inbox, events to watchers, answers to waiting callers.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import attrs
import trio

from trio_gossip.core.engine import effects as fx
from trio_gossip.core.engine.engine import handle_all
from trio_gossip.core.engine.events import Command, Event, ProbeSendFailed, Received
from trio_gossip.core.engine.probe import ack_can_wait
from trio_gossip.core.engine.receive import answer_ping_now, is_stale_gossip
from trio_gossip.core.engine.state import Context, EngineState
from trio_gossip.core.membership.member import MemberEvent
from trio_gossip.core.membership.state import Conflict, Refuted, SuspectTimedOut
from trio_gossip.shell.node.delegate import Delegates
from trio_gossip.shell.node.events import EventHub
from trio_gossip.shell.node.inbox import Inbox
from trio_gossip.shell.node.pending import Pending
from trio_gossip.shell.node.stats import IOCounters
from trio_gossip.shell.node.timers import Timers
from trio_gossip.transport.base import (
    Address,
    KeepsTime,
    SendsWithoutWaiting,
    Transport,
    TransportError,
)
from trio_gossip.wire.errors import DecodeError, GossipError
from trio_gossip.wire.messages import Ack, Alive, PacketMessage, Ping

if TYPE_CHECKING:
    from trio_gossip.shell.node.io_tasks import IOTasks
    from trio_gossip.shell.node.node_kv import NodeKV

log = logging.getLogger("trio_gossip")

BATCH = 256  # events handled per wake-up before other tasks get their turn



class Writer:
    """Owns a node's state. Everyone else reads ``state`` and puts events into ``inbox``."""

    def __init__(self, ctx: Context, transport: Transport, delegates: Delegates,
                 io: IOCounters, events: EventHub, *, kv: NodeKV | None = None
                 ) -> None:  # fmt: skip
        self.ctx = ctx
        self.kv = kv
        self.state = EngineState.initial(ctx.config.name, kv=ctx.kv is not None)
        self._wall = kv.now if kv is not None else None
        self.transport = transport
        self._nowait = transport if isinstance(transport, SendsWithoutWaiting) else None
        self.delegates = delegates
        self.io = io
        self.events = events
        self.inbox = Inbox(ctx.config.handoff_queue_depth)
        self.timers = Timers()
        self._pending: dict[int, Pending] = {}
        self._next_token = 0
        self._io_tasks: IOTasks | None = None
        # An ack the receive path set aside for the next probe tick (ack_can_wait): the
        # event, when it arrived, when it must be handled by; and the scope of the writer's
        # current wait, whose deadline the set-aside ack moves.
        self._acked: Received | None = None
        self._acked_at = 0.0
        self._acked_by = math.inf
        self._wait: trio.CancelScope | None = None
        # A transport that keeps time (the simulator's) fires our timers as alarms instead:
        # the due times of the alarms it holds for us (a heap: a moved deadline leaves its
        # old alarm to fire for nothing), whether the task is parked with nothing to do (an
        # alarm may then take the step itself), effects a step left to the task, and what
        # a step taken by an alarm raised, for the task to raise.
        self._clock = transport if isinstance(transport, KeepsTime) else None
        self._now = self._clock.now if self._clock is not None else trio.current_time
        self._alarms: list[float] = []
        self._idle = False
        self._stopped = False
        self._left: list[fx.Effect] = []
        self._failed: Exception | None = None

    # ---- for the API ---------------------------------------------------------------------

    @contextmanager
    def pending(self) -> Iterator[Pending]:
        """A fresh token and the rendezvous its answer (and finished broadcast) arrive at."""
        self._next_token += 1
        pending = Pending(self._next_token)
        self._pending[pending.token] = pending
        try:
            yield pending
        finally:
            del self._pending[pending.token]

    def submit(self, event: Event) -> None:
        self.inbox.put(event)

    def for_the_writer(self, messages: Sequence[PacketMessage], source: Address
                       ) -> Sequence[PacketMessage]:  # fmt: skip
        """The messages of a datagram that need the writer: pings answered at once and alive
        repeats (the engine's ``is_stale_gossip`` by the latest snapshot) stay out."""
        ctx, state = self.ctx, self.state
        kept: list[PacketMessage] | None = None
        for i, msg in enumerate(messages):
            kind = type(msg)
            handled = ((kind is Ping and self.answer_now(msg, source))  # type: ignore[arg-type]
                       or (kind is Alive and is_stale_gossip(ctx, state, msg))
                       or (kind is Ack and i == 0 and self.set_aside(msg, source)))  # type: ignore[arg-type]  # fmt: skip
            if handled:
                if kept is None:
                    kept = list(messages[:i])
            elif kept is not None:
                kept.append(msg)
        return messages if kept is None else kept

    def answer_now(self, ping: Ping, source: Address) -> bool:
        """Answer ``ping`` from the receive path when that changes no state (the engine's
        ``answer_ping_now`` decides), saving the writer a wake-up per probe at rest; False
        when the writer must answer (the caller puts the ping in the inbox)."""
        transport = self._nowait
        if transport is None:
            return False
        send = answer_ping_now(self.ctx, self.state, ping, source)
        if send is None:
            return False
        io = self.io
        for data in send.datagrams:
            try:
                if not transport.send_packet_nowait(send.to, data):
                    return False  # the socket would block: the writer waits for it
            except TransportError as exc:
                io.send_errors += 1
                log.debug("%s: ack to %s failed: %s", self.ctx.config.name, send.to, exc)
                return True
            io.packets_sent += 1
            io.bytes_sent += len(data)
        io.count_sent(send.kinds)
        return True

    def set_aside(self, ack: Ack, source: Address) -> bool:
        """Keep ``ack`` for the writer's next wake-up when it answers our direct probe and
        nothing else waits (the engine's ``ack_can_wait``): the probe timeout it makes moot
        is cancelled and a sleeping writer's deadline moved, so at rest a probe costs the
        writer one wake-up (the tick), not two. False: the inbox takes it."""
        if self._acked is not None or len(self.inbox):
            return False
        plan = ack_can_wait(self.state, ack.seq_no)
        if plan is None:
            return False
        by, moot = plan
        self.timers.cancel(moot)
        self._acked, self._acked_at, self._acked_by = Received(ack, source), self._now(), by
        if self._wait is not None:
            self._wait.deadline = min(self.timers.next_deadline(), by)
        elif self._clock is not None:
            self._arm(min(self.timers.next_deadline(), by))
        return True

    def close(self) -> None:
        """The node stopped: wake every caller still waiting for an answer."""
        for pending in self._pending.values():
            pending.set_answer(None, GossipError("the node stopped"))

    def _handle(self, events: Sequence[Event], now: float | None = None,
                earlier: tuple[float, Event] | None = None) -> list[fx.Effect]:  # fmt: skip
        wall = self._wall() if self._wall is not None else None
        now = self._now() if now is None else now
        self.state, effects = handle_all(self.ctx, self.state, now, events, wall=wall,
                                         earlier=earlier)  # fmt: skip
        return effects

    # ---- the task ------------------------------------------------------------------------

    async def step_now(self, command: Command) -> None:
        """Handle one command before the task runs (the first alive, at start-up)."""
        await self._carry_out(self._handle((command,)))

    async def run(self, io_tasks: IOTasks) -> None:
        """Sleep until an event arrives or the earliest timer is due, handle the batch (due
        timers first), carry out its effects; for ever. No clock task: the wait's own cancel
        scope carries the next deadline, so a timer costs one wake-up of this task."""
        self._io_tasks = io_tasks
        if self._clock is not None:
            try:
                await self._run_on_alarms()
            finally:
                self._stopped = True
        inbox = self.inbox
        clock = trio.current_time
        while True:
            if len(inbox):
                await trio.lowlevel.checkpoint()
            else:
                deadline = self._deadline()
                if deadline > clock():
                    with trio.CancelScope(deadline=deadline) as self._wait:
                        await inbox.wait()
                    self._wait = None
                else:
                    await trio.lowlevel.checkpoint()
            await self._step()

    async def _run_on_alarms(self) -> None:
        """``run`` when the transport keeps time: the task parks on the inbox alone and the
        next deadline is an alarm (``fire``), which takes the step itself while the task is
        parked with nothing else to do: a simulated node at rest then costs Trio nothing."""
        inbox = self.inbox
        clock = self._now
        while True:
            if len(inbox) or self._left or self._failed is not None:
                await trio.lowlevel.checkpoint()
            else:
                deadline = self._deadline()
                if deadline > clock():
                    self._arm(deadline)
                    self._idle = True
                    try:
                        await inbox.wait()
                    finally:
                        self._idle = False
                else:
                    await trio.lowlevel.checkpoint()
            if self._failed is not None:
                raise self._failed
            if self._left:
                left, self._left = self._left, []
                await self._carry_out(left)
            await self._step()

    async def _step(self) -> None:
        """One step: the set-aside ack (at the time it came, before anything else, in the
        same step: the engine fires the probe tick it arms), the due timers, then the inbox."""
        earlier = self._take_acked()
        now = self._now()
        batch: list[Event] = list(self.timers.pop_due(now))
        batch.extend(self.inbox.take(BATCH))
        if batch or earlier is not None:
            await self._carry_out(self._handle(batch, now, earlier))

    def _take_acked(self) -> tuple[float, Event] | None:
        """The set-aside ack with the time it came, for the next step (``earlier``)."""
        if self._acked is None:
            return None
        earlier = (self._acked_at, self._acked)
        self._acked, self._acked_by = None, math.inf
        return earlier

    def _deadline(self) -> float:
        """When the next step is due: the earliest timer, or the set-aside ack's."""
        return min(self.timers.next_deadline(), self._acked_by)

    def _arm(self, deadline: float) -> None:
        """Have the transport fire us at ``deadline`` unless an alarm comes sooner already."""
        alarms = self._alarms
        if deadline < math.inf and (not alarms or deadline < alarms[0]):
            heapq.heappush(alarms, deadline)
            assert self._clock is not None
            self._clock.call_at(deadline, self)

    def fire(self, now: float) -> None:
        """An alarm (``KeepsTime``): when the task is parked with nothing to do, take the due
        step here, without waking it; else wake it, and its next step takes the timers."""
        heapq.heappop(self._alarms)  # ours is the earliest: alarms fire in order
        if self._stopped:
            return
        deadline = self._deadline()
        if deadline > now:
            self._arm(deadline)  # fired for a deadline that moved: wait for the new one
            return
        if not self._idle or len(self.inbox) or self._left or self._failed is not None:
            self.inbox.poke()
            return
        earlier = self._take_acked()
        try:
            # ``now`` may be a rounding error past the network's time: the timers due by it
            # are due, and the engine steps at the network's time.
            left = self._carry_out_now(self._handle(self.timers.pop_due(now), None, earlier))
        except Exception as exc:  # the task raises it, as if it had taken the step
            self._failed = exc
            self.inbox.poke()
            return
        if left:
            self._left = left  # a datagram the socket would not take at once: the task waits
            self.inbox.poke()
        else:
            self._arm(self._deadline())

    async def _carry_out(self, effects: Sequence[fx.Effect]) -> None:
        left = self._carry_out_now(effects)
        while left:
            head = left[0]  # a Send whose next datagram must wait
            assert isinstance(head, fx.Send)
            await self._send(head)
            left = self._carry_out_now(left[1:])

    def _carry_out_now(self, effects: Sequence[fx.Effect]) -> list[fx.Effect]:
        """Carry out ``effects`` in order until a datagram cannot leave at once; what is left,
        starting with that datagram's Send (``_carry_out`` waits for it)."""
        for i, effect in enumerate(effects):
            if isinstance(effect, fx.Send):
                left = self._send_now(effect)
                if left:
                    left.extend(effects[i + 1 :])
                    return left
            elif isinstance(effect, fx.SetTimer):
                self.timers.set(effect.timer, effect.at)
            elif isinstance(effect, fx.CancelTimer):
                self.timers.cancel(effect.timer)
            elif isinstance(effect, fx.Answer):
                pending = self._pending.get(effect.token)
                if pending is not None:
                    pending.set_answer(effect.value, effect.error)
            elif isinstance(effect, fx.Finished):
                pending = self._pending.get(effect.token)
                if pending is not None:
                    pending.finished.set()
            elif isinstance(effect, MemberEvent):
                self._member_event(effect)
            elif isinstance(effect, fx.KeyChanged):
                if self.kv is not None:
                    self.kv.changed(effect.key)
            else:
                self._notify(effect)
        return []

    def _send_now(self, effect: fx.Send) -> list[fx.Effect]:
        """Send what the socket takes at once; empty when all left (or the send failed and its
        probe's failure was carried out), else what is left, starting with the rest of it."""
        nowait = self._nowait
        if nowait is None:
            return [effect]
        io = self.io
        for k, data in enumerate(effect.datagrams):
            try:
                sent = nowait.send_packet_nowait(effect.to, data)
            except TransportError as exc:
                return self._send_failed(effect, exc)
            if not sent:
                return [attrs.evolve(effect, datagrams=effect.datagrams[k:]) if k else effect]
            io.packets_sent += 1
            io.bytes_sent += len(data)
        io.count_sent(effect.kinds)
        return []

    def _send_failed(self, effect: fx.Send, exc: TransportError) -> list[fx.Effect]:
        self.io.send_errors += 1
        log.debug("%s: send to %s failed: %s", self.ctx.config.name, effect.to, exc)
        if effect.probe is None:
            return []
        return self._carry_out_now(self._handle((ProbeSendFailed(effect.probe),)))

    async def _send(self, effect: fx.Send) -> None:
        nowait = self._nowait
        for data in effect.datagrams:
            try:
                # A datagram the socket takes at once leaves without a trip through Trio's
                # scheduler: its socket sendto yields after every successful send, one more
                # wake-up of the loop per packet, a quarter of an idle agent's. Only a full
                # buffer (or a paused simulated host) waits.
                if nowait is None or not nowait.send_packet_nowait(effect.to, data):
                    await self.transport.send_packet(effect.to, data)
            except TransportError as exc:
                await self._carry_out(self._send_failed(effect, exc))
                return
            self.io.packets_sent += 1
            self.io.bytes_sent += len(data)
        self.io.count_sent(effect.kinds)

    def _member_event(self, event: MemberEvent) -> None:
        # Guarded: a join of n nodes makes n^2 of these, and the arguments cost more than the
        # call when debug logging is off.
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s: %s %s", self.ctx.config.name, event.member.name, event.kind.value)
        self.events.publish(event)
        if self.delegates.events is not None:
            self.delegates.events.notify_event(event)

    def _notify(self, effect: fx.Effect) -> None:
        name = self.ctx.config.name
        roles = self.delegates
        if isinstance(effect, fx.TcpPing | fx.PushPullWith | fx.SendStream):
            assert self._io_tasks is not None
            self._io_tasks.start(effect)
        elif isinstance(effect, fx.DeliverUser):
            if roles.messages is not None:
                try:
                    roles.messages.notify_msg(effect.payload)
                except DecodeError as exc:
                    self.io.bad_packets += 1
                    log.debug("%s: delegate refused a user message: %s", name, exc)
        elif isinstance(effect, fx.MergeUserState):
            if roles.state is not None:
                try:
                    roles.state.merge_remote_state(effect.state, effect.join)
                except DecodeError as exc:
                    self.io.bad_streams += 1
                    log.debug("%s: bad remote user state: %s", name, exc)
        elif isinstance(effect, fx.PingComplete):
            if roles.ping is not None:
                roles.ping.notify_ping_complete(effect.member, effect.rtt, effect.payload)
        elif isinstance(effect, fx.ProbeFailed):
            log.info("%s: suspect %s has failed, no acks received", name, effect.member.name)
        elif isinstance(effect, fx.TcpOnly):
            log.warning("%s: was able to connect to %s over TCP but UDP probes failed, network"
                        " may be misconfigured", name, effect.member.name)  # fmt: skip
        elif isinstance(effect, Conflict):
            log.warning("%s: conflicting address for %s: %s vs %s", name, effect.existing.name,
                        effect.existing.address, effect.other.address)  # fmt: skip
            if roles.conflict is not None:
                roles.conflict.notify_conflict(effect.existing, effect.other)
        elif isinstance(effect, SuspectTimedOut):
            log.info("%s: marking %s as failed, suspect timeout reached (%d peer confirmations)",
                     name, effect.node, effect.confirmations)  # fmt: skip
        elif isinstance(effect, Refuted):
            log.info("%s: refuting an accusation at incarnation %d (now %d)", name,
                     effect.accused_incarnation, effect.new_incarnation)  # fmt: skip
