"""Real sockets: UDP for packets and TCP for streams on one port, like memberlist's NetTransport."""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import socket as stdlib_socket
from functools import lru_cache, partial

import trio

from trio_gossip.wire.errors import ConfigError

from .addr import canonical_host, check_address, unmap_host
from .base import Address, PacketHandler, StreamHandler, TransportError
from .handlers import run_stream_handler
from .stats import TransportStatistics

logger = logging.getLogger("trio_gossip.transport")

# Port 0 asks for a port free for both protocols: the kernel picks one for TCP, UDP may find it
# taken, so we try again with a fresh one.
BIND_ATTEMPTS = 20
# memberlist asks for a 2 MiB UDP receive buffer so bursts of gossip are not dropped.
UDP_RECEIVE_BUFFER = 2 << 20
# Out of file descriptors: give running handlers a moment to close theirs (as trio's servers do).
ACCEPT_BACKOFF = 0.1
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})


async def create_net_transport(
    bind_host: str,
    bind_port: int,
    *,
    advertise: Address | None = None,
    udp_buffer_size: int = 65536,
    tcp_backlog: int = 128,
) -> NetTransport:
    """Bind UDP and TCP on ``bind_host:bind_port`` (port 0: any port free for both).

    ``advertise`` defaults to the bound address; for a wildcard bind (0.0.0.0, ::) it is the
    address the default route would use, or loopback on a machine without one. Binding "::"
    makes a dual-stack socket that also serves IPv4 peers, reported as plain IPv4 addresses.
    """
    try:
        host = canonical_host(bind_host)
    except ValueError as exc:
        raise ConfigError(f"bind_host must be an IP address, got {bind_host!r}") from exc
    if not isinstance(bind_port, int) or not 0 <= bind_port < 65536:
        raise ConfigError(f"bind_port must be in [0, 65535], got {bind_port!r}")
    if not isinstance(udp_buffer_size, int) or not 0 < udp_buffer_size <= 1 << 20:
        raise ConfigError(f"udp_buffer_size must be in [1, 1 MiB], got {udp_buffer_size!r}")
    if not isinstance(tcp_backlog, int) or tcp_backlog < 1:
        raise ConfigError(f"tcp_backlog must be >= 1, got {tcp_backlog!r}")
    if advertise is not None:
        advertise = _check_advertise(advertise)

    family = stdlib_socket.AF_INET6 if ":" in host else stdlib_socket.AF_INET
    wildcard = ipaddress.ip_address(host).is_unspecified
    dual_stack = wildcard and family == stdlib_socket.AF_INET6
    attempts = BIND_ATTEMPTS if bind_port == 0 else 1
    for attempt in range(attempts):
        tcp = _socket(family, stdlib_socket.SOCK_STREAM, dual_stack)
        udp_raw = stdlib_socket.socket(family, stdlib_socket.SOCK_DGRAM)
        udp = _socket_of(udp_raw, dual_stack)
        try:
            # TIME_WAIT from earlier connections must not stop a restart on the same port.
            tcp.setsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_REUSEADDR, 1)
            await tcp.bind((host, bind_port))
            port = tcp.getsockname()[1]
            await udp.bind((host, port))
            tcp.listen(tcp_backlog)
        except OSError as exc:
            tcp.close()
            udp.close()
            if exc.errno == errno.EADDRINUSE and attempt + 1 < attempts:
                continue
            # strerror: str(exc) would lead with "[Errno 98]", noise in a one-line error.
            raise TransportError(
                exc.errno, f"cannot bind {host}:{bind_port}: {exc.strerror or exc}"
            ) from exc
        break
    with contextlib.suppress(OSError):  # best effort: the kernel's default still works
        udp.setsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)
    if advertise is None:
        advertise = (_default_advertise_host(family) if wildcard else host, port)
    return NetTransport(
        tcp,
        udp,
        udp_raw,
        bound=(host, port),
        advertise=advertise,
        udp_buffer_size=udp_buffer_size,
        dual_stack=dual_stack,
    )


_TARGETS_KEPT = 4096  # distinct destinations remembered before the map starts over

