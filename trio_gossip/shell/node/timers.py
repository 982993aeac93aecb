"""One task that runs many short timers (ack expiries, nacks, suspicion deadlines).

A task per timer would spawn tasks on the packet path; a heap in a single task costs
O(log n) per timer. The task sleeps in a cancel scope whose deadline tracks the earliest live
timer, so adding or cancelling a timer never wakes it up early, and a cancelled timer (most ack
expiries are) costs no wake-up at all.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable

import trio


class Timer:
    __slots__ = ("_queue", "callback", "cancelled", "when")

    def __init__(self, queue: TimerQueue, when: float, callback: Callable[[], None]) -> None:
        self._queue = queue
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        if not self.cancelled:
            self.cancelled = True
            self._queue._retarget()


class TimerQueue:
    """Call synchronous callbacks at Trio-clock deadlines (so MockClock drives them too)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()
        self._sleep = trio.CancelScope()

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(self, when, callback)
        heapq.heappush(self._heap, (when, next(self._order), timer))
        self._sleep.deadline = min(self._sleep.deadline, when)
        return timer

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return self.call_at(trio.current_time() + delay, callback)

    def _retarget(self) -> None:
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
        self._sleep.deadline = heap[0][0] if heap else math.inf

    async def run(self) -> None:
        while True:
            now = trio.current_time()
            heap = self._heap
            while heap and heap[0][0] <= now:
                _, _, timer = heapq.heappop(heap)
                if not timer.cancelled:
                    timer.cancelled = True  # fired: a late cancel() is a no-op
                    timer.callback()
            self._sleep = trio.CancelScope()
            self._retarget()
            with self._sleep:
                await trio.sleep_forever()
