"""Where the demo's view of the cluster goes: a live table on a terminal, plain lines elsewhere.

On a terminal with rich installed, the member table (``live_table.py``) is redrawn in place and
milestones stay printed above it. Anywhere else (a pipe, a log, a test, a terminal without
rich) a progress line is printed every so many simulated seconds, a line per milestone, and
the member table (``table.py``) at the milestones that ask for it. Only simulated time decides
what the plain output holds, so one seed always prints the same text.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import TextIO

from trio_gossip.apps.sim.live_table import LiveTable, rich_available
from trio_gossip.apps.sim.observe import SimNode
from trio_gossip.apps.sim.table import progress_line, table_lines
from trio_gossip.apps.sim.views import Survey, survey

MIN_FRAME_GAP = 0.03  # wall seconds between two live frames...
FRAME_SHARE = 0.2  # ...or more, so that drawing them takes at most this share of the time


class Display:
    """Writes the demo's frames, progress lines and milestones to ``out``."""

    def __init__(self, out: TextIO, *, tty: bool) -> None:
        self.out = out
        self.tty = tty
        self.origin = 0.0  # the clock reading shown as t=0 (real time has an arbitrary base)
        self._live: LiveTable | None = None
        self._last_views: Survey | None = None
        self._drawn_at = -math.inf  # wall clock of the last live frame
        self._frame_gap = MIN_FRAME_GAP
        self._printed_at = -math.inf  # simulated time of the last plain line

    @property
    def live(self) -> bool:
        """True while frames are redrawn in place (a terminal, with rich installed)."""
        return self._live is not None

    def start(self) -> None:
        """Begin the live table if this is a terminal and rich is installed."""
        if self.tty and rich_available():
            self._live = LiveTable(self.out)

    def frame(self, nodes: Sequence[SimNode], now: float, phase: str, *,
              force: bool = False) -> bool:  # fmt: skip
        """Redraw the live table (if live); True if some view changed since the last one."""
        began = time.monotonic()
        if self._live is None or (not force and began - self._drawn_at < self._frame_gap):
            return False
        views = survey(nodes)
        changed = views != self._last_views
        self._last_views = views
        self._live.update(nodes, views, now - self.origin, phase)
        self._drawn_at = time.monotonic()
        self._frame_gap = max(MIN_FRAME_GAP, (self._drawn_at - began) / FRAME_SHARE)
        return changed

    def progress(self, nodes: Sequence[SimNode], now: float, phase: str, every: float) -> None:
        """A plain progress line if ``every`` simulated seconds passed since the last line."""
        if self._live is not None or now - self._printed_at < every - 1e-9:
            return
        self._line(progress_line(survey(nodes), now - self.origin, phase), now)

    def milestone(self, nodes: Sequence[SimNode], now: float, phase: str, text: str, *,
                  table: bool = False) -> None:  # fmt: skip
        """A moment worth a line of its own (and, in plain output, the table if ``table``)."""
        note = f"t={now - self.origin:7.2f}s  >> {text}"
        if self._live is not None:
            self._live.note(note)
            self.frame(nodes, now, phase, force=True)
            return
        views = survey(nodes)
        self.out.write(note + "\n")
        self._line(progress_line(views, now - self.origin, phase), now)
        if table:
            self.out.write("".join(f"{line}\n" for line in table_lines(views)))
            self.out.flush()

    def text(self, text: str = "") -> None:
        if self._live is not None:
            self._live.note(text)
            return
        self.out.write(text + "\n")
        self.out.flush()

    def close(self) -> None:
        """Leave the live table on the screen as it is and go back to plain writing."""
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _line(self, line: str, now: float) -> None:
        self.out.write(line + "\n")
        self.out.flush()
        self._printed_at = now
