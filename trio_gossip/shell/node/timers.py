"""The writer's timers: one deadline per timer key, on Trio's clock.

Timers are not tasks: the writer waits for its inbox in a cancel scope whose deadline is
``next_deadline()``, then takes the due timers with ``pop_due`` and feeds them to the engine.
Arming a key that is armed already moves it; the heap keeps stale entries and skips them.
"""

from __future__ import annotations

import heapq
import itertools
import math

from trio_gossip.core.engine.events import Timer


class Timers:
    def __init__(self) -> None:
        self._due: dict[Timer, float] = {}
        self._heap: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._due)

    def set(self, timer: Timer, at: float) -> None:
        self._due[timer] = at
        heapq.heappush(self._heap, (at, next(self._order), timer))

    def cancel(self, timer: Timer) -> None:
        self._due.pop(timer, None)

    def next_deadline(self) -> float:
        heap, due = self._heap, self._due
        while heap:
            at, _, timer = heap[0]
            if due.get(timer) == at:
                return at
            heapq.heappop(heap)  # moved or cancelled
        return math.inf

    def pop_due(self, now: float) -> list[Timer]:
        fired: list[Timer] = []
        heap, due = self._heap, self._due
        while heap and heap[0][0] <= now:
            at, _, timer = heapq.heappop(heap)
            if due.get(timer) == at:
                del due[timer]
                fired.append(timer)
        return fired
