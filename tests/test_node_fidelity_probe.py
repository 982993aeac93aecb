"""Fidelity of one probe round (spec 9.2, 9.4) against memberlist's probeNode."""

from __future__ import annotations

from collections.abc import Callable

import attrs
import pytest
import trio
import trio.testing
from fidelity_support import Reply, ScriptedPeer
from node_support import base_config, sees, start_cluster, wait_for

from trio_gossip.core.membership.member import ip_string
from trio_gossip.shell.node.commands import AwarenessDelta, Command
from trio_gossip.transport.memory import MemoryNetwork
from trio_gossip.wire.messages import (
    Ack,
    IndirectPing,
    Message,
    Nack,
    NodeState,
    PacketMessage,
    Ping,
)


def _relay_only(msg: PacketMessage, addr: tuple[str, int]) -> Reply:
    """A peer whose own UDP pings are lost, but who vouches for the other peer when asked."""
    if isinstance(msg, IndirectPing):
        return [((ip_string(msg.source_addr), msg.source_port), [Ack(msg.seq_no)])]
    return []


def _tcp_only(msg: Message) -> Message | None:
    return Ack(msg.seq_no) if isinstance(msg, Ping) else None


@pytest.mark.parametrize("rescue", ["indirect", "tcp"])
async def test_probe_rescued_by_indirect_or_tcp_ack_improves_awareness(
    autojump_clock: trio.testing.MockClock, rescue: str
) -> None:
    """memberlist sets the awareness delta to -1 as soon as the ping is sent: any later ack
    (relayed, late, or over the TCP fallback) is a successful probe. Only a failed probe
    (or a send error) leaves the health score where it was or raises it."""
    net = MemoryNetwork(seed=101)
    config = base_config(push_pull_interval=0.0, indirect_checks=3 if rescue == "indirect" else 0)
    async with start_cluster(net, 1, config) as (a,), trio.open_nursery() as nursery:
        peers = [
            ScriptedPeer(net.add_node(), script=_relay_only)
            if rescue == "indirect"
            else ScriptedPeer(net.add_node(), stream_script=_tcp_only)
            for _ in range(2)
        ]
        for i, peer in enumerate(peers):
            await nursery.start(peer.serve)
            await peer.send(a.local_member.address, peer.alive(f"p{i}"))
        await wait_for(lambda: all(sees(a, f"p{i}", NodeState.ALIVE) for i in range(2)), 1.0)

        a._rt.submit(AwarenessDelta(4))
        await wait_for(lambda: a.health_score == 4, 1.0)
        # Four rescued probes bring the score back to 0; a round at score s lasts at most
        # (s + 1) probe intervals.
        await wait_for(lambda: a.health_score == 0, 20 * config.probe_interval)
        assert a.statistics().suspicions == 0
        if rescue == "indirect":
            assert a.statistics().indirect_probes >= 4
        else:
            assert a.statistics().tcp_fallback_successes >= 4
        nursery.cancel_scope.cancel()


def _helper(nack: bool) -> Callable[[PacketMessage, tuple[str, int]], Reply]:
    """A healthy peer that cannot reach the target: acks its own pings, and nacks indirect
    pings that ask for it (or stays silent)."""

    def script(msg: PacketMessage, addr: tuple[str, int]) -> Reply:
        if isinstance(msg, Ping):
            return [((ip_string(msg.source_addr), msg.source_port), [Ack(msg.seq_no)])]
        if isinstance(msg, IndirectPing) and msg.nack and nack:
            return [((ip_string(msg.source_addr), msg.source_port), [Nack(msg.seq_no)])]
        return []

    return script


@pytest.mark.parametrize(
    ("helper_pmax", "nacks", "penalty"),
    [(5, True, 0), (5, False, 2), (3, True, 1)],
)
async def test_failed_probe_penalty_counts_missed_nacks(
    autojump_clock: trio.testing.MockClock, helper_pmax: int, nacks: bool, penalty: int
) -> None:
    """A failed probe costs one point per nack that did not come back from helpers that speak
    protocol 4+ (they are asked for one), or one point when no helper could be asked."""
    net = MemoryNetwork(seed=102)
    config = base_config(push_pull_interval=0.0, disable_tcp_pings=True)
    async with start_cluster(net, 1, config) as (a,), trio.open_nursery() as nursery:
        deltas: list[int] = []
        submit = a._rt.submit

        def recording_submit(command: Command) -> None:
            if isinstance(command, AwarenessDelta):
                deltas.append(command.delta)
            submit(command)

        a._rt.submit = recording_submit  # type: ignore[method-assign]
        target = ScriptedPeer(net.add_node())
        await nursery.start(target.serve)
        await target.send(a.local_member.address, target.alive("target"))
        for i in range(2):
            helper = ScriptedPeer(net.add_node(), script=_helper(nacks))
            await nursery.start(helper.serve)
            vsn = bytes([1, helper_pmax, 2, 0, 0, 0])
            await helper.send(a.local_member.address, attrs.evolve(helper.alive(f"h{i}"), vsn=vsn))
        await wait_for(lambda: a.statistics().failed_probes >= 1, 10 * config.probe_interval)
        failures = [d for d in deltas if d != -1]
        assert failures[0] == penalty
        asked = [m for m, _ in helper.received if isinstance(m, IndirectPing)]
        assert asked
        assert all(m.nack == (helper_pmax >= 4) for m in asked)
        nursery.cancel_scope.cancel()
