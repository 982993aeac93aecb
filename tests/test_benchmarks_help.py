"""Every benchmark takes --help without running: it prints its usage, exits 0 and writes no
result file."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = sorted(p.name for p in BENCHMARKS.glob("bench_*.py"))


def test_there_are_benchmarks() -> None:
    assert len(SCRIPTS) >= 10


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_only_prints_usage(script: str) -> None:
    results = BENCHMARKS / "results"
    before = {p.name: p.stat().st_mtime_ns for p in results.iterdir()}
    done = subprocess.run([sys.executable, script, "--help"], cwd=BENCHMARKS, check=False,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(BENCHMARKS.parent)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout
    after = {p.name: p.stat().st_mtime_ns for p in results.iterdir()}
    assert after == before, "--help wrote results"


def test_quick_run_writes_a_png(tmp_path: pathlib.Path) -> None:
    """The cheapest benchmark in --quick mode, writing into a temporary results directory."""
    pytest.importorskip("matplotlib")
    done = subprocess.run([sys.executable, "bench_wire.py", "--quick", "--results", str(tmp_path)],
                          cwd=BENCHMARKS, check=False, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(BENCHMARKS.parent)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    png = tmp_path / "wire.png"
    assert png.read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "wire.json").exists()


def test_quick_rest_run_records_its_command_without_the_results_directory(
    tmp_path: pathlib.Path,
) -> None:
    """bench_sim_rest --quick: a formed cluster at rest; the figures name the command that
    made them, not this machine's directory."""
    pytest.importorskip("matplotlib")
    done = subprocess.run([sys.executable, "bench_sim_rest.py", "--quick", "--results",
                           str(tmp_path)], cwd=BENCHMARKS, check=False, capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(BENCHMARKS.parent)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    markdown = (tmp_path / "sim_rest.md").read_text()
    assert "`python benchmarks/bench_sim_rest.py --quick`" in markdown
    assert str(tmp_path) not in markdown
    assert str(tmp_path) not in (tmp_path / "sim_rest.json").read_text()
    rows = [line for line in markdown.splitlines() if line.startswith(("| 100 |", "| 300 |"))]
    assert len(rows) == 2
    assert (tmp_path / "sim_rest.png").read_bytes().startswith(b"\x89PNG")
