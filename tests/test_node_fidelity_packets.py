"""Fidelity of the packet receive path against memberlist's handleCommand:
compound parts are handled one by one, and gossip goes through two bounded hand-off queues
(alive first, newest first)."""

from __future__ import annotations

import trio
import trio.testing
from fidelity_support import Reply, ScriptedPeer
from node_support import Recorder, base_config, sees, start_cluster, wait_for

from trio_gossip import EventKind
from trio_gossip.core.membership.member import ip_string
from trio_gossip.transport.memory import MemoryNetwork
from trio_gossip.wire import encode_message
from trio_gossip.wire.messages import Ack, NodeState, PacketMessage, Ping, Suspect, User
from trio_gossip.wire.packet import make_compound

UNKNOWN_TYPE = b"\x0e\x80"  # a message type from the future: Go logs it and goes on


async def test_bad_compound_part_does_not_drop_the_good_ones(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork(seed=111)
    async with start_cluster(net, 1) as (a,), trio.open_nursery() as nursery:
        peer = ScriptedPeer(net.add_node())
        await nursery.start(peer.serve)
        to = a.local_member.address
        await peer.send(to, peer.alive("x"), UNKNOWN_TYPE)
        await wait_for(lambda: sees(a, "x", NodeState.ALIVE), 1.0)
        assert a.statistics().bad_packets == 1
        # A truncated compound: the parts before the cut are still handled.
        other = ScriptedPeer(net.add_node())
        compound = make_compound([encode_message(other.alive("y")), encode_message(Ping(9))])
        await other.send_raw(to, compound[:-3])
        await wait_for(lambda: sees(a, "y", NodeState.ALIVE), 1.0)
        assert a.statistics().bad_packets == 2
        nursery.cancel_scope.cancel()


async def test_ack_piggybacked_with_a_bad_part_still_counts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A peer's ack arrives in a compound next to a part we cannot read: the probe succeeds."""

    def ack_with_junk(msg: PacketMessage, addr: tuple[str, int]) -> Reply:
        if isinstance(msg, Ping):
            to = (ip_string(msg.source_addr), msg.source_port)
            return [(to, [Ack(msg.seq_no), UNKNOWN_TYPE])]
        return []

    net = MemoryNetwork(seed=112)
    config = base_config(push_pull_interval=0.0, disable_tcp_pings=True)
    async with start_cluster(net, 1, config) as (a,), trio.open_nursery() as nursery:
        peer = ScriptedPeer(net.add_node(), script=ack_with_junk)
        await nursery.start(peer.serve)
        await peer.send(a.local_member.address, peer.alive("p"))
        await trio.sleep(10 * config.probe_interval)
        assert len(peer.got(Ping)) >= 5
        assert a.statistics().failed_probes == 0
        assert sees(a, "p", NodeState.ALIVE)
        nursery.cancel_scope.cancel()


async def test_alive_survives_a_flood_of_other_gossip(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Alives have their own hand-off queue: a full suspect/dead queue never drops a join or a
    refutation (memberlist's high-priority queue)."""
    net = MemoryNetwork(seed=113)
    config = base_config()
    async with start_cluster(net, 1, config) as (a,), trio.open_nursery() as nursery:
        peer = ScriptedPeer(net.add_node())
        await nursery.start(peer.serve)
        to = a.local_member.address
        # All of it lands in the same instant, before the node handles any of it.
        for i in range(config.handoff_queue_depth + 100):
            await peer.send(to, Suspect(1, f"ghost-{i}", "accuser"))
        await peer.send(to, peer.alive("fresh"))
        await wait_for(lambda: sees(a, "fresh", NodeState.ALIVE), 1.0)
        assert a.statistics().dropped_messages == 100
        nursery.cancel_scope.cancel()


async def test_alive_is_handled_before_older_suspect(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Queued together, the alive goes first: the suspect about the new node then applies (Go
    ends with the node suspect; first come, first served would ignore the suspect)."""
    net = MemoryNetwork(seed=114)
    async with start_cluster(net, 1) as (a,), trio.open_nursery() as nursery:
        peer = ScriptedPeer(net.add_node())
        await nursery.start(peer.serve)
        to = a.local_member.address
        await peer.send(to, Suspect(1, "x", "accuser"))
        await peer.send(to, peer.alive("x"))
        await wait_for(lambda: sees(a, "x", NodeState.SUSPECT), 1.0)
        nursery.cancel_scope.cancel()


async def test_handoff_is_newest_first(autojump_clock: trio.testing.MockClock) -> None:
    """Two alives about a node queued together: the newer one is handled first (memberlist's
    LIFO hand-off drops stale work under load), so the older one is then ignored as stale."""
    net = MemoryNetwork(seed=115)
    async with start_cluster(net, 1) as (a,), trio.open_nursery() as nursery:
        events = a.events(replay=False)
        peer = ScriptedPeer(net.add_node())
        await nursery.start(peer.serve)
        await peer.send(a.local_member.address, peer.alive("x", 1, b"old"))
        await peer.send(a.local_member.address, peer.alive("x", 2, b"new"))
        await wait_for(lambda: sees(a, "x", NodeState.ALIVE), 1.0)
        await trio.sleep(1.0)
        seen = []
        while True:
            with trio.move_on_after(0.1):
                seen.append(await events.__anext__())
                continue
            break
        about_x = [(e.kind, e.member.meta) for e in seen if e.member.name == "x"]
        assert about_x == [(EventKind.JOINED, b"new")]
        nursery.cancel_scope.cancel()


async def test_user_messages_are_bounded_by_the_handoff_queue(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork(seed=116)
    config = base_config()
    recorder = Recorder()
    async with (
        start_cluster(net, 1, config, delegates=[recorder]) as (a,),
        trio.open_nursery() as nursery,
    ):
        peer = ScriptedPeer(net.add_node())
        await nursery.start(peer.serve)
        for i in range(config.handoff_queue_depth + 50):
            await peer.send(a.local_member.address, User(b"m%d" % i))
        await wait_for(lambda: len(recorder.messages) == config.handoff_queue_depth, 1.0)
        await trio.sleep(1.0)
        assert len(recorder.messages) == config.handoff_queue_depth
        assert a.statistics().dropped_messages == 50
        nursery.cancel_scope.cancel()
