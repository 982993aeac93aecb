"""MemoryNetwork faults: partition and heal, one-way blocks, pause/resume, slow, kill, close."""

from __future__ import annotations

import errno
from collections.abc import Sequence

import pytest
import trio
from transport_support import Node, read_all, serving

from trio_gossip.transport import LinkConfig, MemoryNetwork, TransportError
from trio_gossip.transport.memory import PAUSE_BUFFER
from trio_gossip.transport.memory_transport import CONNECT_TIMEOUT


async def _exchange(nodes: Sequence[Node], tag: bytes) -> None:
    """Every node sends ``tag`` to every other node."""
    for src in nodes:
        for dst in nodes:
            if src is not dst:
                await src.transport.send_packet(dst.address, tag)
    await trio.sleep(0.05)


def _heard(node: Node, tag: bytes) -> set[str]:
    return {x.src[0] for x in node.inbox.arrivals if x.data == tag}


async def test_partition_splits_groups_and_heal_rejoins(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork()
    async with serving(net, 4) as nodes:
        a, b, c, outsider = nodes
        net.partition([a.host], [b.host, c.host])
        await _exchange(nodes, b"split")
        assert _heard(a, b"split") == {outsider.host}
        assert _heard(b, b"split") == {c.host, outsider.host}
        assert _heard(outsider, b"split") == {a.host, b.host, c.host}
        assert net.statistics().dropped_partition == 4  # a<->b, a<->c
        with trio.move_on_after(5) as dial_wait:
            await a.transport.open_stream(b.address)
        assert dial_wait.cancelled_caught  # a SYN into a partition just goes unanswered
        net.heal()
        await _exchange(nodes, b"healed")
        assert _heard(a, b"healed") == {b.host, c.host, outsider.host}
        stream = await a.transport.open_stream(b.address)
        await stream.aclose()


async def test_a_dial_into_a_partition_times_out_by_itself(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork()
    async with serving(net, 2) as (a, b):
        net.partition([a.host], [b.host])
        start = trio.current_time()
        with pytest.raises(TransportError) as info:
            await a.transport.open_stream(b.address)
        assert info.value.errno == errno.ETIMEDOUT
        assert trio.current_time() - start == pytest.approx(CONNECT_TIMEOUT)


async def test_one_way_udp_block_leaves_tcp_and_the_reverse_path(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork()
    async with serving(net, 2) as (a, b):
        net.block(a.host, b.host, udp=True, tcp=False)
        await _exchange((a, b), b"udp")
        assert _heard(b, b"udp") == set()
        assert _heard(a, b"udp") == {b.host}
        assert net.statistics().dropped_blocked == 1
        stream = await a.transport.open_stream(b.address)  # the TCP fallback path still works
        await stream.send_all(b"over tcp")
        assert await stream.receive_some() == b"OVER TCP"
        await stream.aclose()
        net.block(a.host, b.host, udp=False, tcp=True)
        with trio.move_on_after(2) as dial_wait:
            await b.transport.open_stream(a.address)  # the SYN-ACK would cross the block
        assert dial_wait.cancelled_caught
        net.unblock(a.host, b.host)
        await _exchange((a, b), b"open")
        assert _heard(b, b"open") == {a.host}


async def test_a_tcp_block_raised_while_a_syn_travels_stalls_the_dial(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The Router judges a dial's path when it leaves and again when it arrives."""
    net = MemoryNetwork(default_link=LinkConfig(latency=0.02), resolution=0.0)
    async with serving(net, 2) as (a, b), trio.open_nursery() as nursery:

        async def block_midway() -> None:
            await trio.sleep(0.01)  # the SYN is halfway
            net.block(b.host, a.host, udp=False, tcp=True)

        nursery.start_soon(block_midway)
        with trio.move_on_after(2) as dial_wait:
            await a.transport.open_stream(b.address)
        assert dial_wait.cancelled_caught
        assert net.statistics().streams_opened == 0


async def test_pause_holds_traffic_and_resume_delivers_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork()
    async with serving(net, 2) as (a, b), trio.open_nursery() as nursery:
        net.pause(b.host)
        for i in range(5):
            await a.transport.send_packet(b.address, b"%d" % i)
        sent_by_b = trio.Event()

        async def frozen_sender() -> None:
            await b.transport.send_packet(a.address, b"from b")
            sent_by_b.set()

        nursery.start_soon(frozen_sender)
        await trio.sleep(30)
        assert b.inbox.arrivals == []
        assert not sent_by_b.is_set()
        assert net.statistics().packets_held == 5
        resumed_at = trio.current_time()
        net.resume(b.host)
        await trio.sleep(0.05)
        assert b.inbox.payloads == [b"0", b"1", b"2", b"3", b"4"]
        assert all(x.at - resumed_at <= net.resolution for x in b.inbox.arrivals)
        assert sent_by_b.is_set()
        assert a.inbox.payloads == [b"from b"]


async def test_a_paused_host_drops_the_oldest_past_its_buffer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork()
    async with serving(net, 2) as (a, b):
        net.pause(b.host)
        for i in range(PAUSE_BUFFER + 200):
            await a.transport.send_packet(b.address, b"%d" % i)
        await trio.sleep(1)
        stats = net.statistics()
        assert (stats.packets_held, stats.dropped_overflow) == (PAUSE_BUFFER, 200)
        net.resume(b.host)
        await trio.sleep(0.01)
    assert [int(p) for p in b.inbox.payloads] == list(range(200, PAUSE_BUFFER + 200))


async def test_pause_holds_stream_bytes_until_resume(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork()
    async with serving(net, 2) as (a, b):
        stream = await a.transport.open_stream(b.address)
        net.pause(b.host)
        await stream.send_all(b"hello")
        with trio.move_on_after(10):
            await stream.receive_some()
            pytest.fail("a paused host answered")
        net.resume(b.host)
        with trio.fail_after(1):
            assert await stream.receive_some() == b"HELLO"
        await stream.aclose()


async def test_slow_host_handles_deliveries_late(autojump_clock: trio.testing.MockClock) -> None:
    link = LinkConfig(latency=0.01)
    net = MemoryNetwork(default_link=link, resolution=0.0)
    async with serving(net, 2) as (a, b):
        net.slow(b.host, 0.25)
        start = trio.current_time()
        await a.transport.send_packet(b.address, b"late")
        await b.transport.send_packet(a.address, b"on time")
        stream = await a.transport.open_stream(b.address)
        await trio.sleep(1)
        assert b.inbox.arrivals[0].at - start == pytest.approx(0.26)
        assert a.inbox.arrivals[0].at - start == pytest.approx(0.01)
        await stream.aclose()
        net.slow(b.host, 0)
        start = trio.current_time()
        await a.transport.send_packet(b.address, b"fast again")
        await trio.sleep(1)
        assert b.inbox.arrivals[1].at - start == pytest.approx(0.01)


async def test_kill_silences_a_host_and_resets_its_streams(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork()
    async with serving(net, 3) as (a, b, c):
        stream = await a.transport.open_stream(b.address)
        await stream.send_all(b"before")
        assert await stream.receive_some() == b"BEFORE"
        net.kill(b.host)
        await a.transport.send_packet(b.address, b"to the dead")
        await b.transport.send_packet(c.address, b"from the dead")  # vanishes, no error
        await trio.sleep(0.1)
        assert b.inbox.payloads == []
        assert c.inbox.payloads == []
        with pytest.raises(trio.BrokenResourceError):
            await stream.receive_some()
        with pytest.raises(TransportError) as info:
            await a.transport.open_stream(b.address)
        assert info.value.errno == errno.ECONNREFUSED
        stats = net.statistics()
        assert (stats.dropped_killed, stats.streams_reset, stats.streams_refused) == (2, 1, 1)
        await stream.aclose()
        # Restarting the node on the same address is a new transport that works.
        async with trio.open_nursery() as nursery:
            reborn = net.add_node(b.address)
            await nursery.start(reborn.serve, b.inbox, _upper_once)
            await a.transport.send_packet(b.address, b"welcome back")
            await trio.sleep(0.1)
            assert b.inbox.payloads == [b"welcome back"]
            nursery.cancel_scope.cancel()


async def _upper_once(stream: trio.abc.Stream, peer: tuple[str, int]) -> None:
    await stream.send_all((await read_all(stream)).upper())


async def test_kill_of_a_paused_host_frees_its_blocked_senders(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork()
    async with serving(net, 2) as (a, b):
        net.pause(b.host)
        await a.transport.send_packet(b.address, b"held")
        with trio.move_on_after(1):
            await b.transport.send_packet(a.address, b"blocked")
        net.kill(b.host)
        with trio.fail_after(1):
            await b.transport.send_packet(a.address, b"dead")
        await trio.sleep(0.1)
        assert a.inbox.payloads == []
        assert net.statistics().dropped_killed == 2  # the held packet and the dead one


async def test_aclose_frees_the_address_and_ends_serve(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork()
    a, b = net.add_node(), net.add_node()
    async with trio.open_nursery() as nursery:
        await nursery.start(b.serve, lambda d, s: None, _upper_once)
        await b.aclose()
        await b.aclose()  # idempotent
        await trio.testing.wait_all_tasks_blocked()
        assert not b.serving
        with pytest.raises(TransportError):
            await b.send_packet(a.local_address, b"x")
        with pytest.raises(TransportError):
            await b.open_stream(a.local_address)
        with pytest.raises(TransportError):
            await b.serve(lambda d, s: None, _upper_once)
        with pytest.raises(TransportError) as info:
            await a.open_stream(b.local_address)
        assert info.value.errno == errno.ECONNREFUSED
        again = net.add_node(b.local_address)
        assert again.local_address == b.local_address
        nursery.cancel_scope.cancel()
