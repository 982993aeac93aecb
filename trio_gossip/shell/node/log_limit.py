"""Log a repeated network complaint once, then as a count.

A peer with the wrong key or label sends every packet wrong; a line per packet would bury the
log (memberlist logs one per packet in net.go handleCommand, which is what Serf users learn to
grep past). Here the first complaint of each (reason, peer) is logged as it comes, the repeats
are counted, and at most once per ``interval`` a summary says "... N more times in the last
T s". Time is Trio's clock, so ``trio.testing.MockClock`` drives it in tests. The node's
counters (``statistics()``) still count every one: this limits lines, not accounting.
"""

from __future__ import annotations

import logging

import attrs
import trio

LOG_INTERVAL = 60.0  # seconds between summaries of one (reason, peer)
MAX_KEYS = 1024  # distinct (reason, peer) pairs remembered; a hostile peer can vary both


@attrs.define
class _Window:
    level: int
    what: str  # the first line, repeated in the summary so it reads on its own
    start: float
    repeats: int = 0


class LogLimiter:
    """First occurrence per key at once, then one summary per ``interval``; ``run`` writes the
    summaries that are due when no further complaint arrives to trigger them."""

    def __init__(self, logger: logging.Logger, *, interval: float = LOG_INTERVAL,
                 max_keys: int = MAX_KEYS) -> None:  # fmt: skip
        self.logger = logger
        self.interval = interval
        self.max_keys = max_keys
        self._windows: dict[tuple[str, str], _Window] = {}
        self._pending = trio.Event()  # set while some window holds uncounted repeats

    def log(self, level: int, reason: str, peer: str, message: str) -> None:
        """Log ``message`` unless (``reason``, ``peer``) was logged within the interval, in
        which case it is only counted towards the next summary."""
        now = trio.current_time()
        key = (reason, peer)
        window = self._windows.get(key)
        if window is None:
            if len(self._windows) >= self.max_keys:
                self._forget_quiet(now)
            if len(self._windows) >= self.max_keys:
                self.logger.debug("%s", message)  # table full: a flood of distinct keys
                return
            self._windows[key] = _Window(level, message, now)
            self.logger.log(level, "%s", message)
            return
        window.repeats += 1
        self._pending.set()
        if now - window.start >= self.interval:
            self._summarise(key, window, now)

    def flush(self) -> None:
        """Write the summaries that are due; forget keys quiet for a whole interval."""
        now = trio.current_time()
        for key, window in list(self._windows.items()):
            if now - window.start >= self.interval:
                self._summarise(key, window, now)
        if not any(w.repeats for w in self._windows.values()):
            self._pending = trio.Event()

    def next_due(self) -> float:
        """When the earliest summary with repeats falls due (inf when none)."""
        due = [w.start + self.interval for w in self._windows.values() if w.repeats]
        return min(due, default=float("inf"))

    async def run(self) -> None:
        """Write summaries as they fall due; asleep (no wake-ups) while nothing repeats."""
        while True:
            await self._pending.wait()
            due = self.next_due()
            if due == float("inf"):  # log() wrote the summaries itself
                self._pending = trio.Event()
                continue
            await trio.sleep_until(due)
            self.flush()

    def _forget_quiet(self, now: float) -> None:
        """Drop keys with nothing to summarise and an interval old: their next one is news."""
        for key, window in list(self._windows.items()):
            if not window.repeats and now - window.start >= self.interval:
                del self._windows[key]

    def _summarise(self, key: tuple[str, str], window: _Window, now: float) -> None:
        if window.repeats == 0:
            del self._windows[key]  # quiet for an interval: the next one is news again
            return
        self.logger.log(window.level, "%s ... %d more times in the last %.0f s", window.what,
                        window.repeats, now - window.start)  # fmt: skip
        window.start = now
        window.repeats = 0
