"""A trio_gossip agent beside real Serf agents is a good citizen: a taken name never makes a
Serf agent quit, ``serf query`` counts our ack, ``serf event`` reaches our hooks and log, and
an agent with ``--ring`` sends Serf no KV message and no KV push/pull state."""

from __future__ import annotations

import json
import logging
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from interop.aio import eventually, in_thread, options
from interop.cli_agent import CliAgent
from interop.lab import Lab, open_lab
from interop.procs import free_port
from interop.serf import SerfAgent

from trio_gossip.apps.agent.nameprobe import NameConflictError
from trio_gossip.apps.agent.queries import UserEvent
from trio_gossip.apps.agent.ring import KV_TAG
from trio_gossip.apps.agent.runner import (
    NAME_CONFLICT_EXIT,
    build_config,
    open_agent,
    serf_query_timeout,
)
from trio_gossip.apps.agent.serf import SerfMessageType, message_type
from trio_gossip.core.config import Config

pytestmark = pytest.mark.interop

SERF_LAN = Config.lan()  # what a `serf agent` runs: memberlist's LAN profile
QUITTING = "minority in name conflict resolution, quitting"
KV_COMPLAINTS = ("Received message of unknown type", "bad type prefix")


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    yield from open_lab(tmp_path)


def _serf_log(serf: SerfAgent) -> str:
    return serf.process.log()


async def _still_alive(serf: SerfAgent, seconds: float) -> None:
    """The Serf agent stays up for ``seconds`` (polled) and never logs that it quits."""
    deadline = trio.current_time() + seconds
    while trio.current_time() < deadline:
        assert serf.process.alive(), f"serf {serf.name} exited:\n{_serf_log(serf)}"
        assert QUITTING not in _serf_log(serf)
        await trio.sleep(0.1)


async def test_a_taken_seed_name_is_refused_before_joining(lab: Lab) -> None:
    """The seed answers a ping under our name: we never claim the name, Serf keeps running."""
    serf = await in_thread(lambda: lab.serf("dup"))
    opts = options("dup", lab.address(), profile="local")
    started = time.monotonic()
    async with open_agent(opts) as agent:
        with pytest.raises(NameConflictError, match="already taken by the node at"):
            await agent.join([serf.gossip_address])
        assert agent.node.num_members() == 1  # no push/pull happened
    refused = time.monotonic() - started
    # One probe timeout for the answer, plus start-up and the shutdown's bounded stay.
    assert refused < build_config(opts).probe_timeout + 5.0
    await _still_alive(serf, serf_query_timeout(SERF_LAN, 2) + 1.0)
    assert "Conflicting address" not in _serf_log(serf)  # it never saw an alive from us
    print(f"taken seed name refused in {refused:.2f}s")


async def test_a_taken_name_elsewhere_is_conceded_and_serf_wins_its_vote(lab: Lab) -> None:
    """The name's holder is not our seed: the conflict happens, Serf's vote keeps its holder,
    and our agent concedes, stopping with NameConflictError (no leave)."""
    holder = await in_thread(lambda: lab.serf("dup"))
    other = await in_thread(lambda: lab.serf("serf-b"))
    assert await in_thread(other.rpc().join, holder.gossip_address) == 1
    opts = options("dup", lab.address(), profile="local")
    config = build_config(opts)
    started = time.monotonic()
    # Join, see the conflict, stay a Serf query timeout answering, stop; with margin.
    bound = config.tcp_timeout + serf_query_timeout(config, 3) + 5.0

    async def run_until_conceded() -> None:
        async with open_agent(opts) as agent:
            await agent.join([other.gossip_address])
            await trio.sleep(bound)
        pytest.fail(f"the agent did not concede its name within {bound:.1f}s")

    with pytest.raises(NameConflictError, match="also claimed by the node at"):
        await run_until_conceded()
    conceded = time.monotonic() - started

    # The holder either never saw our claim or won its vote (serf-b answers for it).
    for serf in (holder, other):
        await _still_alive(serf, serf_query_timeout(SERF_LAN, 3) + 1.0)
    for serf in (holder, other):
        statuses = await in_thread(serf.statuses)
        assert statuses == {"dup": "alive", "serf-b": "alive"}  # the holder keeps the name
    assert "Refuting a dead message" not in _serf_log(holder)  # we stopped without a leave
    print(f"name conceded in {conceded:.2f}s")


