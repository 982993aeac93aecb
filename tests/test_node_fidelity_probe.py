"""Fidelity of one probe round against memberlist's probeNode (state.go), end to end and
through the engine."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
import trio
import trio.testing
from fidelity_support import Reply, ScriptedPeer
from node_support import base_config, sees, start_cluster, wait_for

from trio_gossip.core.engine import Context, EngineState, handle
from trio_gossip.core.engine import events as ev
from trio_gossip.core.engine.effects import Send
from trio_gossip.core.membership.codec import Codec
from trio_gossip.core.membership.member import ip_string
from trio_gossip.transport.memory import MemoryNetwork
from trio_gossip.wire import decode_packet
from trio_gossip.wire.messages import (
    Ack,
    Alive,
    IndirectPing,
    Message,
    Nack,
    NodeState,
    PacketMessage,
    Ping,
    Suspect,
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

        # Four accusations, each refuted, cost four awareness points (Lifeguard).
        for i in range(4):
            accused = a.local_member.incarnation
            await peers[0].send(a.local_member.address, Suspect(accused, a.local_member.name, "p0"))
            await wait_for(lambda n=i: a.health_score == n + 1, 1.0)
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


def _engine_with(target_pmax: int, helper_pmax: int) -> tuple[Context, EngineState]:
    config = base_config(name="a", push_pull_interval=0.0, disable_tcp_pings=True)
    ctx = Context(config, Codec(config), random.Random(7))
    state, _ = handle(ctx, EngineState.initial("a"), 0.0, ev.Start(b"\x0a\x00\x00\x01", 7946, b""))
    peers = [("target", 2, target_pmax), ("h0", 3, helper_pmax), ("h1", 4, helper_pmax)]
    for name, last, pmax in peers:
        alive = Alive(1, name, bytes([10, 0, 0, last]), 7946, None, bytes([1, pmax, 2, 0, 0, 0]))
        state, _ = handle(ctx, state, 0.0, ev.Received(alive, ("10.0.0.9", 7946)))
    return ctx, state


def _sent(effects: list[object]) -> list[tuple[tuple[str, int], PacketMessage]]:
    out = []
    for effect in effects:
        if isinstance(effect, Send):
            for datagram in effect.datagrams:
                out.extend((effect.to, m) for m in decode_packet(datagram))
    return out


@pytest.mark.parametrize(
    ("helper_pmax", "nacks", "penalty"),
    [(5, True, 0), (5, False, 2), (3, True, 1)],
)
def test_failed_probe_penalty_counts_missed_nacks(helper_pmax: int, nacks: bool, penalty: int
                                                  ) -> None:  # fmt: skip
    """A failed probe costs one point per nack that did not come back from helpers that speak
    protocol 4+ (they are asked for one), or one point when no helper could be asked."""
    ctx, state = _engine_with(target_pmax=5, helper_pmax=helper_pmax)
    now = 0.0
    # Probe until the walk reaches the target (helpers ack at once).
    while True:
        now += ctx.config.probe_interval
        state, effects = handle(ctx, state, now, ev.ProbeTick())
        assert state.probe is not None
        if state.probe.target.name == "target":
            break
        state, _ = handle(ctx, state, now, ev.Received(Ack(state.probe.seq), ("10.0.0.3", 7946)))
    seq = state.probe.seq
    state, effects = handle(ctx, state, now + ctx.config.probe_timeout, ev.ProbeTimeout(seq))
    asked = [m for _, m in _sent(effects) if isinstance(m, IndirectPing)]
    assert len(asked) == 2
    assert all(m.nack == (helper_pmax >= 4) for m in asked)
    if nacks:
        for m in asked:
            if m.nack:
                state, _ = handle(ctx, state, now + 0.6, ev.Received(Nack(seq), ("10.0.0.3", 7946)))
    before = state.membership.awareness
    state, effects = handle(ctx, state, state.probe.deadline, ev.ProbeDeadline(seq))
    assert state.counters.failed_probes == 1
    assert state.membership.awareness - before == penalty
    assert state.membership.members["target"].state == NodeState.SUSPECT
    assert state.queue.transmits_of("target") == 0  # the suspicion waits to be gossiped
