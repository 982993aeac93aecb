"""The dskit peer's ``serve`` mode: real dskit nodes (memberlist KV over dskit's TCP transport,
ring.BasicLifecycler) on loopback converge to one ring; its control channel changes states and
makes instances leave; each ring a node reports decodes with our model (LEFT kept)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from dskit_support import desc_from_json, peer_binary

from trio_gossip.core.dskit import ops
from trio_gossip.core.dskit.merge import remove_tombstones
from trio_gossip.core.dskit.ring import RingConfig, RingView
from trio_gossip.wire.dskit import InstanceState, decode_desc, encode_desc


class Serve:
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

    def command(self, **cmd: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        answer = self._read()
        assert "error" not in answer, answer
        return answer

    def ring(self, node: int) -> list[dict[str, Any]]:
        instances: list[dict[str, Any]] = self.command(cmd="ring", node=node)["instances"]
        return instances

    def wait(self, what: str, check: Any, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.2)

    def close(self) -> None:
        try:
            self.command(cmd="quit")
            self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def serve() -> Iterator[Serve]:
    s = Serve(
        "-nodes",
        "3",
        "-tokens",
        "16",
        "-heartbeat-period",
        "1s",
        "-gossip-interval",
        "100ms",
        "-compression",
        "snappy",
    )
    try:
        yield s
    finally:
        s.close()


def _states(instances: list[dict[str, Any]]) -> dict[str, tuple[int, int, str]]:
    return {i["key"]: (i["state"], len(i["tokens"]), i["zone"]) for i in instances}


def test_dskit_nodes_converge_and_leave(serve: Serve) -> None:
    assert [n["instance"] for n in serve.ready["nodes"]] == [
        "instance-0",
        "instance-1",
        "instance-2",
    ]
    want = {
        "instance-0": (0, 16, "zone-a"),
        "instance-1": (0, 16, "zone-b"),
        "instance-2": (0, 16, "zone-c"),
    }
    serve.wait("one ring everywhere", lambda: all(_states(serve.ring(n)) == want for n in range(3)))

    # The ring each Go node holds is one our model reads, writes back and looks up in.
    instances = serve.ring(0)
    desc = desc_from_json(instances)
    assert decode_desc(encode_desc(desc)) == desc
    view = RingView.from_desc(desc, RingConfig(zone_awareness_enabled=True))
    now = time.time()
    assert {i.zone for i in view.get(12345, ops.WRITE, now).instances} == {
        "zone-a",
        "zone-b",
        "zone-c",
    }

    # Heartbeats advance.
    first = {i["key"]: i["timestamp"] for i in instances}
    serve.wait("heartbeats", lambda: all(i["timestamp"] > first[i["key"]] for i in serve.ring(1)))

    serve.command(cmd="state", node=1, state="LEAVING")
    serve.wait(
        "LEAVING everywhere",
        lambda: all(
            _states(serve.ring(n))["instance-1"][0] == InstanceState.LEAVING for n in range(3)
        ),
    )
    serve.command(cmd="leave", node=2)
    serve.wait(
        "a LEFT tombstone everywhere",
        lambda: all(
            _states(serve.ring(n))["instance-2"] == (InstanceState.LEFT, 0, "zone-c")
            for n in range(3)
        ),
    )
    ring = desc_from_json(serve.ring(0))
    assert "instance-2" not in remove_tombstones(ring, None)[0].instances
