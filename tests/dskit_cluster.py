"""The dskit Go peer's ``serve`` mode (tests/peers/dskit) driven from Trio: each command to it
runs in a worker thread, so the Python nodes under test keep running while Go answers."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import trio
from dskit_support import desc_from_json, peer_binary

from trio_gossip.wire.dskit import Desc

QUIT_WAIT = 3.0


class DskitCluster:
    """The Go peer's ``serve`` mode, driven from Trio through a worker thread per command."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [str(peer_binary()), "serve", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.ready = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, "the dskit peer exited"
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _command(self, cmd: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        answer = self._read()
        assert "error" not in answer, answer
        return answer

    async def metrics(self, node: int) -> dict[str, float]:
        answer = await trio.to_thread.run_sync(self._command, {"cmd": "metrics", "node": node})
        values: dict[str, float] = answer["metrics"]
        return values

    async def members_everywhere(self) -> list[float]:
        """Each Go node's count of memberlist members."""
        nodes = len(self.ready["nodes"])
        return [
            (await self.metrics(i))["memberlist_client_cluster_members_count"]
            for i in range(nodes)
        ]

    def close(self) -> None:
        # dskit's KV waits on its way out for the leave to spread (up to its leave timeout):
        # a few seconds for that, then the process goes anyway.
        try:
            if self.proc.poll() is None:  # not killed already
                self._command({"cmd": "quit"})
                self.proc.wait(timeout=QUIT_WAIT)
        except (subprocess.TimeoutExpired, BrokenPipeError):
            pass
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()

    async def ring(self, node: int) -> Desc:
        """The ring node ``node`` holds (LEFT tombstones included)."""
        answer = await trio.to_thread.run_sync(self._command, {"cmd": "ring", "node": node})
        return desc_from_json(answer["instances"])
