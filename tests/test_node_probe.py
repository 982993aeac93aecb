"""Probing: indirect probes, TCP fallback, refutation, the buddy system, awareness."""

from __future__ import annotations

import trio
import trio.testing
from node_support import (
    RawPeer,
    base_config,
    converged,
    convergence_bound,
    peek,
    sees,
    start_cluster,
    wait_for,
)

from trio_gossip.core.membership.member import ip_bytes
from trio_gossip.core.membership.suspicion import suspicion_timeout
from trio_gossip.shell.memberlist import Memberlist
from trio_gossip.transport.memory import MemoryNetwork
from trio_gossip.wire.messages import Alive, NodeState, Ping, Suspect


def _rt(node: Memberlist):  # type: ignore[no-untyped-def]
    return node._rt


async def test_indirect_probe_saves_node_with_cut_direct_link(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork(seed=11)
    config = base_config()
    async with start_cluster(net, 3, config) as (a, b, c):
        await wait_for(lambda: converged([a, b, c]), convergence_bound(config, 3))
        ha, hb = a.local_member.host, b.local_member.host
        # Cut UDP and TCP both ways between a and b; c can still reach both.
        net.block(ha, hb, udp=True, tcp=True)
        net.block(hb, ha, udp=True, tcp=True)
        for _ in range(40):
            await trio.sleep(config.probe_interval / 2)
            assert sees(a, "n1", NodeState.ALIVE)
            assert sees(b, "n0", NodeState.ALIVE)
        stats = a.statistics()
        assert stats.indirect_probes >= 5
        assert stats.suspicions == 0
        assert c.statistics().indirect_relays >= 5


async def test_tcp_fallback_saves_node_when_udp_is_cut(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork(seed=12)
    config = base_config(indirect_checks=0)
    async with start_cluster(net, 2, config) as (a, b):
        net.block(a.local_member.host, b.local_member.host, udp=True, tcp=False)
        await trio.sleep(20 * config.probe_interval)
        assert sees(a, "n1", NodeState.ALIVE)
        stats = a.statistics()
        assert stats.tcp_fallback_successes >= 5
        assert stats.suspicions == 0
    # With TCP pings disabled, the same cut leads to a suspicion.
    net = MemoryNetwork(seed=13)
    config = base_config(indirect_checks=0, disable_tcp_pings=True)
    async with start_cluster(net, 2, config) as (a, b):
        net.block(a.local_member.host, b.local_member.host, udp=True, tcp=False)
        await trio.sleep(5 * config.probe_interval)
        assert a.statistics().tcp_fallback_pings == 0
        assert a.statistics().suspicions >= 1


async def test_falsely_suspected_node_refutes(autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork(seed=14)
    config = base_config()
    async with start_cluster(net, 3, config) as nodes, trio.open_nursery() as nursery:
        await wait_for(lambda: converged(nodes), convergence_bound(config, 3))
        raw = RawPeer(net.add_node())
        await nursery.start(raw.serve)
        # Someone tells n0 that n1 looks dead.
        await raw.send(nodes[0].local_member.address, Suspect(1, "n1", "liar"))
        await wait_for(lambda: nodes[1].statistics().refutations >= 1, convergence_bound(config, 3))
        await wait_for(
            lambda: all(
                sees(n, "n1", NodeState.ALIVE) and peek(n, "n1").incarnation >= 2 for n in nodes
            ),
            convergence_bound(config, 3),
        )
        # Refuted well before the suspicion could have run out; nobody saw it die.
        assert all(sees(n, "n1", NodeState.ALIVE) for n in nodes)
        nursery.cancel_scope.cancel()


async def test_buddy_ping_carries_the_suspicion(autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork(seed=15)
    config = base_config(gossip_interval=0.0, push_pull_interval=0.0)
    async with start_cluster(net, 1, config) as (a,), trio.open_nursery() as nursery:
        raw = RawPeer(net.add_node())
        await nursery.start(raw.serve)
        host, port = raw.address
        vsn = config.build_vsn()
        await raw.send(a.local_member.address, Alive(1, "buddy", ip_bytes(host), port, None, vsn))
        await wait_for(lambda: sees(a, "buddy", NodeState.ALIVE), 1.0)
        await raw.send(a.local_member.address, Suspect(1, "buddy", "someone"))
        await wait_for(lambda: sees(a, "buddy", NodeState.SUSPECT), 1.0)
        raw.received.clear()
        await wait_for(lambda: any(isinstance(m[0], Ping) for m, _ in raw.received),
                       2 * config.probe_interval)  # fmt: skip
        msgs = next(m for m, _ in raw.received if isinstance(m[0], Ping))
        # Exactly [ping, suspect about the target from the prober], nothing piggybacked.
        assert len(msgs) == 2
        assert msgs[1] == Suspect(1, "buddy", "n0")
        nursery.cancel_scope.cancel()


async def test_buddy_system_lets_suspect_refute_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork(seed=16)
    # No gossip loop and no push/pull: only probes (and what they carry) reach n1.
    config = base_config(gossip_interval=0.0, push_pull_interval=0.0)
    async with start_cluster(net, 2, config) as (a, b), trio.open_nursery() as nursery:
        raw = RawPeer(net.add_node())
        await nursery.start(raw.serve)
        await raw.send(a.local_member.address, Suspect(1, "n1", "liar"))
        await wait_for(lambda: sees(a, "n1", NodeState.SUSPECT), 1.0)
        took = await wait_for(
            lambda: sees(a, "n1", NodeState.ALIVE) and peek(a, "n1").incarnation == 2,
            3 * config.probe_interval,
        )
        assert took < suspicion_timeout(config.suspicion_mult, 2, config.probe_interval)
        assert b.statistics().refutations == 1
        nursery.cancel_scope.cancel()


async def test_awareness_rises_without_acks_and_decays_after(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork(seed=17)
    # A long suspicion so the partition heals before anyone is declared dead.
    config = base_config(suspicion_mult=30, push_pull_interval=0.0)
    async with start_cluster(net, 3, config) as (a, b, c):
        await wait_for(lambda: converged([a, b, c]), convergence_bound(config, 3))
        assert a.health_score == 0
        net.partition([a.local_member.host], [b.local_member.host, c.local_member.host])
        await wait_for(lambda: a.health_score >= 3, 20 * config.probe_interval)
        net.heal()
        # Each successful probe takes one point off; at score s a round lasts (s+1) intervals.
        bound = sum(s + 1 for s in range(config.awareness_max_multiplier)) * config.probe_interval
        await wait_for(lambda: a.health_score == 0, bound + 2 * config.probe_interval)
        assert all(sees(n, x, NodeState.ALIVE) for n in (a, b, c) for x in ("n0", "n1", "n2"))