async def test_serf_query_counts_our_ack_and_events_reach_our_hook(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trio_gossip.apps.agent")
    async with open_agent(options("py-q", lab.address(), profile="local")) as agent:
        events: list[UserEvent] = []
        agent.delegate.user_event_listeners.append(events.append)
        me = "{}:{}".format(*agent.node.local_member.address)
        serf = await in_thread(lambda: lab.serf("serf-q"))
        assert await in_thread(serf.rpc().join, me) == 1

        async def both_alive() -> bool:
            view = await in_thread(serf.statuses)
            return view == {"serf-q": "alive", "py-q": "alive"}

        await eventually(both_alive, 10.0, "serf-q and py-q to see each other")

        rpc = "{}:{}".format(*serf.rpc_address)
        timeout = serf_query_timeout(SERF_LAN, 2)
        started = time.monotonic()
        query = await in_thread(
            lambda: subprocess.run(
                ["serf", "query", f"-rpc-addr={rpc}", f"-timeout={timeout}s", "-format=json",
                 "deploy-check", "hello"],
                capture_output=True, text=True, timeout=timeout + 15, check=True,
            )
        )  # fmt: skip
        answer = json.loads(query.stdout)
        assert set(answer["Acks"]) == {"serf-q", "py-q"}
        print(f"serf query with our ack in {time.monotonic() - started:.2f}s")
        assert agent.delegate.queries.acked >= 1

        await in_thread(serf.rpc().event, "deploy", b"v1.2.3")
        got = await eventually(
            lambda: _first(events), 10 * SERF_LAN.gossip_interval + 2.0, "the user event"
        )
        assert got.name == "deploy"
        assert got.payload == b"v1.2.3"
        await trio.sleep(5 * SERF_LAN.gossip_interval)
        assert len(events) == 1  # relayed copies are delivered once
        logged = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
        assert any("user event 'deploy'" in line for line in logged), logged
        assert agent.node.statistics().bad_packets == 0


async def _first(events: list[UserEvent]) -> UserEvent | None:
    return events[0] if events else None


async def test_ring_agents_send_serf_no_kv_traffic(lab: Lab) -> None:
    opts_a = options("ring-a", lab.address(), profile="local", ring="ring")
    opts_b = options("ring-b", lab.address(), profile="local", ring="ring")
    config = build_config(opts_a)
    async with open_agent(opts_a) as a, open_agent(opts_b) as b:
        assert a.kv is not None
        assert b.kv is not None
        a_addr = "{}:{}".format(*a.node.local_member.address)
        await b.join([a_addr])
        serf = await in_thread(lambda: lab.serf("serf-r"))
        assert await in_thread(serf.rpc().join, a_addr) == 1
        started = time.monotonic()

        async def ring_has_both() -> bool:
            rings = [x.kv.get("ring") for x in (a, b) if x.kv is not None]
            return all(
                r is not None and r.instance("ring-a") and r.instance("ring-b") for r in rings
            )

        # The KV still replicates between the agents, through KV-only traffic.
        await eventually(ring_has_both, config.push_pull_interval, "both instances in both rings")
        print(f"ring replicated in {time.monotonic() - started:.2f}s")

        # Two of our push/pull intervals: push/pulls both ways with Serf, ring heartbeats.
        await trio.sleep(2 * config.push_pull_interval + 1.0)
        log = await in_thread(lambda: _serf_log(serf))
        for complaint in KV_COMPLAINTS:
            assert complaint not in log, [line for line in log.splitlines() if complaint in line]
        assert "Failed push/pull merge" not in log
        members = await in_thread(serf.rpc().members)
        assert members["ring-a"]["Tags"].get(KV_TAG) == "1"
        assert members["ring-a"]["Status"] == "alive"
        for x in (a, b):
            sent = x.delegate.last_state_sent
            assert not sent or message_type(sent) is SerfMessageType.PUSH_PULL
            kv_stats = x.kv.statistics() if x.kv is not None else None
            assert kv_stats is not None
            assert kv_stats.received_broadcasts_invalid == 0
        assert a.node.statistics().bad_packets == 0


async def test_we_vote_in_serf_conflict_resolution_as_serf_members_do(lab: Lab) -> None:
    """A Serf newcomer takes a held name: its ``_serf_conflict`` query is answered by serf-b
    and by us with the holder's Node, which Serf decodes and counts ([0 / 2], not [0 / 1])."""
    async with open_agent(options("py-v", lab.address(), profile="local")) as agent:
        me = "{}:{}".format(*agent.node.local_member.address)
        holder = await in_thread(lambda: lab.serf("x"))
        other = await in_thread(lambda: lab.serf("serf-b"))
        assert await in_thread(holder.rpc().join, me) == 1
        assert await in_thread(other.rpc().join, me) == 1

        async def three() -> bool:
            return {m.name for m in agent.node.members()} == {"py-v", "x", "serf-b"}

        await eventually(three, 10.0, "py-v to list x and serf-b")
        # Not lab.serf: the lab keys its agents (and their logs) by name.
        bind = lab.address()
        log_dir = lab.log_dir / "newcomer"
        log_dir.mkdir()
        dup = SerfAgent("x", bind, (bind[0], free_port(bind[0])), log_dir)
        lab.group.add(dup.process)
        started = time.monotonic()
        await in_thread(dup.wait_ready)
        await in_thread(dup.rpc().join, other.gossip_address)
        bound = serf_query_timeout(SERF_LAN, 4) + 5.0

        def voted() -> bool:
            return "name conflict resolution" in _serf_log(dup)

        await eventually(lambda: in_thread(voted), bound, "the newcomer's vote")
        line = next(x for x in _serf_log(dup).splitlines() if "conflict resolution" in x)
        assert "[0 / 2]" in line, line  # serf-b's answer and ours, both for the holder
        print(f"conflict vote with our answer in {time.monotonic() - started:.2f}s: {line}")
        assert agent.delegate.queries.conflicts_answered >= 1
        for serf in (holder, other):
            await _still_alive(serf, 1.0)


def test_the_agent_command_with_a_taken_name_exits_with_a_clear_error(lab: Lab) -> None:
    serf = lab.serf("dup")
    agent = CliAgent("dup", lab.address()[0], lab.log_dir, join=[serf.gossip_address])
    lab.group.add(agent.process)
    started = time.monotonic()
    # Python start-up, one probe timeout for the answer, the shutdown; generous for 2 cores.
    status = agent.process.wait(20.0 + Config.local().probe_timeout)
    print(f"agent with a taken name exited {status} in {time.monotonic() - started:.2f}s")
    assert status == NAME_CONFLICT_EXIT
    assert "node name 'dup' is already taken by the node at" in agent.process.log()
    assert "start the agent with another --name" in agent.process.log()
    time.sleep(serf_query_timeout(SERF_LAN, 2) + 1.0)
    assert serf.process.alive()
    assert QUITTING not in _serf_log(serf)
