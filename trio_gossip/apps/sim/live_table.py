"""The demo's member table on a terminal, redrawn in place with rich (when it is installed:
the ``bench`` and ``test`` extras bring it; without it the demo prints plain lines)."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from trio_gossip.apps.sim.observe import SimNode
from trio_gossip.apps.sim.table import progress_line, rest_row
from trio_gossip.apps.sim.views import Survey, view
from trio_gossip.wire.messages import NodeState

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table
    from rich.text import Text

MAX_ROWS = 30
MAX_CELLS = 100
_CELL = {
    None: ("·", "dim"),
    NodeState.ALIVE: ("o", "green"),
    NodeState.SUSPECT: ("s", "bold yellow"),
    NodeState.DEAD: ("X", "bold red"),
    NodeState.LEFT: ("L", "blue"),
}
CELL_LEGEND = "· unknown, o alive, s suspect, X dead, L left"


def rich_available() -> bool:
    return importlib.util.find_spec("rich") is not None


class LiveTable:
    """A progress line and the member table, redrawn on each ``update`` until ``stop``."""

    def __init__(self, out: TextIO) -> None:
        from rich.console import Console  # noqa: PLC0415 (optional, and slow to import)
        from rich.live import Live  # noqa: PLC0415

        self.console: Console = Console(file=out, force_terminal=True, highlight=False)
        self._live: Live = Live(console=self.console, auto_refresh=False, transient=False,
                                redirect_stdout=False, redirect_stderr=False)  # fmt: skip
        self._live.start()

    def update(self, nodes: Sequence[SimNode], survey: Survey, now: float, phase: str) -> None:
        from rich.console import Group  # noqa: PLC0415
        from rich.text import Text  # noqa: PLC0415

        line = Text(progress_line(survey, now, phase), style="bold")
        table, shown = self._table(nodes, survey)
        legend = Text(f"view: how each node sees the first {shown} nodes ({CELL_LEGEND})",
                      style="dim")  # fmt: skip
        self._live.update(Group(line, table, legend), refresh=True)

    def note(self, text: str) -> None:
        """A line that stays, printed above the table."""
        self.console.print(text, markup=False, highlight=False)

    def stop(self) -> None:
        self._live.stop()

    def _table(self, nodes: Sequence[SimNode], survey: Survey) -> tuple[Table, int]:
        from rich import box  # noqa: PLC0415
        from rich.table import Table  # noqa: PLC0415
        from rich.text import Text  # noqa: PLC0415

        rows = max(5, min(MAX_ROWS, self.console.height - 12))
        subjects = nodes[: max(10, min(MAX_CELLS, self.console.width - 60))]
        table = Table(box=box.SIMPLE_HEAD)
        for name in ("node", "alive", "suspect", "dead", "complete"):
            table.add_column(name, justify="left" if name == "node" else "right")
        table.add_column("view", no_wrap=True, overflow="crop")
        for sim, v in zip(nodes[:rows], survey.views[:rows], strict=True):
            if not v.running:
                table.add_row(v.name, Text(v.status, style="red"), style="dim")
                continue
            cells = Text()
            for state in view(sim, subjects):
                char, style = _CELL[state]
                cells.append(char, style=style)
            done = Text("yes", style="green") if v.complete else Text("no", style="yellow")
            table.add_row(v.name, str(v.alive), _count(v.suspect, "yellow"),
                          _count(v.dead, "red"), done, cells)  # fmt: skip
        if len(survey.views) > rows:
            table.add_row(*rest_row(survey.views[rows:]), style="italic")
        return table, len(subjects)


def _count(value: int, style: str) -> Text:
    from rich.text import Text  # noqa: PLC0415

    return Text(str(value), style=style if value else "")
