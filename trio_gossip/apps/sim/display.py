"""The demo's view of a cluster: who sees whom in which state.

On a terminal, a grid (a row per node, a column per member it could know) is redrawn in place;
elsewhere (a pipe, a log, a test) each snapshot is one plain line of counts.
"""

from __future__ import annotations

import shutil
import statistics
from collections.abc import Sequence
from typing import TextIO

from trio_gossip.apps.sim.observe import NodeStatus, SimNode
from trio_gossip.wire.messages import NodeState

MAX_ROWS = 40
MAX_COLUMNS = 100

_CELL = {
    None: ".",
    NodeState.ALIVE: "o",
    NodeState.SUSPECT: "s",
    NodeState.DEAD: "X",
    NodeState.LEFT: "L",
}
_COLOUR = {"o": "32", "s": "33;1", "X": "31;1", "L": "34", ".": "2"}
LEGEND = ". unknown  o alive  s suspect  X dead  L left"


def _cell(state: NodeState | None, colour: bool) -> str:
    char = _CELL[state]
    return f"\x1b[{_COLOUR[char]}m{char}\x1b[0m" if colour else char


def view(sim: SimNode, subjects: Sequence[SimNode]) -> list[NodeState | None]:
    """How ``sim`` sees each subject (None: never heard of it)."""
    node = sim.memberlist
    states: list[NodeState | None] = []
    for subject in subjects:
        member = node.member(subject.name)
        states.append(member.state if member is not None else None)
    return states


def grid(nodes: Sequence[SimNode], *, colour: bool, rows: int = MAX_ROWS,
         columns: int = MAX_COLUMNS) -> list[str]:  # fmt: skip
    """One line per node (up to ``rows``): its counts, then its view of the first ``columns``
    members."""
    subjects = nodes[:columns]
    width = max(len(sim.name) for sim in nodes)
    lines = [f"{'node':<{width}}  alive susp dead | {LEGEND}"]
    for sim in nodes[:rows]:
        if sim.status == NodeStatus.KILLED or sim.node is None:
            gone = "(killed)" if sim.status == NodeStatus.KILLED else "(gone)"
            lines.append(f"{sim.name:<{width}}  {gone}")
            continue
        states = view(sim, subjects)
        counts = [
            sum(1 for s in states if s == k)
            for k in (NodeState.ALIVE, NodeState.SUSPECT, NodeState.DEAD)
        ]
        cells = "".join(_cell(s, colour) for s in states)
        lines.append(f"{sim.name:<{width}}  {counts[0]:5d} {counts[1]:4d} {counts[2]:4d} | {cells}")
    if len(nodes) > rows:
        lines.append(f"... and {len(nodes) - rows} more nodes")
    return lines


def summary_line(nodes: Sequence[SimNode], now: float, phase: str) -> str:
    """Counts over every running node's view, in one line."""
    running = [sim for sim in nodes if sim.running and sim.node is not None]
    n = len(running)
    seen = [sim.memberlist.num_members() for sim in running]
    full = sum(1 for count in seen if count == n)
    suspect = dead = 0
    for sim in running:
        for state in view(sim, nodes):
            suspect += state == NodeState.SUSPECT
            dead += state == NodeState.DEAD
    median = statistics.median(seen) if seen else 0
    return (f"t={now:7.2f}s  {phase:<10} complete views {full:3d}/{n}  members seen "
            f"min {min(seen, default=0)} median {median:g} max {max(seen, default=0)}  "
            f"suspect {suspect}  dead {dead}")  # fmt: skip


class Display:
    """Writes frames to ``out``: redrawn in place on a terminal, plain lines otherwise."""

    def __init__(self, out: TextIO, *, tty: bool) -> None:
        self.out = out
        self.tty = tty
        self.origin = 0.0  # the clock reading shown as t=0 (real time has an arbitrary base)
        self._drawn = 0
        self._last_grid: list[str] = []
        size = shutil.get_terminal_size()
        # Redrawing in place only works while the whole frame fits on the screen.
        self.rows = max(5, min(MAX_ROWS, size.lines - 6))
        self.columns = max(10, min(MAX_COLUMNS, size.columns - 30))

    def frame(self, nodes: Sequence[SimNode], now: float, phase: str, header: str) -> bool:
        """A live frame, only drawn on a terminal; False if it showed nothing new."""
        if not self.tty:
            return False
        grid_lines = grid(nodes, colour=True, rows=self.rows, columns=self.columns)
        lines = [header, summary_line(nodes, now - self.origin, phase), *grid_lines]
        changed = grid_lines != self._last_grid
        self._last_grid = grid_lines
        up = f"\x1b[{self._drawn}F" if self._drawn else ""
        self.out.write(up + "".join(f"{line}\x1b[K\n" for line in lines))
        self.out.flush()
        self._drawn = len(lines)
        return changed

    def milestone(self, nodes: Sequence[SimNode], now: float, phase: str, text: str) -> None:
        """A moment worth a line of its own in a log (ignored on a terminal, whose frames
        already show it)."""
        if self.tty:
            return
        self.out.write(f"{summary_line(nodes, now - self.origin, phase)}  | {text}\n")
        self.out.flush()

    def text(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()
