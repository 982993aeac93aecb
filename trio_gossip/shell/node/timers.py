"""The writer's timer wheel: one deadline per timer key, on Trio's clock.

Timers are not tasks. One clock task sleeps in a single long-lived cancel scope whose deadline
tracks the earliest live timer: arming or cancelling a timer only moves that deadline (no
task switch, no new scope), and when it passes the clock task wakes the writer through its
inbox. The writer then takes the due timers with ``pop_due`` and feeds them to the engine.
Arming a key that is armed already moves it; the heap keeps stale entries and skips them.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable

import trio

from trio_gossip.core.engine.events import Timer


class Timers:
    def __init__(self) -> None:
        self._due: dict[Timer, float] = {}
        self._heap: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()
        self._sleep = trio.CancelScope()
        self._taken = trio.Event()  # set whenever the writer has taken the due timers

    def __len__(self) -> int:
        return len(self._due)

    def set(self, timer: Timer, at: float) -> None:
        self._due[timer] = at
        heapq.heappush(self._heap, (at, next(self._order), timer))
        self._sleep.deadline = min(self._sleep.deadline, at)

    def cancel(self, timer: Timer) -> None:
        at = self._due.pop(timer, None)
        if at is not None and at <= self._sleep.deadline:
            self._sleep.deadline = self.next_deadline()

    def next_deadline(self) -> float:
        heap, due = self._heap, self._due
        while heap:
            at, _, timer = heap[0]
            if due.get(timer) == at:
                return at
            heapq.heappop(heap)  # moved or cancelled
        return math.inf

    def pop_due(self, now: float) -> list[Timer]:
        self._taken.set()
        fired: list[Timer] = []
        heap, due = self._heap, self._due
        while heap and heap[0][0] <= now:
            at, _, timer = heapq.heappop(heap)
            if due.get(timer) == at:
                del due[timer]
                fired.append(timer)
        return fired

    async def run(self, wake: Callable[[], None]) -> None:
        """The clock task: call ``wake`` whenever the earliest timer is due, then wait until
        the writer has taken the due timers (it may be busy sending) before sleeping again."""
        while True:
            if self.next_deadline() <= trio.current_time():
                self._taken = trio.Event()
                wake()
                await self._taken.wait()
                continue
            self._sleep = trio.CancelScope(deadline=self.next_deadline())
            with self._sleep:
                await trio.sleep_forever()
