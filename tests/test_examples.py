"""The README's embedding example runs as written (real UDP and TCP sockets on loopback)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_embed_example_runs() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "embed.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert {"c saw JOINED a", "c saw JOINED b"} <= set(lines)
    assert "b received: [b'hello over TCP']" in lines
    assert any(line.startswith("a: ") and "health 0" in line for line in lines)


def test_ring_example_runs() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "ring.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = sorted(done.stdout.splitlines())
    everyone = "['ingester-0', 'ingester-1', 'ingester-2']"
    assert lines == [f"ingester-{i} sees replicas {everyone}" for i in range(3)]
