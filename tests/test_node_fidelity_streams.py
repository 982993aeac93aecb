"""Stream robustness (memberlist net.go, handleConn and readStream): bad or silent stream
peers cost one connection for at most tcp_timeout, get an errMsg where Go sends one, and
never end a node task."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from node_support import base_config, start_cluster

from trio_gossip import JoinError
from trio_gossip.transport.memory import MemoryNetwork
from trio_gossip.wire import decode_stream


async def _drain(stream: trio.abc.Stream) -> bytes:
    data = b""
    while chunk := await stream.receive_some(65536):
        data += chunk
    return data


async def test_silent_or_slow_dialer_is_cut_off_after_tcp_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork(seed=141)
    config = base_config(tcp_timeout=2.0)
    async with start_cluster(net, 1, config) as (a,):
        raw = net.add_node()
        for opening in (b"", b"\x06\x83"):  # nothing at all; half a push/pull header
            stream = await raw.open_stream(a.local_member.address)
            start = trio.current_time()
            if opening:
                await stream.send_all(opening)
            with trio.fail_after(2 * config.tcp_timeout):
                assert await _drain(stream) == b""  # closed without a word
            assert trio.current_time() - start >= config.tcp_timeout
            await stream.aclose()
        # Garbage is answered with an errMsg and counted.
        stream = await raw.open_stream(a.local_member.address)
        await stream.send_all(b"\x06\xc1")  # 0xc1: a byte msgpack never uses
        with trio.fail_after(2 * config.tcp_timeout):
            reply = decode_stream(await _drain(stream))
        assert type(reply).__name__ == "Err"
        assert a.statistics().bad_streams >= 1
        assert await a.ping(a.local_member) is not None  # still serving


async def test_silent_responder_bounds_the_join(autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork(seed=142)
    config = base_config(tcp_timeout=2.0)
    async with start_cluster(net, 1, config) as (a,), trio.open_nursery() as nursery:
        silent = net.add_node()

        async def hold(stream: trio.abc.Stream, addr: tuple[str, int]) -> None:
            await trio.sleep_forever()

        await nursery.start(silent.serve, lambda data, addr: None, hold)
        start = trio.current_time()
        with pytest.raises(JoinError):
            await a.join([silent.local_address])
        assert trio.current_time() - start <= config.tcp_timeout + 0.5
        nursery.cancel_scope.cancel()
