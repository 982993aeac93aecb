"""The status pages in a real browser: headless Chromium loads ``/memberlist`` and ``/ring``
of a live agent, and the test reads the DOM it built (``--dump-dom``).

A member named ``py-<script>document.title='pwned'</script>`` must show up as that text in a
table cell, and no script may run: the title stays the page's own.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
import trio
from status_support import HOSTILE_NAME, HOSTILE_TAG, two_agents, until

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs the chromium binary")
BROWSER_TIMEOUT = 60.0


class Tables(HTMLParser):
    """The text of every cell of every table with an id, row by row; and the title."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.title = ""
        self.scripts = 0
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("id") or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "title":
            self._in_title = True
        elif tag == "script":
            self.scripts += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._in_title:
            self.title += data


async def chromium(*args: str) -> str:
    """Run headless Chromium with its own throwaway profile; its stdout."""
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory() as profile, trio.fail_after(BROWSER_TIMEOUT):
        done = await trio.run_process(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--no-first-run", f"--user-data-dir={profile}", *args],
            capture_stdout=True, capture_stderr=True, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return done.stdout.decode()


async def dom(url: str) -> Tables:
    parser = Tables()
    parser.feed(await chromium("--dump-dom", url))
    return parser


def column(rows: list[list[str]], header: str) -> list[str]:
    index = rows[0].index(header)
    return [row[index] for row in rows[1:]]


async def test_chromium_shows_both_pages_and_runs_no_hostile_script(tmp_path: Path) -> None:
    async with two_agents() as (a, _):
        assert a.history is not None
        await until(lambda: len(a.history.received) > 0)
        assert a.http_address is not None
        base = f"http://127.0.0.1:{a.http_address[1]}"

        page = await dom(f"{base}/memberlist")
        assert page.title.startswith("Memberlist status")  # the script did not set it
        assert page.scripts == 0
        members = page.tables["members"]
        assert sorted(column(members, "Name")) == sorted(["py-a", HOSTILE_NAME])
        assert set(column(members, "State")) == {"alive"}
        assert any(HOSTILE_TAG in meta for meta in column(members, "Metadata"))
        assert column(page.tables["kv"], "Key")[0] == "ring"
        assert "ring" in column(page.tables["received"], "Key")
        assert "own" in column(page.tables["sent"], "Lane")

        ring = await dom(f"{base}/ring")
        assert ring.title.startswith("Ring status")
        assert ring.scripts == 0
        instances = ring.tables["instances"]
        assert sorted(column(instances, "Instance")) == sorted(["py-a", HOSTILE_NAME])
        assert column(instances, "State") == ["ACTIVE", "ACTIVE"]
        assert column(instances, "Tokens") == ["128", "128"]
        owned = [float(x) for x in column(instances, "Owned %")]  # of the whole ring
        assert 99.0 < sum(owned) < 101.0

        shot = tmp_path / "ring.png"
        await chromium("--window-size=1200,700", f"--screenshot={shot}", f"{base}/ring")
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_browser_runs_here() -> None:
    """A clear failure when Chromium itself cannot start (not a page problem)."""
    assert CHROMIUM is not None
    done = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True,
                          timeout=BROWSER_TIMEOUT, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
