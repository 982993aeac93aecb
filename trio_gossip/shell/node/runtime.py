"""What one node's tasks share: config, transport, the latest snapshot, queues and counters."""

from __future__ import annotations

import logging
import math
import random
from collections import deque
from collections.abc import Callable

import trio

from trio_gossip.core.config import Config
from trio_gossip.core.membership.broadcast import TransmitLimitedQueue
from trio_gossip.core.membership.codec import COMPOUND_OVERHEAD, USER_MSG_OVERHEAD, Codec
from trio_gossip.core.membership.state import MembershipState
from trio_gossip.shell.node.commands import Command, HandoffReady
from trio_gossip.shell.node.delegate import Delegate
from trio_gossip.shell.node.events import EventHub
from trio_gossip.shell.node.stats import Counters
from trio_gossip.shell.node.timers import Timer, TimerQueue
from trio_gossip.transport.base import Address, Transport, TransportError
from trio_gossip.wire.messages import Alive, Dead, MessageType, Suspect, User

log = logging.getLogger("trio_gossip")

OUTBOX_DEPTH = 1024
MAX_INBOUND_PUSH_PULLS = 128

Handoff = Alive | Suspect | Dead | User
"""Network messages the state task handles later, off the receive path."""


class AckHandler:
    """Waits for the ack (and counts nacks) of one sequence number until it expires."""

    __slots__ = ("on_ack", "on_nack", "timer")

    def __init__(
        self,
        on_ack: Callable[[bytes | None, float], None],
        on_nack: Callable[[], None] | None,
    ) -> None:
        self.on_ack = on_ack
        self.on_nack = on_nack
        self.timer: Timer | None = None


