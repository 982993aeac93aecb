"""Simulated TCP connections: ordered, reliable byte pipes that move on the network's heap."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import trio

from .base import Address

if TYPE_CHECKING:
    from .memory_transport import MemoryTransport

# Bytes in flight plus unread before send_all waits: a TCP send buffer plus receive window.
WINDOW = 1 << 20
# receive_some(None) returns at most this much, like a socket read of 64 KiB.
RECEIVE_SIZE = 65536


class Pipe:
    """One direction of a connection: chunks in flight (due time, bytes or None for FIN),
    then the reader's buffer. The network's pump calls fire() when the head chunk is due."""

    __slots__ = (
        "buffer",
        "conn",
        "dst",
        "eof",
        "in_flight",
        "last_due",
        "readable",
        "reader_closed",
        "reset",
        "retries",
        "scheduled",
        "src",
        "unacked",
        "writable",
    )

    def __init__(self, conn: Connection, src: MemoryTransport, dst: MemoryTransport) -> None:
        self.conn = conn
        self.src = src
        self.dst = dst
        self.in_flight: deque[tuple[float, bytes | None]] = deque()
        self.last_due = 0.0
        self.scheduled = False
        self.buffer = bytearray()
        self.eof = False
        self.reset = False
        self.reader_closed = False
        self.unacked = 0
        self.retries = 0
        self.readable = trio.lowlevel.ParkingLot()
        self.writable = trio.lowlevel.ParkingLot()

    def fire(self, now: float) -> None:
        self.src.network._fire_pipe(self, now)

    def wake_all(self) -> None:
        self.readable.unpark_all()
        self.writable.unpark_all()


class Connection:
    """A dialed connection between two transports; kill resets it like an RST."""

    def __init__(
        self, client: MemoryTransport, server: MemoryTransport, client_address: Address
    ) -> None:
        self.client = client
        self.server = server
        self.up = Pipe(self, client, server)
        self.down = Pipe(self, server, client)
        self.client_stream = MemoryStream(self, client, self.up, self.down, server.local_address)
        self.server_stream = MemoryStream(self, server, self.down, self.up, client_address)
        client.connections.add(self)
        server.connections.add(self)

    def reset(self) -> bool:
        """Break both directions; True if it was still alive."""
        if self.up.reset:
            return False
        for pipe in (self.up, self.down):
            pipe.reset = True
            pipe.in_flight.clear()
            pipe.unacked = 0
            pipe.wake_all()
        self._forget()
        return True

    def end_closed(self) -> None:
        if self.client_stream.closed and self.server_stream.closed:
            self._forget()

    def _forget(self) -> None:
        self.client.connections.discard(self)
        self.server.connections.discard(self)


class MemoryStream(trio.abc.HalfCloseableStream):
    """A trio stream over the simulated network; errors mirror trio.SocketStream's."""

    def __init__(
        self,
        conn: Connection,
        owner: MemoryTransport,
        send_pipe: Pipe,
        recv_pipe: Pipe,
        peer: Address,
    ) -> None:
        self._conn = conn
        self._owner = owner
        self._send = send_pipe
        self._recv = recv_pipe
        self._peer = peer
        self.closed = False
        self._eof_sent = False
        self._sending = False
        self._receiving = False

    @property
    def peer_address(self) -> Address:
        """Like getpeername(): a dialer's side shows its ephemeral port, not its serving port."""
        return self._peer

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._sending:
            raise trio.BusyResourceError("another task is already sending on this stream")
        self._sending = True
        try:
            await trio.lowlevel.checkpoint()
            await self._owner.wait_not_paused()
            pipe = self._send
            while pipe.unacked >= WINDOW and not self._broken_or_closed():
                await self._owner.network.pumped(pipe.writable.park)
            self._check_usable()
            if data:
                self._owner.network._stream_send(pipe, bytes(data))
        finally:
            self._sending = False

    async def send_eof(self) -> None:
        """Half-close: the peer reads EOF after our last bytes; we can still receive."""
        if self._sending:
            raise trio.BusyResourceError("another task is already sending on this stream")
        await trio.lowlevel.checkpoint()
        if self.closed:
            raise trio.ClosedResourceError("stream was closed")
        self._send_fin()

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()
        while self._send.unacked >= WINDOW and not self._broken_or_closed():
            await self._owner.network.pumped(self._send.writable.park)
        self._check_usable()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if max_bytes is not None and max_bytes < 1:
            raise ValueError("max_bytes must be >= 1")
        if self._receiving:
            raise trio.BusyResourceError("another task is already receiving on this stream")
        self._receiving = True
        try:
            await trio.lowlevel.checkpoint()
            pipe = self._recv
            while True:
                if self.closed:
                    raise trio.ClosedResourceError("stream was closed")
                if pipe.buffer:
                    size = RECEIVE_SIZE if max_bytes is None else max_bytes
                    chunk = bytes(pipe.buffer[:size])
                    del pipe.buffer[:size]
                    pipe.unacked -= len(chunk)
                    pipe.writable.unpark_all()
                    return chunk
                if pipe.reset:
                    raise trio.BrokenResourceError("connection reset by peer")
                if pipe.eof:
                    return b""
                await self._owner.network.pumped(pipe.readable.park)
        finally:
            self._receiving = False

    async def aclose(self) -> None:
        self.close_now()
        await trio.lowlevel.checkpoint()

    def close_now(self) -> None:
        """Close without waiting: a FIN follows the bytes already sent; unread input is dropped."""
        if self.closed:
            return
        self.closed = True
        self._send_fin()
        recv = self._recv
        recv.reader_closed = True
        recv.buffer.clear()
        recv.in_flight.clear()
        recv.unacked = 0
        self._send.wake_all()
        recv.wake_all()
        self._conn.end_closed()

    def _send_fin(self) -> None:
        if not self._eof_sent:
            self._eof_sent = True
            self._owner.network._stream_send(self._send, None)

    def _broken_or_closed(self) -> bool:
        return self.closed or self._eof_sent or self._send.reset

    def _check_usable(self) -> None:
        if self.closed or self._eof_sent:
            raise trio.ClosedResourceError("stream was closed")
        if self._send.reset:
            raise trio.BrokenResourceError("connection reset by peer")
