"""One node's endpoint on a MemoryNetwork: the Transport protocol over the simulated network."""

from __future__ import annotations

import errno
import logging
import random
from functools import partial
from typing import TYPE_CHECKING

import trio

from .addr import MAX_UDP_PAYLOAD_IPV4, max_udp_payload
from .base import Address, Alarm, PacketHandler, StreamHandler, TransportError
from .handlers import run_stream_handler
from .memory_stream import Connection
from .stats import TransportStatistics

if TYPE_CHECKING:
    from .memory import MemoryNetwork

logger = logging.getLogger("trio_gossip.transport")

# Keys a transport may take before they would run into the next transport's (2**40 ~ 1e12).
KEY_BITS = 40
# Linux gives up on a SYN that nobody answers after about 127 s (tcp_syn_retries = 6).
CONNECT_TIMEOUT = 127.0


class MemoryTransport:
    """Made by MemoryNetwork.add_node(); implements Transport.

    ``serve()`` also lends its nursery to the network's delivery pump (one serving transport
    drives it; another takes over when that one stops).
    """

    def __init__(
        self, network: MemoryNetwork, address: Address, rng: random.Random, index: int
    ) -> None:
        self.network = network
        self.host = address[0]
        self._address = address
        # Our packets' fates are drawn from our own generator and ordered by our own keys, so
        # the history does not depend on how Trio interleaves different nodes' tasks.
        self.rng = rng
        self._key = index << KEY_BITS
        self.on_packet: PacketHandler | None = None
        self._on_stream: StreamHandler | None = None
        self._nursery: trio.Nursery | None = None
        self.killed = False
        self.closed = False
        self._closed_event = trio.Event()
        self.connections: set[Connection] = set()
        self.packets_sent = 0
        self.bytes_sent = 0
        self.send_errors = 0
        self.packets_received = 0
        self.bytes_received = 0
        self.streams_opened = 0
        self.streams_accepted = 0
        self.handler_errors = 0

    def next_key(self) -> int:
        """A heap key unique in the network: (our index, how many keys we took before)."""
        key = self._key
        self._key = key + 1
        return key

    @property
    def local_address(self) -> Address:
        return self._address

    @property
    def serving(self) -> bool:
        return self._nursery is not None and not self.closed

    async def send_packet(self, addr: Address, data: bytes) -> None:
        """Hand one datagram to the network; it never blocks unless our host is paused.

        Like UDP to a host that does not answer, an address nobody serves just loses the packet;
        what a socket would refuse (a malformed address, a datagram past the UDP limit) raises.
        """
        addr, data = self._checked(addr, data)
        await trio.lowlevel.checkpoint_if_cancelled()
        network = self.network
        if network.paused_hosts and self.host in network.paused_hosts:
            await self.wait_not_paused()
        self.packets_sent += 1
        self.bytes_sent += len(data)
        network._send_packet(self, addr, data)

    def send_packet_nowait(self, addr: Address, data: bytes) -> bool:
        """``send_packet`` from synchronous code; False while our host is paused."""
        addr, data = self._checked(addr, data)
        network = self.network
        if network.paused_hosts and self.host in network.paused_hosts:
            return False
        self.packets_sent += 1
        self.bytes_sent += len(data)
        network._send_packet(self, addr, data)
        return True

    def call_at(self, when: float, alarm: Alarm) -> None:
        """``alarm.fire`` from the delivery pump at ``when`` in the network's time (``now``):
        a simulated node's timers cost a heap entry, not a timed wake-up of a task (a trip
        through Trio's cancellation machinery, the bulk of a simulated probe)."""
        self.network._schedule_alarm(when, self.next_key(), alarm)

    def now(self) -> float:
        return self.network.now()

    def _checked(self, addr: Address, data: bytes) -> tuple[Address, bytes]:
        """The canonical destination and the datagram as bytes, or TransportError for what
        a socket would refuse."""
        if self.closed:
            raise TransportError(errno.EBADF, "transport is closed")
        network = self.network
        try:
            known = addr in network._nodes  # registered: valid and canonical, one lookup
        except TypeError:
            known = False
        if not known:
            addr = network.destination(addr)
        if type(data) is not bytes:
            data = bytes(data)
        if len(data) > MAX_UDP_PAYLOAD_IPV4 and len(data) > max_udp_payload(addr[0]):
            self.send_errors += 1
            raise TransportError(errno.EMSGSIZE, f"{len(data)} bytes is past the UDP limit")
        return addr, data

    async def open_stream(self, addr: Address) -> trio.abc.Stream:
        """Dial: connected after a round trip, refused if nobody serves there, and silent (until
        CONNECT_TIMEOUT or the caller's own timeout) across a partition or a TCP block."""
        if self.closed or self.killed:
            raise TransportError(errno.EBADF, "transport is closed or killed")
        addr = self.network.destination(addr)
        await self.wait_not_paused()
        if self.killed:
            raise TransportError(errno.EBADF, "transport was killed")
        dial = self.network._dial(self, addr)
        try:
            with trio.move_on_after(CONNECT_TIMEOUT) as timeout:
                await self.network.pumped(dial.done.wait)
                await trio.sleep(dial.back_delay)
        except BaseException:
            dial.abandon()
            raise
        if timeout.cancelled_caught:
            dial.abandon()
            raise TransportError(errno.ETIMEDOUT, f"connect to {addr} timed out")
        if dial.stream is None:
            raise TransportError(errno.ECONNREFUSED, f"connection to {addr} refused")
        self.streams_opened += 1
        return dial.stream

    async def serve(
        self,
        on_packet: PacketHandler,
        on_stream: StreamHandler,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Receive until cancelled or closed; killed transports stay here, deaf and mute."""
        if self.closed:
            raise TransportError(errno.EBADF, "transport is closed")
        if self._nursery is not None:
            raise RuntimeError(f"{self._address} is already serving")
        async with trio.open_nursery() as nursery:
            pump_scope = trio.CancelScope()
            nursery.start_soon(self._lend_to_pump, pump_scope)
            self.on_packet = on_packet
            self._on_stream = on_stream
            self._nursery = nursery
            try:
                task_status.started()
                await self._closed_event.wait()
            finally:
                self.on_packet = None
                self._on_stream = None
                self._nursery = None
                pump_scope.cancel()

    async def aclose(self) -> None:
        """Stop serving and free the address; streams already open keep working, like TCP."""
        if not self.closed:
            self.closed = True
            self.network._unregister(self)
            self._closed_event.set()
        await trio.lowlevel.checkpoint()

    def statistics(self) -> TransportStatistics:
        return TransportStatistics(
            packets_sent=self.packets_sent,
            packets_received=self.packets_received,
            bytes_sent=self.bytes_sent,
            bytes_received=self.bytes_received,
            send_errors=self.send_errors,
            streams_opened=self.streams_opened,
            streams_accepted=self.streams_accepted,
            handler_errors=self.handler_errors,
        )

    async def wait_not_paused(self) -> None:
        """A paused (SIGSTOPped) host does no I/O: block until it is resumed or killed."""
        paused = self.network.paused_hosts
        while not self.killed and self.host in paused:
            await paused[self.host].wait()

    def accept(self, conn: Connection) -> None:
        """Run the stream handler for a connection the network has delivered to us."""
        if self._nursery is None or self._on_stream is None or self.killed:
            conn.reset()
            return
        self.streams_accepted += 1
        stream = conn.server_stream
        self._nursery.start_soon(
            partial(
                run_stream_handler,
                self._on_stream,
                stream,
                stream.peer_address,
                local=self._address,
                failed=self._stream_handler_failed,
            )
        )

    def kill(self) -> int:
        """kill -9: deaf and mute from now on; returns how many open connections were reset."""
        self.killed = True
        return sum(conn.reset() for conn in list(self.connections))

    def _stream_handler_failed(self) -> None:
        self.handler_errors += 1

    def handler_failed(self) -> None:
        self.handler_errors += 1
        logger.exception("packet handler of %s raised", self._address)

    async def _lend_to_pump(self, scope: trio.CancelScope) -> None:
        with scope:
            await self.network._pump_worker()