class Runtime:
    """Shared by the tasks of one node. Only the state task assigns ``state``; everyone else
    reads it, and changes go through ``submit`` / ``request`` into the state task's inbox."""

    def __init__(
        self,
        config: Config,
        transport: Transport,
        delegate: Delegate | None,
        rng: random.Random,
    ) -> None:
        self.config = config
        self.transport = transport
        self.delegate = delegate
        # A delegate may declare ``sends_broadcasts = False`` (its get_broadcasts is always
        # empty): the gossip loop can then park while our own queue is empty.
        self.delegate_broadcasts = delegate is not None and bool(
            getattr(delegate, "sends_broadcasts", True)
        )
        self.rng = rng
        self.codec = Codec(config)
        self.state = MembershipState(config.name)
        self.queue = TransmitLimitedQueue(config.retransmit_mult, lambda: self.state.num_nodes)
        self.timers = TimerQueue()
        self.stats = Counters()
        self.events = EventHub()
        # Unbounded, so local commands never block; network gossip waits in the bounded
        # hand-off queues below and costs the inbox one HandoffReady at a time.
        self.inbox_send, self.inbox_recv = trio.open_memory_channel[Command](math.inf)
        # memberlist's two hand-off queues: alives (joins, refutations) before suspect, dead
        # and user messages, each newest first and each dropping past handoff_queue_depth.
        self.handoff_high: deque[Alive] = deque()
        self.handoff_low: deque[Suspect | Dead | User] = deque()
        self._handoff_signalled = False
        self.outbox_send, self.outbox_recv = trio.open_memory_channel[tuple[Address, bytes]](
            OUTBOX_DEPTH
        )
        self.acks: dict[int, AckHandler] = {}
        self._seq = 0
        self.advertise_addr = b""
        self.advertise_port = 0
        self.inbound_push_pulls = 0
        self.broadcast_ready = trio.Event()  # set when a broadcast is queued
        self.failed = False

    def next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        return self._seq

    def hook(self, name: str) -> Callable[..., object] | None:
        """An optional delegate hook, or None."""
        return getattr(self.delegate, name, None) if self.delegate is not None else None

    # ---- commands ----------------------------------------------------------------------

    def submit(self, command: Command) -> None:
        self.inbox_send.send_nowait(command)

    def state_task_idle(self) -> bool:
        """True while the state task is blocked on an empty inbox: no command is queued or
        already handed to it, so one submitted now would be the next thing it handles."""
        stats = self.inbox_send.statistics()
        return stats.current_buffer_used == 0 and stats.tasks_waiting_receive > 0

    def handoff(self, msg: Handoff) -> bool:
        """Queue a message from the network for the state task; False if its queue is full
        (the message is dropped and counted, as memberlist does)."""
        if isinstance(msg, Alive):
            high = self.handoff_high
            if len(high) >= self.config.handoff_queue_depth:
                self.stats.dropped_messages += 1
                return False
            high.append(msg)
        else:
            low = self.handoff_low
            if len(low) >= self.config.handoff_queue_depth:
                self.stats.dropped_messages += 1
                return False
            low.append(msg)
        if not self._handoff_signalled:
            self._handoff_signalled = True
            self.submit(HandoffReady())
        return True

    def take_handoff(self, limit: int) -> list[Handoff]:
        """Up to ``limit`` queued messages in the order to handle them: alives first, newest
        first (under load, fresh news beats stale). Signals again if some are left."""
        taken: list[Handoff] = []
        high, low = self.handoff_high, self.handoff_low
        while high and len(taken) < limit:
            taken.append(high.pop())
        while low and len(taken) < limit:
            taken.append(low.pop())
        if high or low:
            self.submit(HandoffReady())
        else:
            self._handoff_signalled = False
        return taken

    # ---- outgoing packets ----------------------------------------------------------------

    def get_broadcasts(self, overhead: int, limit: int) -> list[bytes]:
        """Our broadcasts first, then the delegate's in whatever space is left."""
        parts = self.queue.get_broadcasts(overhead, limit)
        if self.delegate is not None and self.delegate_broadcasts:
            avail = limit - sum(len(p) + overhead for p in parts)
            if avail > overhead + USER_MSG_OVERHEAD:
                user = self.delegate.get_broadcasts(overhead + USER_MSG_OVERHEAD, avail)
                parts.extend(bytes((MessageType.USER,)) + b for b in user)
        return parts

    def with_piggyback(self, message: bytes) -> list[bytes]:
        """Datagrams for ``message`` with as many queued broadcasts as fit behind it."""
        if not self.delegate_broadcasts and not len(self.queue):
            return self.codec.packets([message])  # nothing to add: skip the budget sums
        extra = self.get_broadcasts(COMPOUND_OVERHEAD, self.codec.piggyback_budget(len(message)))
        return self.codec.packets([message, *extra])

    async def send_packets(self, addr: Address, datagrams: list[bytes]) -> None:
        """Send now; raises TransportError (counted) when the local send fails."""
        for data in datagrams:
            try:
                await self.transport.send_packet(addr, data)
            except TransportError:
                self.stats.send_errors += 1
                raise
            self.stats.packets_sent += 1
            self.stats.bytes_sent += len(data)

    def send_soon(self, addr: Address, datagrams: list[bytes]) -> None:
        """Hand datagrams to the sender task without waiting (used from synchronous handlers)."""
        for data in datagrams:
            try:
                self.outbox_send.send_nowait((addr, data))
            except trio.WouldBlock:
                self.stats.send_errors += 1

    async def sender_task(self) -> None:
        async for addr, data in self.outbox_recv:
            try:
                await self.send_packets(addr, [data])
            except TransportError as exc:
                log.debug("%s: send to %s failed: %s", self.config.name, addr, exc)

    # ---- acks ----------------------------------------------------------------------------

    def expect_ack(
        self,
        seq: int,
        timeout: float | None,
        on_ack: Callable[[bytes | None, float], None],
        on_nack: Callable[[], None] | None = None,
    ) -> None:
        """Route the ack (and nacks) of ``seq`` to the callbacks until ``timeout``; with None,
        until the caller calls ``forget_ack`` (a probe round that ends at its own deadline
        anyway, so it needs no timer)."""
        handler = AckHandler(on_ack, on_nack)
        self.acks[seq] = handler
        if timeout is None:
            return

        def expire() -> None:
            if self.acks.get(seq) is handler:
                del self.acks[seq]

        handler.timer = self.timers.call_later(timeout, expire)

    def forget_ack(self, seq: int, on_ack: Callable[[bytes | None, float], None]) -> None:
        """Stop waiting for ``seq``'s ack, if the handler there is still ``on_ack``'s."""
        handler = self.acks.get(seq)
        if handler is not None and handler.on_ack == on_ack:
            del self.acks[seq]
            if handler.timer is not None:
                handler.timer.cancel()

    def deliver_ack(self, seq: int, payload: bytes | None) -> None:
        handler = self.acks.pop(seq, None)
        if handler is None:
            return  # late or unknown ack
        if handler.timer is not None:
            handler.timer.cancel()
        handler.on_ack(payload, trio.current_time())

    def deliver_nack(self, seq: int) -> None:
        handler = self.acks.get(seq)
        if handler is not None and handler.on_nack is not None:
            handler.on_nack()
