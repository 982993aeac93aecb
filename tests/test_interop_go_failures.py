"""Scenario 3: failures and departures between trio_gossip and Go memberlist v0.7.0.

kill -9 of a Go process is detected by every trio_gossip node (embedded and agent) and the
kill -9 of a ``trio-gossip agent`` by every Go node, each within memberlist's detection bound;
a graceful leave is ``left`` on the other side; a killed name rejoins from a new address once
dead_node_reclaim_time has passed.

The agent speaks Serf's delegate protocol range [2, 5], so everyone here advertises it too.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from interop.cli_agent import SERF_DELEGATE_VERSION, CliAgent
from interop.go_peer import GoPeer, GoPeers, Timing, detection_bound, go_peers
from interop.procs import ProcessGroup
from interop.trio_side import Observers, run

from trio_gossip import Config, open_memberlist

pytestmark = pytest.mark.interop

RECLAIM = 2.0
TIMING = Timing(
    profile="local", probe_interval=0.5, push_pull_interval=2.0, dead_node_reclaim_time=RECLAIM
)
DMIN, DMAX, DCUR = SERF_DELEGATE_VERSION
N = 8  # go-0..3, gov-0, py-1, py-2, agent-1


def trio_config(name: str) -> Config:
    return TIMING.config(
        name=name,
        bind_addr="127.0.0.1",
        bind_port=0,
        delegate_protocol_min=DMIN,
        delegate_protocol_max=DMAX,
        delegate_protocol_version=DCUR,
    )


# The slowest observer's bound: the agent runs the plain local profile (1 s probes).
DETECTION = max(detection_bound(trio_config("x"), N), detection_bound(Config.local(), N))
# Join and leave news spreads by gossip, or at the latest with the next push/pull rounds.
CONVERGENCE = 2 * 2.0 + 5.0
# A restarted agent's alive reaches a node that missed its gossip with the agent's own next
# push/pull (the plain local profile's 15 s).
AGENT_CONVERGENCE = Config.local().push_pull_interval + 5.0


async def test_kills_leaves_and_reclaim(tmp_path: Path) -> None:
    group = ProcessGroup()
    try:
        with go_peers(tmp_path) as peers:
            await _scenario(tmp_path, peers, group)
    finally:
        group.close()


async def _scenario(tmp_path: Path, peers: GoPeers, group: ProcessGroup) -> None:
    go = await run(
        lambda: peers.start(count=4, delegate_version=SERF_DELEGATE_VERSION, timing=TIMING)
    )
    seed = go.address("go-0")

    def start_victim() -> GoPeer:
        return peers.start(
            prefix="gov-", join=[seed], delegate_version=SERF_DELEGATE_VERSION, timing=TIMING
        )

    def start_agent() -> CliAgent:
        agent = CliAgent("agent-1", "127.0.0.1", tmp_path, join=[seed])
        group.add(agent.process)
        return agent.wait_ready()

    victim = await run(start_victim)
    async with (
        open_memberlist(trio_config("py-1")) as py1,
        open_memberlist(trio_config("py-2")) as py2,
    ):
        await py1.join([seed])
        await py2.join([seed])
        agent = await run(start_agent)
        every = Observers({go: None, victim: None}, [py1, py2], [agent])
        for name in [*go.names, "gov-0", "py-1", "py-2", "agent-1"]:
            await every.wait(name, "alive", CONVERGENCE)

        # kill -9 of a Go process: the trio nodes, the agent and the Go nodes see it dead.
        await run(victim.kill)
        survivors = Observers({go: None}, [py1, py2], [agent])
        took = await survivors.wait("gov-0", "dead", DETECTION)
        gov_dead = trio.current_time()
        print(f"Go node killed: dead everywhere in {took:.1f}s (bound {DETECTION:.1f}s)")

        # kill -9 of the agent: every Go node and the trio nodes see it dead.
        await run(agent.kill)
        survivors = Observers({go: None}, [py1, py2])
        took = await survivors.wait("agent-1", "dead", DETECTION)
        agent_dead = trio.current_time()
        print(f"agent killed: dead everywhere in {took:.1f}s (bound {DETECTION:.1f}s)")

        # A graceful leave is "left", not "dead", on the other side.
        await run(go.leave, "go-3")
        await Observers({}, [py1, py2]).wait("go-3", "left", CONVERGENCE)
        assert await py2.leave(timeout=5.0)
        stayed = ["go-0", "go-1", "go-2"]
        await Observers({go: stayed}, [py1]).wait("py-2", "left", CONVERGENCE)

        # The killed names come back from new addresses once the reclaim time has passed
        # (before it, memberlist's aliveNode refuses them as a "Conflicting address").
        watchers = Observers({go: stayed}, [py1])
        await trio.sleep_until(gov_dead + RECLAIM)
        back = await run(start_victim)
        await watchers.wait("gov-0", "alive", CONVERGENCE, address=back.nodes["gov-0"])
        await trio.sleep_until(agent_dead + RECLAIM)
        again = await run(start_agent)
        await watchers.wait("agent-1", "alive", AGENT_CONVERGENCE, address=again.bind)
