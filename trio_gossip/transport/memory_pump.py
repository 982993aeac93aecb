"""The delivery heap under MemoryNetwork: one task moves every packet and stream event.

Every packet and stream event becomes an entry (due, key, ...) in one heap per network, drained
by one pump task hosted by whichever transport is serving (or, when none is, by a task waiting
on a stream), so a packet costs a heap push and a pop, never a task.

The pump wakes on a grid of ``resolution`` seconds: each wake is a trip through Trio's
scheduler (tens of microseconds), and batching the deliveries that fall in one slot is what
makes a thousand simulated nodes affordable. A delivery is never early: it happens at the first
grid point at or after its due time (resolution 0: exactly at its due time), a due time a
rounding error past a grid point counting as on it (a packet sent on the grid over a link of
whole milliseconds would otherwise arrive a millisecond late half the time).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from heapq import heappop, heappush
from typing import Protocol, cast

import trio

from trio_gossip.wire.errors import ConfigError

from .base import Address


class Event(Protocol):
    """A stream-side happening (a SYN arriving, bytes due) or a host's alarm that the pump
    fires when due, with ``now`` the end of the current slot: whatever is due by it is due."""

    def fire(self, now: float) -> None: ...


# (at, due, key, destination, payload, source): a packet has a destination address and bytes;
# an event has destination None and an Event payload. ``at`` is when it happens: a packet or a
# stream event at the first grid point at or after its due time, a host's alarm at its due time
# itself. The key (see MemoryTransport.next_key) is unique and breaks ties by sender, then by
# that sender's own order: never by the order in which Trio happened to run different nodes'
# tasks.
Entry = tuple[float, float, int, Address | None, bytes | Event, Address | None]


class DeliveryPump:
    """The heap and the pump; subclasses say what delivering a packet means."""

    def __init__(self, resolution: float) -> None:
        if not (isinstance(resolution, int | float) and 0 <= resolution <= 1):
            raise ConfigError(f"resolution must be in [0, 1] seconds, got {resolution!r}")
        self._resolution = float(resolution)
        # How far past a grid point a due time may be and still belong to it: float noise.
        self._slack = self._resolution * 1e-6
        self._heap: list[Entry] = []
        self._in_flight = 0
        self._pump_scope: trio.CancelScope | None = None
        # The sleeping pump's deadline; -inf while it is not asleep, so pushes leave it be.
        self._pump_wake = -math.inf
        self._pump_owned = False
        self._pump_lot = trio.lowlevel.ParkingLot()
        # While the pump hands out an entry: that entry's time (``now``).
        self._now: float | None = None

    @property
    def resolution(self) -> float:
        return self._resolution

    def now(self) -> float:
        """The network's time: Trio's clock, except while the pump hands out an alarm, whose
        own time it is (the pump runs on the grid, the alarms it fires keep exact time)."""
        now = self._now
        return trio.current_time() if now is None else now

    def _deliver(self, key: int, addr: Address, data: bytes, src: Address) -> None:
        raise NotImplementedError

    def _push(self, due: float, key: int, dst: Address, data: bytes, src: Address) -> None:
        self._in_flight += 1
        at = self._wake_time(due)
        heappush(self._heap, (at, due, key, dst, data, src))
        if at < self._pump_wake:
            self._wake_earlier(at)

    def _schedule(self, due: float, key: int, event: Event) -> None:
        self._enqueue(self._wake_time(due), due, key, event)

    def _schedule_alarm(self, due: float, key: int, alarm: Event) -> None:
        """``alarm.fire`` at ``due`` exactly, in the network's time (``now``): the pump wakes
        on its grid, and fires the alarms due since its last wake first, each at its time,
        before the packets due on the grid point, as the hosts' own timers would have."""
        self._enqueue(due, due, key, alarm)

    def _enqueue(self, at: float, due: float, key: int, event: Event) -> None:
        heappush(self._heap, (at, due, key, None, event, None))
        if at < self._pump_wake:
            self._wake_earlier(at)

    def _wake_earlier(self, due: float) -> None:
        # Only touch the deadline when it moves: setting it re-registers the scope.
        wake = self._wake_time(due)
        if wake < self._pump_wake and self._pump_scope is not None:
            self._pump_scope.deadline = wake
            self._pump_wake = wake

    def _wake_time(self, due: float) -> float:
        step = self._resolution
        if not step:
            return due
        return math.ceil(due / step - 1e-6) * step

    async def pumped(self, wait: Callable[[], Awaitable[object]]) -> None:
        """Await ``wait()`` while offering to drive the pump, so a dialer or a stream reader
        is not stuck when no transport is serving (nobody else would move the heap)."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._pump_worker)
            await wait()
            nursery.cancel_scope.cancel()

    async def _pump_worker(self) -> None:
        """Run inside every serving transport; one at a time drives the heap, the rest wait
        to take over when that transport stops serving."""
        while True:
            if self._pump_owned:
                await self._pump_lot.park()
                continue
            self._pump_owned = True
            try:
                await self._pump()
            finally:
                self._pump_owned = False
                self._pump_lot.unpark()

    async def _pump(self) -> None:
        heap, slack = self._heap, self._slack
        while True:
            limit = trio.current_time() + slack
            try:
                while heap and heap[0][0] <= limit:
                    at, _, key, dst, payload, src = heappop(heap)
                    self._now = at
                    if dst is None:
                        # What is due by ``at`` is due (a rounding error past it included).
                        cast(Event, payload).fire(at + slack)
                    else:
                        self._in_flight -= 1
                        self._deliver(key, dst, cast(bytes, payload), cast(Address, src))
            finally:
                self._now = None
            wake = self._wake_time(heap[0][0]) if heap else math.inf
            with trio.CancelScope(deadline=wake) as scope:
                self._pump_scope = scope
                self._pump_wake = wake
                try:
                    await trio.sleep_forever()
                finally:
                    self._pump_scope = None
                    self._pump_wake = -math.inf
