"""dskit's TCP-only transport (grafana/dskit kv/memberlist/tcp_transport.go) as a Transport.

Every memberlist packet travels on its own TCP connection: ``[1][addrLen][sender's advertised
"ip:port"][packet][MD5]``, closed by the sender (writeTo); the receiver reads to EOF and takes the
sender from the frame, not from TCP (handleConnection). A stream is a connection opened with
``[2]`` and then memberlist's stream protocol (DialTimeout). Nothing uses UDP, which is why it
also serves networks where UDP is blocked.

As in dskit, a packet send does not wait for the dial: it is handed to a few writer tasks
(WriteTo with MaxConcurrentWrites) and a send that finds them all busy is dropped and counted,
like a datagram lost on the way.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket as stdlib_socket

import trio

from trio_gossip.wire.dskit.errors import DskitDecodeError
from trio_gossip.wire.dskit.frame import (
    DIGEST_SIZE,
    MAX_ADDR_SIZE,
    STREAM_PREAMBLE,
    ConnectionType,
    decode_packet_body,
    encode_packet,
)
from trio_gossip.wire.errors import ConfigError

from .addr import canonical_host, check_address
from .base import Address, PacketHandler, StreamHandler, TransportError
from .dskit_tls import DskitTLS
from .handlers import run_stream_handler
from .stats import TransportStatistics

logger = logging.getLogger("trio_gossip.transport")

# dskit's TCPTransportConfig defaults (tcp_transport.go RegisterFlags).
PACKET_DIAL_TIMEOUT = 2.0
PACKET_WRITE_TIMEOUT = 5.0
MAX_CONCURRENT_WRITES = 3
# A memberlist packet never exceeds a UDP datagram (memberlist sizes compound messages for UDP),
# so a bigger one is refused when sent and dropped when received: a peer cannot make us buffer
# without bound (dskit itself reads to EOF with no limit).
MAX_PACKET_SIZE = 65507
# Packets waiting for a writer task; past it a send is dropped (dskit's AcquireWriterTimeout).
WRITE_QUEUE = 64
TCP_BACKLOG = 128
# When serving stops, packets already queued (a leave's farewell among them: memberlist's Leave
# waits only until its broadcast is handed over) still get this long to go out.
FLUSH_TIMEOUT = 0.5


async def create_dskit_transport(
    bind_host: str,
    bind_port: int,
    *,
    advertise: Address | None = None,
    tls: DskitTLS | None = None,
    packet_dial_timeout: float = PACKET_DIAL_TIMEOUT,
    packet_write_timeout: float = PACKET_WRITE_TIMEOUT,
    max_concurrent_writes: int = MAX_CONCURRENT_WRITES,
    max_packet_size: int = MAX_PACKET_SIZE,
) -> DskitTransport:
    """Listen on TCP ``bind_host:bind_port`` (port 0: any); ConfigError names a bad setting.

    ``advertise`` defaults to the bound address and must be a concrete IP: it is written into
    every packet as the sender, so a wildcard bind needs one.
    """
    try:
        host = canonical_host(bind_host)
    except ValueError as exc:
        raise ConfigError(f"bind_host must be an IP address, got {bind_host!r}") from exc
    if not isinstance(bind_port, int) or not 0 <= bind_port < 65536:
        raise ConfigError(f"bind_port must be in [0, 65535], got {bind_port!r}")
    for name, value in (
        ("packet_dial_timeout", packet_dial_timeout),
        ("packet_write_timeout", packet_write_timeout),
    ):
        if not isinstance(value, int | float) or not value > 0:
            raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
    if not isinstance(max_concurrent_writes, int) or max_concurrent_writes < 1:
        raise ConfigError(f"max_concurrent_writes must be >= 1, got {max_concurrent_writes!r}")
    if not isinstance(max_packet_size, int) or not 0 < max_packet_size <= 1 << 24:
        raise ConfigError(f"max_packet_size must be in [1, 16 MiB], got {max_packet_size!r}")
    if advertise is not None:
        try:
            advertise = (canonical_host(check_address(advertise)[0]), advertise[1])
        except (TransportError, ValueError) as exc:
            raise ConfigError(f"advertise must be (ip, port), got {advertise!r}") from exc
    elif ipaddress.ip_address(host).is_unspecified:
        raise ConfigError("advertise is required when bind_host is a wildcard address")

    family = stdlib_socket.AF_INET6 if ":" in host else stdlib_socket.AF_INET
    listener = trio.socket.socket(family, stdlib_socket.SOCK_STREAM)
    try:
        listener.setsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_REUSEADDR, 1)
        await listener.bind((host, bind_port))
        listener.listen(TCP_BACKLOG)
    except OSError as exc:
        listener.close()
        # strerror: str(exc) would lead with "[Errno 98]", noise in a one-line error.
        raise TransportError(
            exc.errno, f"cannot bind {host}:{bind_port}: {exc.strerror or exc}"
        ) from exc
    port = listener.getsockname()[1]
    return DskitTransport(
        listener,
        bound=(host, port),
        advertise=advertise or (host, port),
        tls=tls,
        dial_timeout=float(packet_dial_timeout),
        write_timeout=float(packet_write_timeout),
        writers=max_concurrent_writes,
        max_packet_size=max_packet_size,
    )


def format_address(addr: Address) -> str:
    """Go's net.JoinHostPort: brackets around an IPv6 host."""
    host, port = addr
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_address(text: str) -> Address:
    """The inverse of ``format_address``; DskitDecodeError for anything that is not ip:port."""
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        number = int(port)
        host = canonical_host(host)
    except ValueError as exc:
        raise DskitDecodeError(f"packet: sender address {text!r} is not ip:port") from exc
    if not sep or not 0 < number < 65536:
        raise DskitDecodeError(f"packet: sender address {text!r} is not ip:port")
    return host, number


