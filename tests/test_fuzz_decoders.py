"""The atheris (libFuzzer) target for the wire decoders runs briefly: no decoder raises anything
but DecodeError, and coverage grows from the real-vector seeds (benchmarks/bench_fuzz.py runs
it for longer)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"


def test_fuzz_decoders_briefly(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("atheris")
    done = subprocess.run([sys.executable, "bench_fuzz.py", "--seconds", "5", "--results",
                           str(tmp_path)], cwd=BENCHMARKS, check=False, capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(BENCHMARKS.parent)})  # fmt: skip
    figures = json.loads((tmp_path / "fuzz.json").read_text())
    assert done.returncode == 0, figures["tail"] or done.stderr
    assert not figures["crashed"]
    assert not list(tmp_path.glob("crash-*"))
    assert figures["seeds"] >= 5 * 40
    assert figures["executions"] >= 5_000
    assert figures["coverage_end"] > figures["coverage_start"] > 0
