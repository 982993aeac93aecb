"""The two backends of tests/test_transport_conformance.py, behind one small "lab" interface.

A lab makes transports, serves them in its nursery, and names addresses with a known
behaviour: one nobody serves (packets vanish, dials are refused) and one whose dials are
never answered. The memory lab runs on the simulated network under Trio's MockClock; the net
lab binds real UDP + TCP sockets on loopback and runs on the real clock, so every wait in the
suite is short and bounded.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

import attrs
import pytest
import trio
import trio.testing
from transport_support import Inbox, upper_echo

from trio_gossip.transport import (
    Address,
    MemoryNetwork,
    PacketHandler,
    StreamHandler,
    Transport,
    TransportStatistics,
    create_net_transport,
)
from trio_gossip.transport.dskit import MAX_PACKET_SIZE, create_dskit_transport

# The largest UDP payload: 65535 bytes minus the 8-byte UDP header, minus the 20-byte IPv4
# header for IPv4 (IPv6's payload length does not count its own header).
MAX_DATAGRAM = {False: 65507, True: 65527}


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


class MeasuredTransport(Transport, Protocol):
    """Both transports also count their traffic (not part of the Transport protocol)."""

    def statistics(self) -> TransportStatistics: ...


@attrs.frozen
class Backend:
    real: bool
    ipv6: bool
    dskit: bool = False  # dskit's TCP-only transport (packets on TCP connections)

    @property
    def clock(self) -> trio.abc.Clock | None:
        # The simulated network runs on virtual time; real sockets need the real clock.
        return None if self.real else trio.testing.MockClock(autojump_threshold=0)


BACKENDS = [
    pytest.param(Backend(real=False, ipv6=False), id="memory"),
    pytest.param(Backend(real=False, ipv6=True), id="memory-ipv6"),
    pytest.param(Backend(real=True, ipv6=False), id="net"),
    pytest.param(
        Backend(real=True, ipv6=True),
        id="net-ipv6",
        marks=pytest.mark.skipif(
            not has_ipv6_loopback(), reason="this machine has no IPv6 loopback (::1 cannot bind)"
        ),
    ),
    pytest.param(Backend(real=True, ipv6=False, dskit=True), id="dskit"),
    pytest.param(
        Backend(real=True, ipv6=True, dskit=True),
        id="dskit-ipv6",
        marks=pytest.mark.skipif(
            not has_ipv6_loopback(), reason="this machine has no IPv6 loopback (::1 cannot bind)"
        ),
    ),
]


@attrs.define
class Served:
    """A transport serving in the lab; ``returned`` is set once serve() has returned."""

    transport: MeasuredTransport
    inbox: Inbox
    scope: trio.CancelScope
    returned: trio.Event = attrs.field(factory=trio.Event)

    @property
    def address(self) -> Address:
        return self.transport.local_address


class Lab:
    """What the conformance tests need from a backend; see the module docstring."""

    def __init__(self, backend: Backend, nursery: trio.Nursery) -> None:
        self.backend = backend
        # dskit's transport has no datagrams: it refuses packets past its own limit instead.
        self.max_datagram = MAX_PACKET_SIZE if backend.dskit else MAX_DATAGRAM[backend.ipv6]
        self._nursery = nursery
        self._transports: list[MeasuredTransport] = []

    async def transport(self) -> MeasuredTransport:
        transport = await self._make()
        self._transports.append(transport)
        return transport

    async def serve(
        self, on_stream: StreamHandler = upper_echo, on_packet: PacketHandler | None = None
    ) -> Served:
        """A new transport serving in the lab; packets go to ``on_packet`` or its inbox."""
        inbox = Inbox()
        served = Served(await self.transport(), inbox, trio.CancelScope())

        async def run(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            handler = on_packet or inbox
            try:
                with served.scope:
                    await served.transport.serve(handler, on_stream, task_status=task_status)
            finally:
                served.returned.set()

        await self._nursery.start(run)
        return served

    def vacant(self) -> Address:
        """An address where nothing listens: packets are lost, dials refused."""
        raise NotImplementedError

    async def unanswered(self, dialer: Transport) -> Address:
        """An address where ``dialer``'s dials are never answered (no SYN-ACK, no RST)."""
        raise NotImplementedError

    async def aclose(self) -> None:
        for transport in self._transports:
            await transport.aclose()

    async def _make(self) -> MeasuredTransport:
        raise NotImplementedError


class MemoryLab(Lab):
    def __init__(self, backend: Backend, nursery: trio.Nursery) -> None:
        super().__init__(backend, nursery)
        self.network = MemoryNetwork(seed=1)
        self._hosts = 0

    def _fresh_host(self) -> str:
        self._hosts += 1
        return f"fd00::{self._hosts}" if self.backend.ipv6 else f"10.0.0.{self._hosts}"

    async def _make(self) -> MeasuredTransport:
        return self.network.add_node((self._fresh_host(), 7946))

    def vacant(self) -> Address:
        return (self._fresh_host(), 7946)

    async def unanswered(self, dialer: Transport) -> Address:
        # A TCP block drops the SYN, the way a firewall's DROP rule would.
        target = self.vacant()
        self.network.block(dialer.local_address[0], target[0], udp=False, tcp=True)
        return target


class NetLab(Lab):
    def __init__(self, backend: Backend, nursery: trio.Nursery) -> None:
        super().__init__(backend, nursery)
        self.host = "::1" if backend.ipv6 else "127.0.0.1"
        self._family = socket.AF_INET6 if backend.ipv6 else socket.AF_INET
        self._sockets: list[socket.socket] = []

    async def _make(self) -> MeasuredTransport:
        if self.backend.dskit:
            return await create_dskit_transport(self.host, 0)
        return await create_net_transport(self.host, 0)

    def vacant(self) -> Address:
        # A TCP socket bound but not listening holds the port (so no one else takes it) and
        # answers a SYN with RST; the same UDP port is checked free and left unbound.
        while True:
            tcp = self._socket(socket.SOCK_STREAM)
            tcp.bind((self.host, 0))
            port: int = tcp.getsockname()[1]
            try:
                with socket.socket(self._family, socket.SOCK_DGRAM) as udp:
                    udp.bind((self.host, port))
            except OSError:
                continue
            return (self.host, port)

    async def unanswered(self, dialer: Transport) -> Address:
        # A listener that never accepts, with its accept queue filled: Linux then drops
        # further SYNs (tcp_abort_on_overflow=0), so a dial waits for SYN retransmissions.
        listener = self._socket(socket.SOCK_STREAM)
        listener.bind((self.host, 0))
        listener.listen(0)
        address = listener.getsockname()[:2]
        for _ in range(8):
            filler = self._socket(socket.SOCK_STREAM)
            filler.settimeout(0.05)
            try:
                filler.connect(address)
            except TimeoutError:
                return (self.host, address[1])
        pytest.skip("the kernel kept accepting SYNs past a full accept queue")

    async def aclose(self) -> None:
        await super().aclose()
        for sock in self._sockets:
            sock.close()

    def _socket(self, kind: int) -> socket.socket:
        sock = socket.socket(self._family, kind)
        self._sockets.append(sock)
        return sock


@asynccontextmanager
async def open_lab(backend: Backend) -> AsyncIterator[Lab]:
    """A lab for one test; everything it made is closed when the block ends."""
    async with trio.open_nursery() as nursery:
        lab = NetLab(backend, nursery) if backend.real else MemoryLab(backend, nursery)
        try:
            yield lab
        finally:
            nursery.cancel_scope.cancel()
            with trio.CancelScope(shield=True):
                await lab.aclose()
