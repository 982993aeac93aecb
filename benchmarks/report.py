"""Figures and progress bars for the benchmarks (the ``bench`` extra: matplotlib, rich).

Both libraries are imported inside the functions, so ``--help`` stays fast and a benchmark
still runs without them: it then skips the PNG (with a note on stderr) or the progress bar.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

RESULTS = Path(__file__).resolve().parent / "results"

T = TypeVar("T")


def _pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (files only, no display), or None."""
    try:
        import matplotlib  # noqa: PLC0415 (slow to import: kept out of --help's way)

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no PNG", file=sys.stderr)
        return None
    return plt


def _save(plt: Any, fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"(plot: {path.name})", file=sys.stderr)
    return path


def _number(value: float | None) -> float:
    return math.nan if value is None else float(value)


def plot_bars(
    path: Path,
    labels: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    title: str,
    value_label: str,
    horizontal: bool = True,
    log: bool = False,
    refs: Mapping[str, float] | None = None,
) -> Path | None:
    """Grouped bars: one group per label, one bar per series; ``refs`` draws dashed lines
    at named values (goals, formulas). Returns the PNG's path, or None without matplotlib."""
    plt = _pyplot()
    if plt is None:
        return None
    groups = len(labels)
    width = 0.8 / max(len(series), 1)
    size = (9, 1.2 + 0.45 * groups * max(1, len(series) // 2)) if horizontal else (8, 4.5)
    fig, ax = plt.subplots(figsize=size)
    for k, (name, values) in enumerate(series.items()):
        where = [i - 0.4 + width * (k + 0.5) for i in range(groups)]
        heights = [_number(v) for v in values]
        if horizontal:
            ax.barh(where, heights, height=width, label=name)
        else:
            ax.bar(where, heights, width=width, label=name)
    positive = all(_number(v) > 0 for values in series.values() for v in values)
    scale = "log" if positive else "symlog"  # symlog: zero bars stay drawable
    for n, (name, value) in enumerate((refs or {}).items()):
        line = ax.axvline if horizontal else ax.axhline
        line(value, color=f"C{len(series) + n}", linestyle="--", linewidth=1, label=name)
    if horizontal:
        ax.set_yticks(range(groups), labels)
        ax.invert_yaxis()
        ax.set_xlabel(value_label)
        if log:
            ax.set_xscale(scale)
    else:
        ax.set_xticks(range(groups), labels)
        ax.set_ylabel(value_label)
        if log:
            ax.set_yscale(scale)
    ax.set_title(title)
    if len(series) > 1 or refs:
        ax.legend(fontsize="small")
    return _save(plt, fig, path)


def plot_lines(
    path: Path,
    series: Mapping[str, tuple[Sequence[float], Sequence[float | None]]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    logx: bool = False,
    logy: bool = False,
    marks: Mapping[str, float] | None = None,
    steps: bool = False,
) -> Path | None:
    """One line per series, each its own (xs, ys); ``marks`` draws dashed vertical lines at
    named x values; ``steps`` draws step functions (CDFs). Returns the PNG's path, or None."""
    plt = _pyplot()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, (xs, ys) in series.items():
        values = [_number(y) for y in ys]
        if steps:
            ax.step(xs, values, where="post", label=name)
        else:
            ax.plot(xs, values, marker="o", label=name)
    for n, (name, x) in enumerate((marks or {}).items()):
        ax.axvline(x, color=f"C{n % 10}", linestyle="--", linewidth=1, label=name)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return _save(plt, fig, path)


def progress(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate ``items`` under a rich progress bar on stderr (stdout keeps the tables)."""
    try:
        from rich.console import Console  # noqa: PLC0415
        from rich.progress import track  # noqa: PLC0415
    except ImportError:
        yield from items
        return
    if total is None and isinstance(items, Sequence):
        total = len(items)
    # No refresh thread: it would take the GIL from the loop being timed (the CPU-time
    # figures count every thread); the bar redraws as each item finishes.
    yield from track(items, description=description, total=total, auto_refresh=False,
                     console=Console(stderr=True))  # fmt: skip
