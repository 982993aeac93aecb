"""Writing a simulation benchmark's results: benchmarks/results/<name>.json and .md, and the
markdown table on stdout. Shared by the bench_sim_*.py scripts (their PNGs: report.py)."""

from __future__ import annotations

import json
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def recorded_command() -> str:
    """This script's command line as the results record it, without ``--results DIR``:
    where the files went is this machine's business, not the figures'."""
    kept: list[str] = []
    skip = False
    for arg in sys.argv[1:]:
        if skip:
            skip = False
        elif arg == "--results":
            skip = True
        elif not arg.startswith("--results="):
            kept.append(arg)
    return " ".join(["python", f"benchmarks/{Path(sys.argv[0]).name}", *kept])


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write(
    name: str,
    title: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    command: str,
    notes: Sequence[str] = (),
    extra: dict[str, Any] | None = None,
    results: Path = RESULTS,
) -> None:
    """Save the rows as JSON and markdown in ``results`` and print the markdown."""
    results.mkdir(parents=True, exist_ok=True)
    machine = f"Python {platform.python_version()}, {platform.machine()}"
    md = [f"# {title}", "", f"`{command}` ({machine})", "", table(headers, rows)]
    if notes:
        md += ["", *notes]
    text = "\n".join(md) + "\n"
    (results / f"{name}.md").write_text(text)
    payload = {"command": command, "machine": machine, "headers": list(headers),
               "rows": [list(r) for r in rows], **(extra or {})}  # fmt: skip
    (results / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    sys.stdout.write(text)