class NetTransport:
    """UDP + TCP sockets bound to one port; implements Transport. Made by create_net_transport."""

    def __init__(
        self,
        tcp: trio.socket.SocketType,
        udp: trio.socket.SocketType,
        udp_raw: stdlib_socket.socket,
        *,
        bound: Address,
        advertise: Address,
        udp_buffer_size: int,
        dual_stack: bool,
    ) -> None:
        self._tcp = tcp
        self._udp = udp
        self._udp_raw = udp_raw
        self._bound = bound
        self._advertise = advertise
        self._udp_buffer_size = udp_buffer_size
        self._ipv6 = udp.family == stdlib_socket.AF_INET6
        self._dual_stack = dual_stack
        # Where each member's datagrams go, checked once: parsing the address (ipaddress) was
        # a third of an idle agent's Python time per send. Bounded: members come and go.
        self._targets: dict[Address, tuple[str, int]] = {}
        self._closed = False
        self._serving = False
        self._packets_sent = 0
        self._bytes_sent = 0
        self._packets_received = 0
        self._bytes_received = 0
        self._send_errors = 0
        self._receive_errors = 0
        self._streams_opened = 0
        self._streams_accepted = 0
        self._handler_errors = 0

    @property
    def local_address(self) -> Address:
        """The advertise address."""
        return self._advertise

    @property
    def bound_address(self) -> Address:
        """Where the sockets are bound (the wildcard stays a wildcard)."""
        return self._bound

    async def send_packet(self, addr: Address, data: bytes) -> None:
        """One datagram; TransportError if the kernel refuses it (EPERM, unreachable, too big)."""
        if self._closed:
            raise TransportError(errno.EBADF, "transport is closed")
        target = self._udp_target(addr)
        try:
            await self._udp.sendto(data, target)
        except trio.ClosedResourceError as exc:
            raise TransportError(errno.EBADF, "transport is closed") from exc
        except OSError as exc:
            self._send_errors += 1
            raise TransportError(exc.errno, f"send to {addr[0]}:{addr[1]} failed: {exc}") from exc
        self._packets_sent += 1
        self._bytes_sent += len(data)

    def send_packet_nowait(self, addr: Address, data: bytes) -> bool:
        """``send_packet`` from synchronous code: False when the socket's buffer is full."""
        if self._closed:
            raise TransportError(errno.EBADF, "transport is closed")
        target = self._udp_target(addr)
        try:
            self._udp_raw.sendto(data, target)
        except BlockingIOError:
            return False
        except OSError as exc:
            self._send_errors += 1
            raise TransportError(exc.errno, f"send to {addr[0]}:{addr[1]} failed: {exc}") from exc
        self._packets_sent += 1
        self._bytes_sent += len(data)
        return True

    async def open_stream(self, addr: Address) -> trio.abc.Stream:
        """Dial TCP to an IP address (no DNS); TransportError if refused or unreachable."""
        if self._closed:
            raise TransportError(errno.EBADF, "transport is closed")
        host, port = check_address(addr)
        family = stdlib_socket.AF_INET6 if ":" in host else stdlib_socket.AF_INET
        sock = trio.socket.socket(family, stdlib_socket.SOCK_STREAM)
        try:
            await sock.connect((host, port))
        except OSError as exc:
            sock.close()
            raise TransportError(exc.errno, f"connect to {host}:{port} failed: {exc}") from exc
        except BaseException:
            sock.close()
            raise
        self._streams_opened += 1
        return trio.SocketStream(sock)

    async def serve(
        self,
        on_packet: PacketHandler,
        on_stream: StreamHandler,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Receive datagrams and accept connections until cancelled or closed."""
        if self._closed:
            raise TransportError(errno.EBADF, "transport is closed")
        if self._serving:
            raise RuntimeError(f"{self._bound} is already serving")
        self._serving = True
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._receive_packets, on_packet)
                nursery.start_soon(self._accept_streams, on_stream, nursery)
                task_status.started()
        finally:
            self._serving = False

    async def aclose(self) -> None:
        """Close both sockets (waking the receive loops, which then end). Idempotent."""
        if not self._closed:
            self._closed = True
            self._udp.close()
            self._tcp.close()
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

    def _udp_target(self, addr: Address) -> tuple[str, int]:
        try:
            known = self._targets.get(addr)
        except TypeError:  # unhashable: not an address; check_address says why
            known = None
        if known is not None and type(addr[1]) is int:  # (7946.0 hashes as 7946 does)
            return known
        target = self._checked_target(addr)
        if len(self._targets) >= _TARGETS_KEPT:
            self._targets.clear()
        self._targets[addr] = target
        return target

    def _checked_target(self, addr: Address) -> tuple[str, int]:
        host, port = check_address(addr)
        v6 = ":" in host
        if v6 == self._ipv6:
            return host, port
        if self._dual_stack:
            return f"::ffff:{host}", port
        kind = "IPv6" if v6 else "IPv4"
        raise TransportError(errno.EAFNOSUPPORT, f"cannot send to {kind} {host} from {self._bound}")

    async def _receive_packets(self, on_packet: PacketHandler) -> None:
        size = self._udp_buffer_size
        while True:
            try:
                data, peer = await self._udp.recvfrom(size)
            except (trio.ClosedResourceError, OSError) as exc:
                if self._closed or self._udp.fileno() == -1:
                    return
                # E.g. ECONNREFUSED from an ICMP error on some platforms: not our problem.
                self._receive_errors += 1
                logger.debug("UDP receive on %s failed: %r", self._bound, exc)
                await trio.lowlevel.checkpoint()  # never spin without letting others run
                continue
            self._packets_received += 1
            self._bytes_received += len(data)
            try:
                on_packet(data, (unmap_host(peer[0]), peer[1]))
            except Exception:
                self._handler_errors += 1
                logger.exception("packet handler on %s raised", self._bound)

    async def _accept_streams(self, on_stream: StreamHandler, nursery: trio.Nursery) -> None:
        while True:
            try:
                sock, peer = await self._tcp.accept()
            except (trio.ClosedResourceError, OSError) as exc:
                if self._closed or self._tcp.fileno() == -1:
                    return
                logger.warning("TCP accept on %s failed: %r", self._bound, exc)
                if getattr(exc, "errno", None) in _OUT_OF_RESOURCES:
                    await trio.sleep(ACCEPT_BACKOFF)
                else:
                    await trio.lowlevel.checkpoint()
                continue
            self._streams_accepted += 1
            stream = trio.SocketStream(sock)
            nursery.start_soon(
                partial(
                    run_stream_handler,
                    on_stream,
                    stream,
                    (unmap_host(peer[0]), peer[1]),
                    local=self._bound,
                    failed=self._stream_handler_failed,
                )
            )

    def _stream_handler_failed(self) -> None:
        self._handler_errors += 1


def _socket(family: int, kind: int, dual_stack: bool) -> trio.socket.SocketType:
    return _socket_of(stdlib_socket.socket(family, kind), dual_stack)


def _socket_of(raw: stdlib_socket.socket, dual_stack: bool) -> trio.socket.SocketType:
    # Trio wraps the standard socket object itself (and makes it non-blocking), so the UDP
    # one's own sendto serves send_packet_nowait without reaching into Trio.
    sock = trio.socket.from_stdlib_socket(raw)
    if dual_stack:
        sock.setsockopt(stdlib_socket.IPPROTO_IPV6, stdlib_socket.IPV6_V6ONLY, 0)
    return sock


def _check_advertise(advertise: Address) -> Address:
    try:
        host, port = check_address(advertise)
    except TransportError as exc:
        raise ConfigError(f"advertise must be (ip, port), got {advertise!r}") from exc
    host = canonical_host(host)
    if ipaddress.ip_address(host).is_unspecified:
        raise ConfigError(f"advertise must not be a wildcard address, got {host}")
    return host, port


@lru_cache(maxsize=2)
def _default_advertise_host(family: int) -> str:
    """The source address of the default route (found without sending anything), else
    loopback: what peers can reach us on when we bound every interface."""
    probe_target = "2001:db8::1" if family == stdlib_socket.AF_INET6 else "192.0.2.1"
    with stdlib_socket.socket(family, stdlib_socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((probe_target, 9))
            host = str(probe.getsockname()[0])
        except OSError:
            host = ""
    if not host or ipaddress.ip_address(host).is_unspecified:
        return "::1" if family == stdlib_socket.AF_INET6 else "127.0.0.1"
    return canonical_host(host.split("%", 1)[0])
