"""MemoryNetwork streams: dial latency, round trips, EOF, refusal, flow control, resets."""

from __future__ import annotations

import errno

import pytest
import trio
from transport_support import read_all, serving, upper_echo

from trio_gossip.transport import LinkConfig, MemoryNetwork, TransportError
from trio_gossip.transport.memory_stream import WINDOW

LATENCY = 0.02


def _net() -> MemoryNetwork:
    return MemoryNetwork(default_link=LinkConfig(latency=LATENCY), resolution=0.0)


async def test_dial_takes_a_round_trip_and_bytes_one_way_each(
    autojump_clock: trio.testing.MockClock,
) -> None:
    peers: list[tuple[str, int]] = []

    async def handler(stream: trio.abc.Stream, peer: tuple[str, int]) -> None:
        peers.append(peer)
        await upper_echo(stream, peer)

    async with serving(_net(), 2, handler) as (a, b):
        start = trio.current_time()
        stream = await a.transport.open_stream(b.address)
        assert trio.current_time() - start == pytest.approx(2 * LATENCY)
        start = trio.current_time()
        await stream.send_all(b"ping")
        assert await stream.receive_some() == b"PING"
        assert trio.current_time() - start == pytest.approx(2 * LATENCY)
        await stream.aclose()
    # Like TCP, the server sees the dialer's ephemeral port, not its serving port.
    assert peers[0][0] == a.host
    assert peers[0][1] >= 32768
    assert a.transport.statistics().streams_opened == 1
    assert b.transport.statistics().streams_accepted == 1


async def test_eof_travels_both_ways(autojump_clock: trio.testing.MockClock) -> None:
    async def reply_after_eof(stream: trio.abc.Stream, peer: tuple[str, int]) -> None:
        request = await read_all(stream)  # ends at the client's EOF
        await stream.send_all(request[::-1])
        # returning closes the server side: the client then reads EOF

    async with serving(_net(), 2, reply_after_eof) as (a, b):
        stream = await a.transport.open_stream(b.address)
        assert isinstance(stream, trio.abc.HalfCloseableStream)
        await stream.send_all(b"abc")
        await stream.send_all(b"def")
        await stream.send_eof()
        await stream.send_eof()  # a second EOF is a no-op
        with pytest.raises(trio.ClosedResourceError):
            await stream.send_all(b"after eof")
        assert await read_all(stream) == b"fedcba"
        await stream.aclose()
        with pytest.raises(trio.ClosedResourceError):
            await stream.receive_some()
        with pytest.raises(trio.ClosedResourceError):
            await stream.send_all(b"late")


async def test_server_close_gives_the_client_eof(autojump_clock: trio.testing.MockClock) -> None:
    async def say_and_go(stream: trio.abc.Stream, peer: tuple[str, int]) -> None:
        await stream.send_all(b"bye")

    async with serving(_net(), 2, say_and_go) as (a, b):
        stream = await a.transport.open_stream(b.address)
        assert await read_all(stream) == b"bye"
        assert await stream.receive_some() == b""  # EOF stays EOF
        await stream.aclose()
        await stream.aclose()  # idempotent


async def test_dial_to_nobody_is_refused_after_a_round_trip(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = _net()
    idle = net.add_node()
    async with serving(net, 1) as (a,):
        for target in (idle.local_address, ("10.77.0.1", 7946)):
            start = trio.current_time()
            with pytest.raises(TransportError) as info:
                await a.transport.open_stream(target)
            assert info.value.errno == errno.ECONNREFUSED
            assert trio.current_time() - start == pytest.approx(2 * LATENCY)
        with pytest.raises(TransportError):
            await a.transport.open_stream(("not-an-ip", 1))
    assert net.statistics().streams_refused == 2


async def test_large_transfers_flow_through_the_window(
    autojump_clock: trio.testing.MockClock,
) -> None:
    payload = bytes(range(256)) * (3 * WINDOW // 256 + 17)
    received = bytearray()

    async def sink(stream: trio.abc.Stream, peer: tuple[str, int]) -> None:
        received.extend(await read_all(stream))
        await stream.send_all(b"%d" % len(received))

    async with serving(_net(), 2, sink) as (a, b):
        stream = await a.transport.open_stream(b.address)
        for offset in range(0, len(payload), 200_000):
            await stream.send_all(payload[offset : offset + 200_000])
        # Bytes are still in flight: the window bounds them, the reader drains them.
        await stream.aclose()
        await trio.sleep(1)
    assert bytes(received) == payload


async def test_a_failing_handler_is_logged_and_its_stream_closed(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(stream: trio.abc.Stream, peer: tuple[str, int]) -> None:
        raise RuntimeError("handler bug")

    async with serving(_net(), 2, broken) as (a, b):
        stream = await a.transport.open_stream(b.address)
        assert await stream.receive_some() == b""
        await stream.aclose()
        assert b.transport.serving
    assert b.transport.statistics().handler_errors == 1
    assert "handler bug" in caplog.text


async def test_stream_bytes_wait_out_a_partition(autojump_clock: trio.testing.MockClock) -> None:
    net = _net()
    async with serving(net, 2) as (a, b):
        stream = await a.transport.open_stream(b.address)
        net.partition([a.host], [b.host])
        await stream.send_all(b"patience")
        with trio.move_on_after(5):
            await stream.receive_some()
            pytest.fail("bytes crossed a partition")
        net.heal()
        with trio.fail_after(15):  # retransmissions back off, up to 10 s apart
            assert await stream.receive_some() == b"PATIENCE"
        await stream.aclose()


async def test_an_abandoned_dial_leaves_no_half_open_connection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    finished = trio.Event()

    async def waits_for_eof(stream: trio.abc.Stream, peer: tuple[str, int]) -> None:
        await read_all(stream)
        finished.set()

    net = _net()
    async with serving(net, 2, waits_for_eof) as (a, b):
        with trio.move_on_after(1.5 * LATENCY):  # after the SYN arrived, before the SYN-ACK
            await a.transport.open_stream(b.address)
        with trio.fail_after(1):
            await finished.wait()
        assert not a.transport.connections
        assert not b.transport.connections


async def test_streams_work_when_only_the_server_serves(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = _net()
    client = net.add_node()
    async with serving(net, 1) as (server,):
        stream = await client.open_stream(server.address)
        await stream.send_all(b"no serve needed")
        assert await stream.receive_some() == b"NO SERVE NEEDED"
        await stream.aclose()


async def test_concurrent_use_of_one_direction_is_an_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    outcome: list[BaseException] = []

    async def blocked_reader(stream: trio.abc.Stream) -> None:
        try:
            await stream.receive_some()
        except trio.ClosedResourceError as exc:
            outcome.append(exc)

    async with serving(_net(), 2) as (a, b):
        stream = await a.transport.open_stream(b.address)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(blocked_reader, stream)
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(trio.BusyResourceError):
                await stream.receive_some()
            with pytest.raises(ValueError, match="max_bytes"):
                await stream.receive_some(0)
            await stream.aclose()  # wakes the blocked reader with ClosedResourceError
        assert len(outcome) == 1
