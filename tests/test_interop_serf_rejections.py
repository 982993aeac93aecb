"""Beside a real Serf agent, an agent refuses none of Serf's streams (its push/pulls, both
ways, with events in its state), and what it does refuse is named with the sender: here the
`serf` command itself, pointed at the gossip address instead of an RPC address."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from interop.aio import eventually, in_thread, options
from interop.lab import Lab, open_lab

from trio_gossip.apps.agent.runner import open_agent

pytestmark = pytest.mark.interop


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    yield from open_lab(tmp_path)


async def test_serf_streams_are_accepted_and_a_serf_rpc_client_is_named(lab: Lab) -> None:
    a = await in_thread(lambda: lab.serf("serf-a"))
    async with open_agent(options("py-1", lab.address())) as t:
        await t.join([a.gossip_address])  # our push/pull to Serf
        ours = "{}:{}".format(*t.node.local_member.address)
        await in_thread(a.rpc().event, "deploy", b"v1")  # events in Serf's push/pull state
        for _ in range(2):
            assert await in_thread(a.rpc().join, ours) == 1  # Serf's push/pull to us

        async def merged() -> bool:
            return t.node.statistics().push_pulls_received >= 2

        await eventually(merged, 5.0, "Serf's push/pulls to be merged")
        stats = t.node.statistics()
        assert (stats.bad_streams, stats.last_bad_stream) == (0, "")

        # `serf members` at the gossip address: its RPC handshake is no memberlist stream.
        run = await in_thread(
            lambda: subprocess.run(
                ["serf", "members", f"-rpc-addr={ours}"],
                capture_output=True,
                text=True,
                timeout=20,
                check=False,
            )
        )
        assert run.returncode != 0, run

        async def refused() -> str:
            return t.node.statistics().last_bad_stream

        last = await eventually(refused, 5.0, "the RPC handshake to be refused")
        assert t.node.statistics().bad_streams == 1
        assert re.match(r"127\.\d+\.\d+\.\d+:\d+: unknown message type 130 ", last), last
        assert "a Serf RPC request" in last
