"""The delivery heap under MemoryNetwork: one task moves every packet and stream event.

Every packet and stream event becomes an entry (due, key, ...) in one heap per network, drained
by one pump task hosted by whichever transport is serving (or, when none is, by a task waiting
on a stream), so a packet costs a heap push and a pop, never a task.

The pump wakes on a grid of ``resolution`` seconds: each wake is a trip through Trio's
scheduler (tens of microseconds), and batching the deliveries that fall in one slot is what
makes a thousand simulated nodes affordable. A delivery is never early: it happens at the first
grid point at or after its due time (resolution 0: exactly at its due time).
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
    """A stream-side happening (a SYN arriving, bytes due) that the pump fires when due."""

    def fire(self, now: float) -> None: ...


# (due, key, destination, payload, source): a packet has a destination address and bytes; an
# event has destination None and an Event payload. The key (see MemoryTransport.next_key) is
# unique and breaks ties by sender, then by that sender's own order: never by the order in
# which Trio happened to run different nodes' tasks.
Entry = tuple[float, int, Address | None, bytes | Event, Address | None]


class DeliveryPump:
    """The heap and the pump; subclasses say what delivering a packet means."""

    def __init__(self, resolution: float) -> None:
        if not (isinstance(resolution, int | float) and 0 <= resolution <= 1):
            raise ConfigError(f"resolution must be in [0, 1] seconds, got {resolution!r}")
        self._resolution = float(resolution)
        self._heap: list[Entry] = []
        self._in_flight = 0
        self._pump_scope: trio.CancelScope | None = None
        # The sleeping pump's deadline; -inf while it is not asleep, so pushes leave it be.
        self._pump_wake = -math.inf
        self._pump_owned = False
        self._pump_lot = trio.lowlevel.ParkingLot()

    @property
    def resolution(self) -> float:
        return self._resolution

    def _deliver(self, key: int, addr: Address, data: bytes, src: Address) -> None:
        raise NotImplementedError

    def _push(self, due: float, key: int, dst: Address, data: bytes, src: Address) -> None:
        self._in_flight += 1
        heappush(self._heap, (due, key, dst, data, src))
        if due < self._pump_wake:
            self._wake_earlier(due)

    def _schedule(self, due: float, key: int, event: Event) -> None:
        heappush(self._heap, (due, key, None, event, None))
        if due < self._pump_wake:
            self._wake_earlier(due)

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
        slot = math.ceil(due / step)
        wake = slot * step
        return wake if wake >= due else (slot + 1) * step

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
        heap = self._heap
        while True:
            now = trio.current_time()
            while heap and heap[0][0] <= now:
                _, key, dst, payload, src = heappop(heap)
                if dst is None:
                    cast(Event, payload).fire(now)
                else:
                    self._in_flight -= 1
                    self._deliver(key, dst, cast(bytes, payload), cast(Address, src))
            wake = self._wake_time(heap[0][0]) if heap else math.inf
            with trio.CancelScope(deadline=wake) as scope:
                self._pump_scope = scope
                self._pump_wake = wake
                try:
                    await trio.sleep_forever()
                finally:
                    self._pump_scope = None
                    self._pump_wake = -math.inf
