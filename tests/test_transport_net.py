"""NetTransport on real loopback sockets (real time, every wait bounded by fail_after).

What every transport must do is in test_transport_conformance.py, which runs on these sockets
too; this file keeps what only real sockets have: binds, advertise addresses, address families.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
from transport_conformance_support import has_ipv6_loopback
from transport_support import Inbox, upper_echo

from trio_gossip.transport import NetTransport, TransportError, create_net_transport
from trio_gossip.wire.errors import ConfigError

TIMEOUT = 10  # generous: the machine is shared; nothing here should take more than a blink


needs_ipv6 = pytest.mark.skipif(not has_ipv6_loopback(), reason="the kernel has no ::1")


@asynccontextmanager
async def served(
    host: str = "127.0.0.1", **kwargs: object
) -> AsyncIterator[tuple[NetTransport, Inbox]]:
    transport = await create_net_transport(host, 0, **kwargs)  # type: ignore[arg-type]
    inbox = Inbox()
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(transport.serve, inbox, upper_echo)
            yield transport, inbox
            nursery.cancel_scope.cancel()
    finally:
        await transport.aclose()


async def _wait_for(inbox: Inbox, count: int) -> None:
    while len(inbox.arrivals) < count:
        await inbox.arrival.wait()


async def _round_trip(a: NetTransport, b: NetTransport, b_inbox: Inbox) -> None:
    await a.send_packet(b.local_address, b"hello")
    await _wait_for(b_inbox, 1)
    assert b_inbox.arrivals[-1].data == b"hello"
    assert b_inbox.arrivals[-1].src == a.bound_address
    stream = await a.open_stream(b.local_address)
    await stream.send_all(b"stream")
    assert await stream.receive_some() == b"STREAM"
    await stream.aclose()


@needs_ipv6
async def test_ipv6_loopback() -> None:
    with trio.fail_after(TIMEOUT):
        async with served("::1") as (a, _), served("::1") as (b, b_inbox):
            assert a.local_address[0] == "::1"
            await _round_trip(a, b, b_inbox)
            with pytest.raises(TransportError) as info:
                await a.send_packet(("127.0.0.1", 9), b"wrong family")
            assert info.value.errno == errno.EAFNOSUPPORT


@needs_ipv6
async def test_dual_stack_wildcard_reports_ipv4_peers_as_ipv4() -> None:
    with trio.fail_after(TIMEOUT):
        async with served("::") as (server, inbox), served() as (client, _):
            port = server.bound_address[1]
            await client.send_packet(("127.0.0.1", port), b"v4 to ::")
            await _wait_for(inbox, 1)
            assert inbox.arrivals[0].src == client.bound_address
            await server.send_packet(client.local_address, b"v4 from ::")  # mapped for us


async def test_a_loopback_bind_advertises_the_bound_address() -> None:
    async with served() as (a, _):
        assert a.local_address == a.bound_address
        assert a.local_address[0] == "127.0.0.1"


async def test_advertise_is_reported_and_distinct_from_bind() -> None:
    with trio.fail_after(TIMEOUT):
        explicit = await create_net_transport("127.0.0.1", 0, advertise=("10.1.2.3", 7946))
        wildcard = await create_net_transport("0.0.0.0", 0)
        try:
            assert explicit.local_address == ("10.1.2.3", 7946)
            assert explicit.bound_address[0] == "127.0.0.1"
            host, port = wildcard.local_address
            assert wildcard.bound_address == ("0.0.0.0", port)
            assert host != "0.0.0.0"
            # The chosen address is one of ours: a packet to it arrives.
            inbox = Inbox()
            async with trio.open_nursery() as nursery:
                await nursery.start(wildcard.serve, inbox, upper_echo)
                await explicit.send_packet(wildcard.local_address, b"to advertise")
                await _wait_for(inbox, 1)
                nursery.cancel_scope.cancel()
        finally:
            await explicit.aclose()
            await wildcard.aclose()


async def test_many_concurrent_streams() -> None:
    results: dict[int, bytes] = {}

    async def one(client: NetTransport, server: NetTransport, i: int) -> None:
        stream = await client.open_stream(server.local_address)
        async with stream:
            await stream.send_all(b"stream %d" % i)
            results[i] = bytes(await stream.receive_some())

    with trio.fail_after(TIMEOUT):
        async with served() as (a, _), served() as (b, _), trio.open_nursery() as nursery:
            for i in range(100):
                nursery.start_soon(one, a, b, i)
    assert results == {i: b"STREAM %d" % i for i in range(100)}


async def test_aclose_releases_the_port_for_a_rebind() -> None:
    with trio.fail_after(TIMEOUT):
        async with served() as (a, _):
            first = await create_net_transport("127.0.0.1", 0)
            port = first.bound_address[1]
            inbox = Inbox()
            async with trio.open_nursery() as nursery:
                await nursery.start(first.serve, inbox, upper_echo)
                stream = await a.open_stream(first.local_address)  # leaves a TIME_WAIT
                await stream.send_all(b"x")
                assert await stream.receive_some() == b"X"
                await stream.aclose()
                await first.aclose()
                await first.aclose()  # idempotent
            # serve() returned on its own once the sockets closed.
            with pytest.raises(TransportError):
                await first.send_packet(a.local_address, b"closed")
            again = await create_net_transport("127.0.0.1", port)
            assert again.bound_address == ("127.0.0.1", port)
            await again.aclose()


async def test_errors_are_transport_errors() -> None:
    with trio.fail_after(TIMEOUT):
        async with served() as (a, _):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as not_listening:
                not_listening.bind(("127.0.0.1", 0))  # bound, never listening: RST for a SYN
                with pytest.raises(TransportError) as info:
                    await a.open_stream(not_listening.getsockname())
            assert info.value.errno == errno.ECONNREFUSED
            with pytest.raises(TransportError) as info:
                await a.send_packet(("127.0.0.1", 9), b"x" * 70_000)
            assert info.value.errno == errno.EMSGSIZE
            with pytest.raises(TransportError):
                await a.open_stream(("localhost", 80))  # no DNS
            assert a.statistics().send_errors == 1
            # Binding a port whose UDP side is taken fails cleanly.
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
                taken.bind(("127.0.0.1", 0))
                with pytest.raises(TransportError) as info:
                    await create_net_transport("127.0.0.1", taken.getsockname()[1])
                assert info.value.errno == errno.EADDRINUSE


async def test_configuration_is_validated() -> None:
    for kwargs in (
        {"bind_host": "localhost", "bind_port": 0},
        {"bind_host": "127.0.0.1", "bind_port": 70000},
        {"bind_host": "127.0.0.1", "bind_port": 0, "udp_buffer_size": 0},
        {"bind_host": "127.0.0.1", "bind_port": 0, "tcp_backlog": 0},
        {"bind_host": "127.0.0.1", "bind_port": 0, "advertise": ("0.0.0.0", 1)},
        {"bind_host": "127.0.0.1", "bind_port": 0, "advertise": ("host", 1)},
    ):
        with pytest.raises(ConfigError):
            await create_net_transport(**kwargs)  # type: ignore[arg-type]