class DskitTransport:
    """A TCP listener speaking dskit's framing; implements Transport. See create_dskit_transport."""

    def __init__(
        self,
        listener: trio.socket.SocketType,
        *,
        bound: Address,
        advertise: Address,
        tls: DskitTLS | None,
        dial_timeout: float,
        write_timeout: float,
        writers: int,
        max_packet_size: int,
    ) -> None:
        self._listener = listener
        self._bound = bound
        self._advertise = advertise
        self._advertise_text = format_address(advertise)
        self._tls = tls
        self._dial_timeout = dial_timeout
        self._write_timeout = write_timeout
        self._writers = writers
        self._max_packet_size = max_packet_size
        # Everything after the type byte of the largest packet we accept.
        self._max_body = 1 + MAX_ADDR_SIZE + max_packet_size + DIGEST_SIZE
        self._closed = False
        self._serving = False
        self._queue: trio.MemorySendChannel[tuple[Address, bytes]] | None = None
        self._writer_scope = trio.CancelScope(shield=True)
        self._packets_sent = 0
        self._bytes_sent = 0
        self._packets_received = 0
        self._bytes_received = 0
        self._send_errors = 0
        self._receive_errors = 0
        self._streams_opened = 0
        self._streams_accepted = 0
        self._handler_errors = 0
        self._packets_dropped = 0

    @property
    def local_address(self) -> Address:
        """The advertise address (written into every packet as its sender)."""
        return self._advertise

    @property
    def bound_address(self) -> Address:
        return self._bound

    @property
    def max_packet_size(self) -> int:
        return self._max_packet_size

    @property
    def packets_dropped(self) -> int:
        """Sends dropped because every writer task was busy (dskit's packets_dropped_total)."""
        return self._packets_dropped

    async def send_packet(self, addr: Address, data: bytes) -> None:
        """Queue one packet for a writer task (or, before serve(), write it now)."""
        if self.send_packet_nowait(addr, data):
            return
        self._packets_sent += 1
        self._bytes_sent += len(data)
        await self._write_packet(addr, self._frame(data))

    def send_packet_nowait(self, addr: Address, data: bytes) -> bool:
        """Hand the packet to the writer tasks: True when it was queued or dropped as a full
        queue drops it, False before serve() runs them."""
        self._check_send(addr, data)
        if self._queue is None:
            return False
        self._packets_sent += 1
        self._bytes_sent += len(data)
        try:
            self._queue.send_nowait((addr, self._frame(data)))
        except trio.WouldBlock:
            self._packets_dropped += 1
            logger.debug("dskit transport %s: writers busy, dropped one to %s", self._bound, addr)
        return True

    async def open_stream(self, addr: Address) -> trio.abc.Stream:
        """Dial ``addr`` and announce a stream (type byte 2); TransportError on failure."""
        if self._closed:
            raise TransportError(errno.EBADF, "transport is closed")
        stream = await self._dial(addr)
        try:
            await stream.send_all(STREAM_PREAMBLE)
        except (trio.BrokenResourceError, OSError) as exc:
            await trio.aclose_forcefully(stream)
            raise TransportError(errno.ECONNRESET, f"stream to {addr} broke: {exc}") from exc
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        self._streams_opened += 1
        return stream

    async def serve(
        self,
        on_packet: PacketHandler,
        on_stream: StreamHandler,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Accept connections and run the packet writers until cancelled or closed."""
        if self._closed:
            raise TransportError(errno.EBADF, "transport is closed")
        if self._serving:
            raise RuntimeError(f"{self._bound} is already serving")
        self._serving = True
        self._writer_scope = trio.CancelScope(shield=True)
        send, receive = trio.open_memory_channel[tuple[Address, bytes]](WRITE_QUEUE)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._run_writers, receive)
                nursery.start_soon(self._accept, on_packet, on_stream, nursery, send)
                self._queue = send
                task_status.started()
        finally:
            self._queue = None
            self._serving = False

    async def aclose(self) -> None:
        """Close the listener; queued packets get FLUSH_TIMEOUT to go out. Idempotent."""
        if not self._closed:
            self._closed = True
            self._listener.close()
        await trio.lowlevel.checkpoint()

    def statistics(self) -> TransportStatistics:
        return TransportStatistics(
            packets_sent=self._packets_sent,
            packets_received=self._packets_received,
            bytes_sent=self._bytes_sent,
            bytes_received=self._bytes_received,
            send_errors=self._send_errors,
            receive_errors=self._receive_errors,
            streams_opened=self._streams_opened,
            streams_accepted=self._streams_accepted,
            handler_errors=self._handler_errors,
        )

    # ----- sending ------------------------------------------------------------------------

    def _check_send(self, addr: Address, data: bytes) -> None:
        if self._closed:
            raise TransportError(errno.EBADF, "transport is closed")
        check_address(addr)
        if len(data) > self._max_packet_size:
            self._send_errors += 1
            raise TransportError(
                errno.EMSGSIZE, f"packet of {len(data)} bytes over {self._max_packet_size}"
            )

    def _frame(self, data: bytes) -> bytes:
        return encode_packet(data, self._advertise_text)

    async def _run_writers(self, queue: trio.MemoryReceiveChannel[tuple[Address, bytes]]) -> None:
        # Shielded: cancelling serve() must not lose what is queued; _stop_writers ends them.
        with self._writer_scope:
            async with trio.open_nursery() as nursery:
                for _ in range(self._writers):
                    nursery.start_soon(self._writer, queue.clone())
        await queue.aclose()

    async def _writer(self, queue: trio.MemoryReceiveChannel[tuple[Address, bytes]]) -> None:
        async with queue:
            async for addr, framed in queue:
                try:
                    await self._write_packet(addr, framed)
                except TransportError as exc:
                    logger.debug("dskit packet to %s failed: %s", addr, exc)

    async def _write_packet(self, addr: Address, framed: bytes) -> None:
        """One packet connection: dial, write the frame, close (dskit writeTo)."""
        stream = await self._dial(addr)
        try:
            with trio.fail_after(self._write_timeout):
                await stream.send_all(framed)
                await stream.aclose()
        except (trio.TooSlowError, trio.BrokenResourceError, OSError) as exc:
            self._send_errors += 1
            raise TransportError(errno.EIO, f"packet to {addr} not written: {exc!r}") from exc
        finally:
            await trio.aclose_forcefully(stream)

    async def _dial(self, addr: Address) -> trio.abc.Stream:
        host, port = check_address(addr)
        family = stdlib_socket.AF_INET6 if ":" in host else stdlib_socket.AF_INET
        sock = trio.socket.socket(family, stdlib_socket.SOCK_STREAM)
        try:
            with trio.fail_after(self._dial_timeout):
                await sock.connect((host, port))
        except trio.TooSlowError as exc:
            sock.close()
            self._send_errors += 1
            raise TransportError(errno.ETIMEDOUT, f"connect to {host}:{port} timed out") from exc
        except OSError as exc:
            sock.close()
            self._send_errors += 1
            raise TransportError(exc.errno, f"connect to {host}:{port} failed: {exc}") from exc
        except BaseException:
            sock.close()
            raise
        stream: trio.abc.Stream = trio.SocketStream(sock)
        if self._tls is not None:
            tls = trio.SSLStream(
                stream, self._tls.client, server_hostname=self._tls.server_name or host
            )
            try:
                with trio.fail_after(self._dial_timeout):
                    await tls.do_handshake()
            except (trio.TooSlowError, trio.BrokenResourceError) as exc:
                await trio.aclose_forcefully(tls)
                self._send_errors += 1
                raise TransportError(errno.ECONNRESET, f"TLS to {host}:{port}: {exc!r}") from exc
            except BaseException:
                await trio.aclose_forcefully(tls)
                raise
            stream = tls
        return stream

    # ----- receiving ----------------------------------------------------------------------

    async def _accept(
        self,
        on_packet: PacketHandler,
        on_stream: StreamHandler,
        nursery: trio.Nursery,
        queue: trio.MemorySendChannel[tuple[Address, bytes]],
    ) -> None:
        try:
            await self._accept_loop(on_packet, on_stream, nursery)
        finally:
            # Closed or cancelled: no new packets; the writers drain the queue, then end.
            self._queue = None
            queue.close()
            self._writer_scope.deadline = trio.current_time() + FLUSH_TIMEOUT

    async def _accept_loop(
        self, on_packet: PacketHandler, on_stream: StreamHandler, nursery: trio.Nursery
    ) -> None:
        while True:
            try:
                sock, peer = await self._listener.accept()
            except (trio.ClosedResourceError, OSError) as exc:
                if self._closed or self._listener.fileno() == -1:
                    return
                logger.warning("dskit transport accept on %s failed: %r", self._bound, exc)
                await trio.sleep(0.1)
                continue
            stream: trio.abc.Stream = trio.SocketStream(sock)
            if self._tls is not None:
                stream = trio.SSLStream(stream, self._tls.server, server_side=True)
            nursery.start_soon(self._connection, stream, (peer[0], peer[1]), on_packet, on_stream)

    async def _connection(
        self,
        stream: trio.abc.Stream,
        peer: Address,
        on_packet: PacketHandler,
        on_stream: StreamHandler,
    ) -> None:
        """Read the type byte, then a packet to EOF or hand the stream on (handleConnection)."""
        try:
            with trio.fail_after(self._write_timeout):
                first = await stream.receive_some(1)  # exactly one byte: the rest stays unread
        except (trio.TooSlowError, trio.BrokenResourceError, OSError) as exc:
            self._receive_errors += 1
            logger.debug("dskit connection from %s: no type byte: %r", peer, exc)
            await trio.aclose_forcefully(stream)
            return
        if first == STREAM_PREAMBLE:
            self._streams_accepted += 1
            await run_stream_handler(
                on_stream, stream, peer, local=self._bound, failed=self._handler_failed
            )
            return
        try:
            if first != bytes([ConnectionType.PACKET]):
                raise DskitDecodeError(f"unknown connection type {first!r}")
            body = await self._read_to_eof(stream)
            packet = decode_packet_body(body)
            sender = parse_address(packet.from_addr)
        except (DskitDecodeError, trio.TooSlowError, trio.BrokenResourceError, OSError) as exc:
            self._receive_errors += 1
            logger.debug("dskit connection from %s dropped: %s", peer, exc)
            return
        finally:
            await trio.aclose_forcefully(stream)
        self._packets_received += 1
        self._bytes_received += len(packet.payload)
        try:
            on_packet(packet.payload, sender)
        except Exception:
            self._handler_errors += 1
            logger.exception("packet handler on %s raised", self._bound)

    async def _read_to_eof(self, stream: trio.abc.Stream) -> bytes:
        body = bytearray()
        with trio.fail_after(self._write_timeout):
            async for chunk in stream:
                body += chunk
                if len(body) > self._max_body:
                    raise DskitDecodeError(f"packet: over {self._max_packet_size} bytes")
        return bytes(body)

    def _handler_failed(self) -> None:
        self._handler_errors += 1


__all__ = ["DskitTransport", "create_dskit_transport", "format_address", "parse_address"]
