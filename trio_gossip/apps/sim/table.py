"""The demo's member table and progress lines as plain text (a pipe, a log, a test).

Everything here is a function of the simulated state and time only, so the same seed prints
the same text.
"""

from __future__ import annotations

from collections.abc import Sequence

from trio_gossip.apps.sim.views import NodeView, Survey

TABLE_ROWS = 10  # nodes listed by name; the rest share a summary row


def legend(clock: str) -> str:
    """What a progress line says, for a run on ``clock`` ("simulated" or "real") time."""
    return (f"Each line: {clock} seconds since the start, phase, nodes whose view is complete\n"
            "  (every running node alive, every killed node dead), members seen per node,\n"
            "  nodes suspecting or holding a member dead.")  # fmt: skip


def progress_line(survey: Survey, now: float, phase: str) -> str:
    """The cluster in one line at simulated time ``now``."""
    low, high, median = survey.seen()
    seen = span([low, high])
    running = len(survey.running)
    return (f"t={now:7.2f}s  {phase:<10} complete views {survey.complete:3d}/{running}  "
            f"members seen {seen} (median {median:g})  "
            f"suspecting {survey.suspecting}  holding dead {survey.seeing_dead}")  # fmt: skip


def span(values: Sequence[int]) -> str:
    """``7`` if every value is 7, ``5-7`` if they range from 5 to 7, ``-`` if none."""
    if not values:
        return "-"
    low, high = min(values), max(values)
    return f"{low}" if low == high else f"{low}-{high}"


def rest_row(rest: Sequence[NodeView]) -> tuple[str, str, str, str, str]:
    """The summary row for the nodes not listed: label, alive, suspect, dead, complete."""
    running = [v for v in rest if v.running]
    complete = f"{sum(1 for v in running if v.complete)}/{len(running)}"
    if len(running) < len(rest):
        complete += f" ({len(rest) - len(running)} stopped)"
    alive = span([v.alive for v in running])
    suspect = span([v.suspect for v in running])
    dead = span([v.dead for v in running])
    return f"{len(rest)} more", alive, suspect, dead, complete


def table_lines(survey: Survey, rows: int = TABLE_ROWS) -> list[str]:
    """Alive, suspect and dead members per node: the first ``rows`` nodes by name, then one
    row for the rest (a single number when they all agree, else the range)."""
    views = survey.views
    rest = rest_row(views[rows:]) if len(views) > rows else None
    labels = [v.name for v in views[:rows]] + ([rest[0]] if rest else [])
    width = max(len(label) for label in [*labels, "node"]) + 2
    lines = [f"    {'node':<{width}}{'alive':>7}{'suspect':>9}{'dead':>7}  complete"]
    for v in views[:rows]:
        if not v.running:
            lines.append(f"    {v.name:<{width}}({v.status})")
            continue
        lines.append(f"    {v.name:<{width}}{v.alive:>7}{v.suspect:>9}{v.dead:>7}  "
                     f"{'yes' if v.complete else 'no'}")  # fmt: skip
    if rest is not None:
        label, alive, suspect, dead, complete = rest
        lines.append(f"    {label:<{width}}{alive:>7}{suspect:>9}{dead:>7}  {complete}")
    return lines
