"""docs/screenshots.py draws the README's two status-page pictures from live agents."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_the_screenshots_can_be_made_again(tmp_path: Path) -> None:
    assert shutil.which("chromium") is not None, "the status pages are photographed in chromium"
    done = subprocess.run([sys.executable, str(DOCS / "screenshots.py"), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=180, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    for page in ("memberlist", "ring"):
        png = (tmp_path / f"{page}-page.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(png) > 10_000
        assert (DOCS / f"{page}-page.png").exists()  # the committed ones the README shows


def test_screenshots_help_does_not_run() -> None:
    done = subprocess.run([sys.executable, str(DOCS / "screenshots.py"), "--help"],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0
    assert "--out" in done.stdout
