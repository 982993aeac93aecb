"""The one channel into a node's writer task.

Receive tasks, stream handlers, finished I/O and API calls put events here; only the writer
takes them out. memberlist's behaviour under overload is a property of this channel: probe
traffic (pings, acks, nacks, indirect pings) is handled first, as Go handles it inline on the
packet path; then gossip waits in two bounded lanes (net.go, handleCommand: alive messages in
the high-priority hand-off queue, suspect, dead and user messages in the low one), each taken
newest first and dropping past ``handoff_queue_depth``, so under load fresh news beats stale.
Local events (commands, timers' I/O results) are never dropped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

import trio

from trio_gossip.core.engine.events import Address, Event, Received
from trio_gossip.wire.messages import Ack, Alive, IndirectPing, Nack, PacketMessage, Ping

_PROBE_TRAFFIC = (Ping, Ack, Nack, IndirectPing)
_PROBE_TYPES = frozenset(_PROBE_TRAFFIC)


class Inbox:
    def __init__(self, handoff_depth: int) -> None:
        self._depth = handoff_depth
        self._local: deque[Event] = deque()
        self._probe: deque[Event] = deque()
        self._high: deque[Event] = deque()
        self._low: deque[Event] = deque()
        self._lot = trio.lowlevel.ParkingLot()
        self._poked = False
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._local) + len(self._probe) + len(self._high) + len(self._low)

    def put(self, event: Event) -> None:
        """A local event: never dropped."""
        self._local.append(event)
        self._wake()

    def put_received(self, message: PacketMessage, source: Address) -> bool:
        """A message from the network; False if its lane is full (dropped and counted)."""
        if isinstance(message, _PROBE_TRAFFIC):
            lane = self._probe
        elif isinstance(message, Alive):
            lane = self._high
        else:
            lane = self._low
        if len(lane) >= self._depth:
            self.dropped += 1
            return False
        lane.append(Received(message, source))
        self._wake()
        return True

    def put_packet(self, messages: Iterable[PacketMessage], source: Address) -> int:
        """The messages of one datagram, in order, with one wake-up; how many were dropped.
        (``put_received`` for each, without its per-message calls: a join delivers hundreds
        of thousands of messages.)"""
        depth = self._depth
        probe, high, low = self._probe, self._high, self._low
        dropped = put = 0
        for message in messages:
            kind = type(message)
            lane = high if kind is Alive else probe if kind in _PROBE_TYPES else low
            if len(lane) >= depth:
                dropped += 1
            else:
                lane.append(Received(message, source))
                put += 1
        self.dropped += dropped
        if put and self._lot:  # nothing new (all answered or dropped): let the writer sleep
            self._lot.unpark_all()
        return dropped

    def take(self, limit: int) -> list[Event]:
        """Up to ``limit`` events in the order to handle them."""
        taken: list[Event] = []
        local, probe, high, low = self._local, self._probe, self._high, self._low
        while local and len(taken) < limit:
            taken.append(local.popleft())
        while probe and len(taken) < limit:
            taken.append(probe.popleft())
        while high and len(taken) < limit:
            taken.append(high.pop())
        while low and len(taken) < limit:
            taken.append(low.pop())
        return taken

    def poke(self) -> None:
        """End the current (or next) ``wait`` though nothing was put: a timer came due."""
        self._poked = True
        self._wake()

    async def wait(self) -> None:
        """Until something is put or ``poke`` is called (a caller whose timers nobody pokes
        for bounds the wait with its next deadline)."""
        while not len(self) and not self._poked:
            await self._lot.park()
        self._poked = False

    def _wake(self) -> None:
        if self._lot:
            self._lot.unpark_all()
