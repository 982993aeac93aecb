"""``trio-gossip ring --dskit --join HOST:PORT`` against a live Go dskit cluster
(tests/peers/dskit): it prints the ring the Go nodes hold, ``--watch --json`` redraws it on a
change, and the observer leaves the cluster gracefully when it is done or signalled."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from typing import Any

import pytest
import trio
from dskit_cluster import DskitCluster

from trio_gossip.apps.cli import main
from trio_gossip.wire.dskit import InstanceState

pytestmark = pytest.mark.interop

GO_NODES = 3
BOUND = 15.0  # joining is one push/pull on loopback; every wait here ends in well under this


def _cluster() -> DskitCluster:
    return DskitCluster(
        "-nodes", str(GO_NODES), "-tokens", "32", "-heartbeat-period", "1s",
        "-gossip-interval", "100ms", "-pushpull-interval", "2s",
    )  # fmt: skip


def _observer(*args: str) -> list[str]:
    return [sys.executable, "-m", "trio_gossip", "ring", "--dskit", *args]


async def _members_back_to(go: DskitCluster, count: int) -> None:
    with trio.fail_after(BOUND):
        while await go.members_everywhere() != [count] * GO_NODES:
            await trio.sleep(0.2)


async def test_the_observer_prints_the_ring_go_holds_and_leaves() -> None:
    go = _cluster()
    try:
        seed = go.ready["nodes"][1]["addr"]
        with trio.fail_after(BOUND):
            done = await trio.run_process(_observer("--join", seed, "--json"), capture_stdout=True)
        page = json.loads(done.stdout)
        theirs = await go.ring(0)
        shards = {s["id"]: s for s in page["shards"]}
        assert set(shards) == set(theirs.instances)
        for name, inst in theirs.instances.items():
            s = shards[name]
            assert (s["state"], s["zone"], s["address"], s["tokens"]) == (
                InstanceState(inst.state).name, inst.zone, inst.addr, len(inst.tokens),
            )  # fmt: skip
            assert s["healthy"]
        assert sum(s["ownership"] for s in shards.values()) == pytest.approx(1.0)
        await _members_back_to(go, GO_NODES)  # it left, and did not linger as failed
    finally:
        go.close()


async def test_watch_redraws_on_a_change_and_leaves_on_sigint() -> None:
    go = _cluster()
    proc: trio.Process | None = None
    try:
        seed = go.ready["nodes"][0]["addr"]
        proc = await trio.lowlevel.open_process(
            _observer("--join", seed, "--json", "--watch"), stdout=subprocess.PIPE
        )
        assert proc.stdout is not None
        lines = _Lines(proc.stdout)
        with trio.fail_after(BOUND):
            first = json.loads(await lines.next())
            assert {s["state"] for s in first["shards"]} == {"ACTIVE"}
            await _members_back_to(go, GO_NODES + 1)  # the observer is a member meanwhile
            await trio.to_thread.run_sync(
                go._command, {"cmd": "state", "node": 1, "state": "LEAVING"}
            )
            while True:
                page: dict[str, Any] = json.loads(await lines.next())
                states = {s["id"]: s["state"] for s in page["shards"]}
                if states["instance-1"] == "LEAVING":
                    break
            proc.send_signal(signal.SIGINT)
            assert await proc.wait() == 0
        await _members_back_to(go, GO_NODES)
    finally:
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()
        go.close()


class _Lines:
    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self._stream = stream
        self._buffer = b""

    async def next(self) -> str:
        while b"\n" not in self._buffer:
            chunk = await self._stream.receive_some()
            assert chunk, "the observer exited"
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()


def test_usage_errors_and_an_unreachable_cluster(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ring", "--dskit"]) == 2
    assert "--join" in capsys.readouterr().err
    assert main(["ring", "--dskit", "--join", "127.0.0.1"]) == 2  # no port
    assert main(["ring", "--dskit", "--http", "127.0.0.1:1", "--join", "127.0.0.1:1"]) == 2
    assert main(["ring"]) == 2
    capsys.readouterr()
    # Nothing listens on port 1: the join fails, one clear line, exit 1.
    assert main(["ring", "--dskit", "--join", "127.0.0.1:1", "--timeout", "3"]) == 1
    err = capsys.readouterr().err
    assert "cannot join 127.0.0.1:1" in err
    assert len(err.strip().splitlines()) == 1
