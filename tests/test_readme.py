"""Every Python snippet of the README runs as written (real sockets on loopback)."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import trio

from trio_gossip import BaseDelegate, Config, open_memberlist

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def _snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_the_snippets_this_file_runs() -> None:
    snippets = _snippets()
    assert len(snippets) == 4
    assert "open_memberlist" in snippets[0]
    assert "lifecycler" in snippets[1]
    assert "trio_gossip.testing" in snippets[2]
    assert "formed=True" in snippets[3]


class _Inbox(BaseDelegate):
    def __init__(self) -> None:
        self.got: list[bytes] = []

    def notify_msg(self, message: bytes) -> None:
        self.got.append(message)


def test_embedding_snippet_joins_and_sends() -> None:
    """The snippet joins 127.0.0.1:7947: a node named db-1 waits there for its hello."""
    inbox = _Inbox()

    async def main() -> None:
        config = Config.lan(name="db-1", bind_addr="127.0.0.1", bind_port=7947)
        async with open_memberlist(config, delegate=inbox):
            done = await trio.to_thread.run_sync(lambda: subprocess.run(
                [sys.executable, "-c", _snippets()[0]], capture_output=True, text=True, check=False,
                timeout=60))  # fmt: skip
            assert done.returncode == 0, done.stderr
            assert "JOINED db-1 ('127.0.0.1', 7947)" in done.stdout
            with trio.fail_after(5):
                while not inbox.got:
                    await trio.sleep(0.01)

    trio.run(main)
    assert inbox.got == [b"hello"]


def test_ring_snippet_runs_three_ingesters(tmp_path: pathlib.Path) -> None:
    """Three ingesters in three zones register, see each other and look a key up."""
    done = subprocess.run([sys.executable, "-c", _snippets()[1]], capture_output=True, check=False,
                          text=True, timeout=120, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = sorted(done.stdout.splitlines())
    replicas = "['ingester-0', 'ingester-1', 'ingester-2']"
    assert lines == [f"ingester-{i} -> {replicas}" for i in range(3)]
    assert sorted(p.name for p in tmp_path.glob("*.tokens")) == [
        f"ingester-{i}.tokens" for i in range(3)
    ]


def test_testing_snippet_replays_one_seed() -> None:
    """The "Testing your own code" snippet runs a cluster twice on one seed, same digest."""
    done = subprocess.run([sys.executable, "-c", _snippets()[2]], capture_output=True, check=False,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"replayed [0-9a-f]{12}\n", done.stdout), done.stdout


def test_formed_snippet_detects_a_kill_in_a_formed_cluster() -> None:
    """The formed-cluster snippet: 300 nodes converged at the start, a kill detected."""
    done = subprocess.run([sys.executable, "-c", _snippets()[3]], capture_output=True, check=False,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    expected = r"every node of 300 held node-123 dead \d+\.\d simulated s after the kill\n"
    assert re.fullmatch(expected, done.stdout), done.stdout
