"""Node behaviour on a simulated network: join, failure detection, leave, messages, metadata."""

from __future__ import annotations

import attrs
import trio
import trio.testing
from node_support import (
    RawPeer,
    Recorder,
    base_config,
    converged,
    convergence_bound,
    detection_bound,
    peek,
    sees,
    start_cluster,
    wait_for,
)

from trio_gossip import EventKind, open_memberlist
from trio_gossip.core.membership.suspicion import suspicion_timeout
from trio_gossip.transport.memory import MemoryNetwork
from trio_gossip.wire.messages import NodeState, Ping


async def test_three_nodes_join_and_converge(autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork(seed=1)
    config = base_config()
    async with start_cluster(net, 3, config) as nodes:
        await wait_for(lambda: converged(nodes), convergence_bound(config, 3))
        for node in nodes:
            names = sorted(m.name for m in node.members())
            assert names == ["n0", "n1", "n2"]
            assert all(m.incarnation == 1 for m in node.members())
            assert node.local_member.state == NodeState.ALIVE
        # Addresses are the advertised ones, byte for byte the same everywhere.
        addr = nodes[2].local_member.addr
        assert all(peek(node, "n2").addr == addr for node in nodes)


async def test_killed_node_is_declared_dead_within_bound(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork(seed=2)
    config = base_config()
    n = 5
    async with start_cluster(net, n, config) as nodes:
        await wait_for(lambda: converged(nodes), convergence_bound(config, n))
        events = nodes[0].events(replay=False)
        victim = nodes[-1]
        net.kill(victim.local_member.host)
        live = nodes[:-1]
        took = await wait_for(
            lambda: all(sees(node, victim.local_member.name, NodeState.DEAD) for node in live),
            detection_bound(config, n),
        )
        # Not before the shortest possible suspicion has run out.
        assert took >= suspicion_timeout(config.suspicion_mult, n, config.probe_interval)
        assert all(node.num_members() == n - 1 for node in live)
        event = await events.__anext__()
        assert (event.kind, event.member.name) == (EventKind.FAILED, "n4")
        assert sum(node.statistics().suspicions for node in live) >= 1


async def test_left_node_is_left_not_dead_and_name_can_rejoin(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork(seed=3)
    config = base_config()
    async with start_cluster(net, 2, config) as nodes:
        events = nodes[0].events(replay=False)
        async with open_memberlist(attrs.evolve(config, name="leaver"),
                                   transport=net.add_node()) as leaver:  # fmt: skip
            await leaver.join([nodes[0].local_member.address])
            await wait_for(lambda: converged([*nodes, leaver]), convergence_bound(config, 3))
        # Leaving the block left gracefully: every peer has it as Left at once-ish.
        await wait_for(lambda: all(sees(n, "leaver", NodeState.LEFT) for n in nodes),
                       convergence_bound(config, 3))  # fmt: skip
        kinds = [e.kind async for e in _take(events, 2)]
        assert kinds == [EventKind.JOINED, EventKind.LEFT]

        # Same name, new address: accepted because the old one left.
        async with open_memberlist(attrs.evolve(config, name="leaver"),
                                   transport=net.add_node()) as again:  # fmt: skip
            await again.join([nodes[0].local_member.address])
            await wait_for(
                lambda: all(
                    sees(n, "leaver", NodeState.ALIVE)
                    and peek(n, "leaver").address == again.local_member.address
                    for n in nodes
                ),
                convergence_bound(config, 3),
            )


async def test_dead_name_reclaimed_only_after_reclaim_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork(seed=4)
    config = base_config(dead_node_reclaim_time=20.0, gossip_to_the_dead_time=1000.0)
    async with start_cluster(net, 3, config) as nodes:
        await wait_for(lambda: converged(nodes), convergence_bound(config, 3))
        net.kill(nodes[2].local_member.host)
        await wait_for(lambda: sees(nodes[0], "n2", NodeState.DEAD), detection_bound(config, 3))
        died = trio.current_time()
        async with open_memberlist(attrs.evolve(config, name="n2"),
                                   transport=net.add_node()) as again:  # fmt: skip
            await again.join([nodes[0].local_member.address])
            assert sees(nodes[0], "n2", NodeState.DEAD)  # too early: address conflict
            assert nodes[0].statistics().conflicts >= 1
            await trio.sleep_until(died + config.dead_node_reclaim_time + 0.1)
            await again.join([nodes[0].local_member.address])
            await wait_for(
                lambda: (
                    sees(nodes[0], "n2", NodeState.ALIVE)
                    and peek(nodes[0], "n2").address == again.local_member.address
                ),
                convergence_bound(config, 3),
            )


async def test_user_messages_best_effort_and_reliable(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork(seed=5)
    recorders = [Recorder(), Recorder()]
    async with start_cluster(net, 2, delegates=recorders) as (a, b):
        await a.send_best_effort("n1", b"udp hello")
        await a.send_reliable(b.local_member, b"tcp hello" * 500)
        await wait_for(lambda: len(recorders[1].messages) == 2, 1.0)
        assert sorted(recorders[1].messages) == sorted([b"udp hello", b"tcp hello" * 500])
        assert b.statistics().user_messages_received == 2


async def test_metadata_update_propagates(autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork(seed=6)
    config = base_config(meta=b"v1")
    async with start_cluster(net, 3, config) as nodes:
        await wait_for(lambda: converged(nodes), convergence_bound(config, 3))
        assert peek(nodes[1], "n0").meta == b"v1"
        events = nodes[2].events(replay=False)
        assert await nodes[0].update_metadata(b"role=db", timeout=10.0)
        assert nodes[0].local_member.incarnation == 2
        await wait_for(
            lambda: all(peek(n, "n0").meta == b"role=db" for n in nodes),
            convergence_bound(config, 3),
        )
        event = await events.__anext__()
        assert (event.kind, event.member.name, event.member.meta) == (
            EventKind.UPDATED, "n0", b"role=db")  # fmt: skip


async def test_bad_packet_is_counted_not_fatal(autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork(seed=7)
    async with start_cluster(net, 2) as (a, b), trio.open_nursery() as nursery:
        raw = RawPeer(net.add_node())
        await nursery.start(raw.serve)
        await raw.transport.send_packet(a.local_member.address, b"\x07\xff\x00garbage")
        await raw.transport.send_packet(a.local_member.address, b"")
        await wait_for(lambda: a.statistics().bad_packets == 2, 1.0)
        # Still answering: a ping from the raw peer is acked at its source address.
        await raw.send(a.local_member.address, Ping(77, "n0"))
        await wait_for(lambda: any(msgs and getattr(msgs[0], "seq_no", None) == 77
                                   for msgs, _ in raw.received), 1.0)  # fmt: skip
        # A ping meant for another name is ignored.
        await raw.send(a.local_member.address, Ping(78, "someone-else"))
        await trio.sleep(1.0)
        assert not any(getattr(msgs[0], "seq_no", None) == 78 for msgs, _ in raw.received)
        assert await b.ping("n0") is not None
        nursery.cancel_scope.cancel()


async def _take(stream: object, count: int):  # type: ignore[no-untyped-def]
    for _ in range(count):
        yield await stream.__anext__()  # type: ignore[attr-defined]
