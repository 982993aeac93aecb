"""MemoryNetwork packets: delay bounds, loss, duplication, reordering, determinism, statistics."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable

import pytest
import trio
from transport_support import serving, start_node

from trio_gossip.transport import (
    Address,
    LinkConfig,
    MemoryNetwork,
    MemoryTransport,
    NetworkStatistics,
)
from trio_gossip.wire.errors import ConfigError


def _balanced(stats: NetworkStatistics) -> bool:
    return (
        stats.packets_sent + stats.packets_duplicated
        == stats.packets_delivered
        + stats.packets_dropped
        + stats.packets_in_flight
        + stats.packets_held
    )


@pytest.mark.parametrize("resolution", [0.0, 0.001, 0.01])
async def test_delay_stays_within_latency_jitter_and_resolution(
    autojump_clock: trio.testing.MockClock, resolution: float
) -> None:
    link = LinkConfig(latency=0.05, jitter=0.02)
    net = MemoryNetwork(seed=1, default_link=link, resolution=resolution)
    async with serving(net, 2) as (a, b):
        sent_at: dict[bytes, float] = {}
        for i in range(300):
            payload = b"%d" % i
            sent_at[payload] = trio.current_time()
            await a.transport.send_packet(b.address, payload)
            await trio.sleep(0.0037)
        await trio.sleep(1)
    delays = [x.at - sent_at[x.data] for x in b.inbox.arrivals]
    assert len(delays) == 300
    assert min(delays) >= link.latency - 1e-9
    assert max(delays) <= link.latency + link.jitter + resolution + 1e-9
    # Jitter is drawn, not constant: the delays spread over most of the window.
    assert max(delays) - min(delays) > 0.8 * link.jitter
    assert all(x.src == a.address for x in b.inbox.arrivals)


async def test_zero_latency_link_delivers_without_advancing_the_clock(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork(default_link=LinkConfig(latency=0.0), resolution=0.0)
    async with serving(net, 2) as (a, b):
        start = trio.current_time()
        await a.transport.send_packet(b.address, b"now")
        await trio.testing.wait_all_tasks_blocked()
        assert b.inbox.payloads == [b"now"]
        assert b.inbox.arrivals[0].at == start


async def test_loss_rate_matches_configuration(autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork(seed=7, default_link=LinkConfig(loss=0.3))
    async with serving(net, 2) as (a, b):
        for i in range(5000):
            await a.transport.send_packet(b.address, b"%d" % i)
        await trio.sleep(0.1)
    received = len(b.inbox.arrivals)
    # Binomial(5000, 0.7): sd ~ 32 packets, the bound is ~5 sd.
    assert abs(received / 5000 - 0.7) < 0.03
    stats = net.statistics()
    assert stats.dropped_loss == 5000 - received
    assert stats.packets_delivered == received
    assert _balanced(stats)


async def test_duplicates_arrive_twice_at_most(autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork(seed=3, default_link=LinkConfig(duplicate=0.2, jitter=0.01))
    async with serving(net, 2) as (a, b):
        for i in range(2000):
            await a.transport.send_packet(b.address, b"%d" % i)
        await trio.sleep(0.1)
    counts: dict[bytes, int] = {}
    for payload in b.inbox.payloads:
        counts[payload] = counts.get(payload, 0) + 1
    assert len(counts) == 2000
    assert set(counts.values()) == {1, 2}
    twice = sum(1 for c in counts.values() if c == 2)
    assert abs(twice / 2000 - 0.2) < 0.04
    stats = net.statistics()
    assert stats.packets_duplicated == twice
    assert _balanced(stats)


async def test_reordering_lets_later_packets_overtake(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def arrival_order(reorder: float) -> list[int]:
        link = LinkConfig(reorder=reorder, reorder_delay=0.02)
        net = MemoryNetwork(seed=5, default_link=link)
        async with serving(net, 2) as (a, b):
            for i in range(500):
                await a.transport.send_packet(b.address, b"%d" % i)
                await trio.sleep(0.001)
            await trio.sleep(0.1)
        return [int(p) for p in b.inbox.payloads]

    in_order = await arrival_order(0.0)
    assert in_order == list(range(500))
    shuffled = await arrival_order(0.2)
    assert sorted(shuffled) == list(range(500))  # nothing lost, nothing extra
    overtaken = sum(1 for x, y in itertools.pairwise(shuffled) if x > y)
    assert 20 < overtaken < 150


async def _trace(seed: int) -> list[tuple[float, str, bytes, str]]:
    link = LinkConfig(latency=0.002, jitter=0.003, loss=0.1, duplicate=0.1, reorder=0.1)
    net = MemoryNetwork(seed=seed, default_link=link)
    trace: list[tuple[float, str, bytes, str]] = []
    # Both runs share one Trio run: start each on the same phase of the delivery grid.
    start = math.ceil(trio.current_time()) + 1.0
    await trio.sleep_until(start)
    async with serving(net, 5) as nodes:
        picker = random.Random(99)  # the program's own choices, identical in both runs
        for i in range(400):
            src, dst = picker.sample(list(nodes), 2)
            await src.transport.send_packet(dst.address, b"%d" % i)
            await trio.sleep(picker.random() * 0.002)
        await trio.sleep(0.1)
    for node in nodes:
        for x in node.inbox.arrivals:
            trace.append((round(x.at - start, 9), node.host, x.data, x.src[0]))
    return sorted(trace)


async def test_same_seed_same_history(autojump_clock: trio.testing.MockClock) -> None:
    first = await _trace(42)
    second = await _trace(42)
    assert first == second
    assert len(first) > 300
    assert await _trace(43) != first


async def test_packets_to_a_node_not_serving_are_dropped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork()
    idle = net.add_node()
    async with serving(net, 1) as (a,):
        await a.transport.send_packet(idle.local_address, b"nobody home")
        await a.transport.send_packet(("10.99.0.1", 7946), b"no such host")
        await trio.sleep(0.1)
        assert net.statistics().dropped_no_listener == 2
        async with trio.open_nursery() as nursery:
            late = await start_node(nursery, idle)
            await a.transport.send_packet(idle.local_address, b"now serving")
            await trio.sleep(0.1)
            nursery.cancel_scope.cancel()
    assert late.inbox.payloads == [b"now serving"]


async def test_a_raising_handler_is_counted_and_delivery_goes_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork()
    a, b = net.add_node(), net.add_node()
    seen: list[bytes] = []

    def fragile(data: bytes, src: tuple[str, int]) -> None:
        seen.append(data)
        if data == b"boom":
            raise ValueError("handler bug")

    async def no_streams(stream: trio.abc.Stream, peer: tuple[str, int]) -> None:
        pass

    async with trio.open_nursery() as nursery:
        await nursery.start(b.serve, fragile, no_streams)
        for payload in (b"one", b"boom", b"two"):
            await a.send_packet(b.local_address, payload)
        await trio.sleep(0.1)
        nursery.cancel_scope.cancel()
    assert seen == [b"one", b"boom", b"two"]
    assert net.statistics().handler_errors == 1
    assert b.statistics().handler_errors == 1
    assert b.statistics().packets_received == 3


async def test_delivery_continues_when_the_pumping_node_stops(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork()
    async with serving(net, 3) as (first, b, c):
        first.scope.cancel()  # the first server hosts the pump; the others must take over
        await trio.sleep(0.01)
        await b.transport.send_packet(c.address, b"still moving")
        await trio.sleep(0.01)
        assert c.inbox.payloads == [b"still moving"]
        assert not first.transport.serving


async def test_transport_statistics_count_both_ends(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork()
    async with serving(net, 2) as (a, b):
        await a.transport.send_packet(b.address, b"12345")
        await a.transport.send_packet(b.address, bytearray(b"678"))  # type: ignore[arg-type]
        await trio.sleep(0.01)
    sent, received = a.transport.statistics(), b.transport.statistics()
    assert (sent.packets_sent, sent.bytes_sent) == (2, 8)
    assert (received.packets_received, received.bytes_received) == (2, 8)
    assert b.inbox.payloads == [b"12345", b"678"]
    assert all(type(p) is bytes for p in b.inbox.payloads)


async def test_corruption_flips_one_bit_of_a_copy(autojump_clock: trio.testing.MockClock) -> None:
    link = LinkConfig(corrupt=0.25, duplicate=0.1)
    net = MemoryNetwork(seed=11, default_link=link)
    payload = bytes(range(64))
    async with serving(net, 2) as (a, b):
        for _ in range(2000):
            await a.transport.send_packet(b.address, payload)
            await a.transport.send_packet(b.address, b"")  # no bit to flip: arrives as sent
        await trio.sleep(0.1)
    arrived = [p for p in b.inbox.payloads if p]
    assert b.inbox.payloads.count(b"") >= 2000
    flipped = [p for p in arrived if p != payload]
    for p in flipped:
        diff = int.from_bytes(p, "big") ^ int.from_bytes(payload, "big")
        assert diff.bit_count() == 1
    stats = net.statistics()
    assert stats.packets_corrupted == len(flipped)
    # Each copy, duplicates included, draws its own fate: Binomial(~2200, 0.25), sd ~ 20.
    assert abs(len(flipped) / len(arrived) - 0.25) < 0.04
    assert _balanced(stats)


async def test_a_non_canonical_spelling_reaches_the_node(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork()
    async with trio.open_nursery() as nursery:
        six = await start_node(nursery, net.add_node(("fd00::5", 7000)))
        sender = net.add_node()
        await sender.send_packet(("fd00:0:0::5", 7000), b"as a socket would")
        await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    assert six.inbox.payloads == [b"as a socket would"]


def test_add_node_allocates_and_validates_addresses() -> None:
    net = MemoryNetwork()
    hosts = [net.add_node().local_address for _ in range(300)]
    assert hosts[0] == ("10.0.0.1", 7946)
    assert len(set(hosts)) == 300
    assert all(not h.endswith((".0", ".255")) for h, _ in hosts)
    six = net.add_node(("fd00:0:0::5", 7000))
    assert six.local_address == ("fd00::5", 7000)
    with pytest.raises(ConfigError, match="in use"):
        net.add_node(("fd00::5", 7000))
    with pytest.raises(ConfigError):
        net.add_node(("my-host.example", 7946))
    with pytest.raises(ConfigError):
        net.add_node(("10.1.1.1", 0))


@pytest.mark.parametrize(
    ("field", "value"),
    [("latency", -0.1), ("jitter", float("nan")), ("loss", 1.5), ("duplicate", -1e-9),
     ("reorder", 2), ("reorder_delay", float("inf")), ("loss", True)],
)  # fmt: skip
def test_link_config_names_the_bad_field(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=f"LinkConfig.{field}"):
        LinkConfig(**{field: value})


def test_network_configuration_is_validated() -> None:
    with pytest.raises(ConfigError, match="resolution"):
        MemoryNetwork(resolution=-1)
    net = MemoryNetwork()
    with pytest.raises(ConfigError, match="slow"):
        net.slow("10.0.0.1", -1)
    with pytest.raises(ConfigError, match="more than one"):
        net.partition(["10.0.0.1"], ["10.0.0.2", "10.0.0.1"])
    with pytest.raises(ConfigError, match="IP address"):
        net.set_link("earth", "mars", LinkConfig())
    net.set_default_link(LinkConfig(loss=0.5))
    assert net.default_link.loss == 0.5


async def _concurrent_trace(seed: int) -> list[tuple[float, str, bytes, str]]:
    """Five sender tasks that wake at the very same instants: Trio may run them in any order."""
    link = LinkConfig(latency=0.001, jitter=0.002, loss=0.2, duplicate=0.1)
    net = MemoryNetwork(seed=seed, default_link=link)
    start = math.ceil(trio.current_time()) + 1.0
    await trio.sleep_until(start)
    trace: list[tuple[float, str, bytes, str]] = []

    def recorder(host: str) -> Callable[[bytes, Address], None]:
        def on_packet(data: bytes, src: Address) -> None:
            trace.append((round(trio.current_time() - start, 9), host, data, src[0]))

        return on_packet

    async def sender(me: MemoryTransport, peers: list[Address], picker: random.Random) -> None:
        for i in range(60):
            await trio.sleep(0.01)
            await me.send_packet(picker.choice(peers), b"%s:%d" % (me.host.encode(), i))

    async def no_streams(stream: trio.abc.Stream, peer: Address) -> None:
        pass

    transports = [net.add_node() for _ in range(5)]
    async with trio.open_nursery() as nursery:
        for t in transports:
            await nursery.start(t.serve, recorder(t.host), no_streams)
        async with trio.open_nursery() as senders:
            for i, t in enumerate(transports):
                peers = [p.local_address for p in transports if p is not t]
                senders.start_soon(sender, t, peers, random.Random(i))
        await trio.sleep(0.1)
        nursery.cancel_scope.cancel()
    return trace  # in delivery order, not sorted


async def test_history_does_not_depend_on_task_scheduling_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    first = await _concurrent_trace(8)
    for _ in range(3):
        assert await _concurrent_trace(8) == first
