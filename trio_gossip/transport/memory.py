"""A simulated network on the Trio clock: seeded delay, loss, duplication, corruption,
partitions, one-way blocks, pauses, slow and killed hosts.

Packets and stream bytes travel through the DeliveryPump's heap (see memory_pump); what happens
to them on the way is decided by the Router (memory_route), the network's one routing hook,
and carried out here. Every random draw comes from ``random.Random(seed)``: each transport gets
its own generator seeded from it (in add_node order) and draws from it in the order it sends,
so the same seed and the same program give the same history, however Trio interleaves the
tasks of different nodes.
"""

from __future__ import annotations

import ipaddress
import math
import random
from collections import deque
from collections.abc import Iterable
from typing import cast

import trio

from trio_gossip.wire.errors import ConfigError

from .addr import canonical_host, check_address
from .base import Address
from .link import LinkConfig
from .memory_pump import DeliveryPump
from .memory_route import HOLD, KILLED, NO_LISTENER, PASS, Fate, Router
from .memory_stream import Connection, MemoryStream, Pipe
from .memory_transport import MemoryTransport
from .stats import NetworkStatistics

__all__ = ["DEFAULT_LINK", "LinkConfig", "MemoryNetwork", "MemoryTransport"]

DEFAULT_LINK = LinkConfig()
DEFAULT_PORT = 7946
# A paused host's socket buffer: past this many held packets the oldest are dropped.
PAUSE_BUFFER = 1000
# Stream bytes that cannot cross are retried like TCP retransmissions, backing off.
RETRANSMIT_FIRST = 0.2
RETRANSMIT_MAX = 10.0
FIRST_EPHEMERAL_PORT = 32768


class _Dial:
    """A SYN on its way: fire() decides accepted or refused when it reaches the server."""

    def __init__(self, network: MemoryNetwork, client: MemoryTransport, addr: Address) -> None:
        self.network = network
        self.client = client
        self.addr = addr
        self.back_delay = 0.0
        self.done = trio.Event()
        self.stream: MemoryStream | None = None
        self.abandoned = False

    def fire(self, now: float) -> None:
        if not self.abandoned:
            self.network._complete_dial(self)

    def abandon(self) -> None:
        self.abandoned = True
        if self.stream is not None:
            self.stream.close_now()


class _Held:
    """What a paused host will receive once resumed."""

    def __init__(self) -> None:
        self.packets: deque[tuple[int, Address, bytes, Address]] = deque()
        self.pipes: list[Pipe] = []
        self.accepts: list[Connection] = []


class MemoryNetwork(DeliveryPump):
    """In-memory hosts and links for tests and simulations; see the module docstring."""

    def __init__(
        self,
        *,
        seed: int = 0,
        default_link: LinkConfig = DEFAULT_LINK,
        resolution: float = 0.001,
    ) -> None:
        if not isinstance(default_link, LinkConfig):
            raise ConfigError(f"default_link must be a LinkConfig, got {default_link!r}")
        super().__init__(resolution)
        self._rng = random.Random(seed)
        self._nodes: dict[Address, MemoryTransport] = {}
        self._host_nodes: dict[str, list[MemoryTransport]] = {}
        # A paused host's Event wakes its blocked senders on resume; the Router reads the keys.
        self.paused_hosts: dict[str, trio.Event] = {}
        self._router = Router(default_link, self.paused_hosts)
        self._held: dict[str, _Held] = {}
        self._next_host = 1
        self._next_index = 0
        self._next_port: dict[str, int] = {}
        self._sent = 0
        self._delivered = 0
        self._duplicated = 0
        self._dropped = dict.fromkeys(
            ("loss", "partition", "blocked", "killed", "no_listener", "overflow"), 0
        )
        self._handler_errors = 0
        self._streams_opened = 0
        self._streams_refused = 0
        self._streams_reset = 0
        self._stream_bytes = 0

    # ----- topology -------------------------------------------------------------------------

    def add_node(self, address: Address | None = None) -> MemoryTransport:
        """A new transport at ``address`` (default: the next free 10.x.y.z:7946).

        An address whose transport was killed or closed may be reused: that is a restart.
        """
        if address is None:
            address = (self._fresh_host(), DEFAULT_PORT)
        else:
            try:
                host, port = address
                address = (canonical_host(host), port)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"add_node address must be (ip, port), got {address!r}") from exc
            if not isinstance(port, int) or not 0 < port < 65536:
                raise ConfigError(f"add_node port out of range: {address!r}")
        old = self._nodes.get(address)
        if old is not None:
            if not (old.killed or old.closed):
                raise ConfigError(f"address {address} is already in use")
            self._unregister(old)
        rng = random.Random(self._rng.getrandbits(64))
        transport = MemoryTransport(self, address, rng, self._next_index)
        self._next_index += 1
        self._nodes[address] = transport
        self._host_nodes.setdefault(address[0], []).append(transport)
        return transport

    @property
    def default_link(self) -> LinkConfig:
        return self._router.default_link

    def set_default_link(self, link: LinkConfig) -> None:
        """The link for every pair without its own set_link(); applies to later sends."""
        if not isinstance(link, LinkConfig):
            raise ConfigError(f"link must be a LinkConfig, got {link!r}")
        self._router.default_link = link

    def set_link(self, src_host: str, dst_host: str, link: LinkConfig) -> None:
        """How packets from ``src_host`` to ``dst_host`` travel (one direction only)."""
        if not isinstance(link, LinkConfig):
            raise ConfigError(f"link must be a LinkConfig, got {link!r}")
        self._router.links[(_host(src_host), _host(dst_host))] = link

    def set_link_both(self, a: str, b: str, link: LinkConfig) -> None:
        self.set_link(a, b, link)
        self.set_link(b, a, link)

    def partition(self, *groups: Iterable[str]) -> None:
        """Hosts in different groups can't reach each other; unnamed hosts reach everyone.

        Replaces any earlier partition. Packets are judged when sent, dials when sent and when
        they arrive, stream bytes when due (see memory_route).
        """
        membership: dict[str, int] = {}
        for index, group in enumerate(groups):
            for name in group:
                host = _host(name)
                if membership.get(host, index) != index:
                    raise ConfigError(f"host {host} is in more than one partition group")
                membership[host] = index
        self._router.groups = membership

    def heal(self) -> None:
        """Undo partition() and block(); links, pauses, slowness and kills stay."""
        self._router.groups = {}
        self._router.udp_blocks.clear()
        self._router.tcp_blocks.clear()

    def block(self, src_host: str, dst_host: str, udp: bool = True, tcp: bool = False) -> None:
        """Drop one direction: UDP packets and/or TCP (a TCP block stalls dials both ways)."""
        pair = (_host(src_host), _host(dst_host))
        router = self._router
        for blocks, on in ((router.udp_blocks, udp), (router.tcp_blocks, tcp)):
            if on:
                blocks.add(pair)
            else:
                blocks.discard(pair)

    def unblock(self, src_host: str, dst_host: str) -> None:
        self.block(src_host, dst_host, udp=False, tcp=False)

    def pause(self, host: str) -> None:
        """Freeze a host like SIGSTOP: its sends block, what it receives is held."""
        host = _host(host)
        if host not in self.paused_hosts:
            self.paused_hosts[host] = trio.Event()

    def resume(self, host: str) -> None:
        """Thaw a paused host: held packets and stream bytes are delivered now, in order."""
        host = _host(host)
        event = self.paused_hosts.pop(host, None)
        if event is None:
            return
        event.set()
        held = self._held.pop(host, None)
        if held is None:
            return
        now = trio.current_time()
        for conn in held.accepts:
            conn.server.accept(conn)
        for pipe in held.pipes:
            self._schedule_pipe(now, pipe)
        for key, dst, data, src in held.packets:
            self._push(now, key, dst, data, src)

    def slow(self, host: str, delay: float) -> None:
        """Handle every delivery to ``host`` ``delay`` seconds late (a starved CPU); 0 undoes."""
        if not (isinstance(delay, int | float) and 0 <= delay < math.inf):
            raise ConfigError(f"slow delay must be >= 0 seconds, got {delay!r}")
        host = _host(host)
        if delay:
            self._router.slow[host] = float(delay)
        else:
            self._router.slow.pop(host, None)

    def kill(self, host: str) -> None:
        """kill -9 every transport on ``host``: mute, deaf, dials refused, streams reset."""
        host = _host(host)
        for transport in self._host_nodes.get(host, ()):
            if not transport.killed:
                self._streams_reset += transport.kill()
        event = self.paused_hosts.pop(host, None)
        if event is not None:
            event.set()
        held = self._held.pop(host, None)
        if held is not None:
            self._dropped["killed"] += len(held.packets)

    def statistics(self) -> NetworkStatistics:
        dropped = self._dropped
        return NetworkStatistics(
            packets_sent=self._sent,
            packets_delivered=self._delivered,
            packets_duplicated=self._duplicated,
            packets_corrupted=self._router.corrupted,
            dropped_loss=dropped["loss"],
            dropped_partition=dropped["partition"],
            dropped_blocked=dropped["blocked"],
            dropped_killed=dropped["killed"],
            dropped_no_listener=dropped["no_listener"],
            dropped_overflow=dropped["overflow"],
            packets_in_flight=self._in_flight,
            packets_held=sum(len(held.packets) for held in self._held.values()),
            handler_errors=self._handler_errors,
            streams_opened=self._streams_opened,
            streams_refused=self._streams_refused,
            streams_reset=self._streams_reset,
            stream_bytes=self._stream_bytes,
        )

    def destination(self, addr: Address) -> Address:
        """``addr`` spelled as this network files addresses, or TransportError where a socket
        would refuse it. (Senders skip this for a registered address: valid and canonical.)"""
        host, port = check_address(addr)
        return canonical_host(host), port

    # ----- packets --------------------------------------------------------------------------

    def _send_packet(self, src: MemoryTransport, addr: Address, data: bytes) -> None:
        self._sent += 1
        copies = self._router.route(src, addr[0], data, self.now())
        if type(copies) is not tuple:  # a Fate: dropped on the way
            self._dropped[cast(Fate, copies).value] += 1
            return
        local = src.local_address
        if len(copies) == 1:
            due, payload = copies[0]
            self._push(due, src.next_key(), addr, payload, local)
            return
        self._duplicated += len(copies) - 1
        for due, payload in copies:
            self._push(due, src.next_key(), addr, payload, local)

    def _deliver(self, key: int, addr: Address, data: bytes, src: Address) -> None:
        transport = self._nodes.get(addr)
        fate = self._router.packet_arrival(transport)
        if transport is None:  # (the Router said NO_LISTENER; this tells the type checker)
            self._dropped[fate.value] += 1
        elif fate is PASS and (handler := transport.on_packet) is not None:
            self._delivered += 1
            transport.packets_received += 1
            transport.bytes_received += len(data)
            try:
                handler(data, src)
            except Exception:
                self._handler_errors += 1
                transport.handler_failed()
        elif fate is HOLD:
            held = self._held_for(transport.host).packets
            if len(held) >= PAUSE_BUFFER:
                held.popleft()
                self._dropped["overflow"] += 1
            held.append((key, addr, data, src))
        else:
            self._dropped[fate.value] += 1

    # ----- streams --------------------------------------------------------------------------

    def _dial(self, client: MemoryTransport, addr: Address) -> _Dial:
        dial = _Dial(self, client, addr)
        a, b = client.host, addr[0]
        router = self._router
        if router.handshake_cut(a, b) is not None:
            return dial  # the SYN vanishes; the dialer waits for its timeout
        rng = client.rng
        dial.back_delay = router.stream_delay(rng, b, a)
        syn_due = self.now() + router.stream_delay(rng, a, b)
        self._schedule(syn_due, client.next_key(), dial)
        return dial

    def _complete_dial(self, dial: _Dial) -> None:
        server = self._nodes.get(dial.addr)
        fate = self._router.dial_arrival(dial.client.host, server)
        if fate in (NO_LISTENER, KILLED):
            self._streams_refused += 1
            dial.done.set()
            return
        if server is None or (fate is not PASS and fate is not HOLD):
            return  # lost on the way: the dialer waits for its timeout
        port = self._next_port.get(dial.client.host, FIRST_EPHEMERAL_PORT)
        self._next_port[dial.client.host] = port + 1 if port < 60999 else FIRST_EPHEMERAL_PORT
        conn = Connection(dial.client, server, (dial.client.host, port))
        dial.stream = conn.client_stream
        self._streams_opened += 1
        if fate is HOLD:
            self._held_for(server.host).accepts.append(conn)
        else:
            server.accept(conn)
        dial.done.set()

    def _stream_send(self, pipe: Pipe, data: bytes | None) -> None:
        """Queue bytes (or the FIN, None) behind what is already in flight: TCP never reorders."""
        if pipe.reset or pipe.reader_closed:
            return
        src = pipe.src
        due = self.now() + self._router.stream_delay(src.rng, src.host, pipe.dst.host)
        due = max(due, pipe.last_due)
        pipe.last_due = due
        pipe.in_flight.append((due, data))
        if data is not None:
            pipe.unacked += len(data)
            self._stream_bytes += len(data)
        if not pipe.scheduled:
            self._schedule_pipe(due, pipe)

    def _schedule_pipe(self, due: float, pipe: Pipe) -> None:
        pipe.scheduled = True
        self._schedule(due, pipe.src.next_key(), pipe)

    def _fire_pipe(self, pipe: Pipe, now: float) -> None:
        pipe.scheduled = False
        if pipe.reset:
            return
        if pipe.reader_closed:
            pipe.in_flight.clear()
            return
        fate = self._router.segment_arrival(pipe.src.host, pipe.dst)
        if fate is KILLED:
            self._streams_reset += pipe.conn.reset()
            return
        if fate is HOLD:
            pipe.scheduled = True
            self._held_for(pipe.dst.host).pipes.append(pipe)
            return
        if fate is not PASS:  # cut: retransmit later, backing off like TCP
            backoff = min(RETRANSMIT_FIRST * 2**pipe.retries, RETRANSMIT_MAX)
            pipe.retries += 1
            self._schedule_pipe(now + backoff, pipe)
            return
        pipe.retries = 0
        in_flight = pipe.in_flight
        while in_flight and in_flight[0][0] <= now:
            chunk = in_flight.popleft()[1]
            if chunk is None:
                pipe.eof = True
            else:
                pipe.buffer += chunk
        pipe.readable.unpark_all()
        if in_flight:
            self._schedule_pipe(in_flight[0][0], pipe)

    # ----- bookkeeping ----------------------------------------------------------------------

    def _held_for(self, host: str) -> _Held:
        held = self._held.get(host)
        if held is None:
            held = self._held[host] = _Held()
        return held

    def _unregister(self, transport: MemoryTransport) -> None:
        if self._nodes.get(transport.local_address) is transport:
            del self._nodes[transport.local_address]
        same_host = self._host_nodes.get(transport.host, [])
        if transport in same_host:
            same_host.remove(transport)

    def _fresh_host(self) -> str:
        taken = self._host_nodes
        while True:
            n = self._next_host
            self._next_host += 1
            if n % 256 in (0, 255):
                continue
            host = str(ipaddress.IPv4Address((10 << 24) + n))
            if host not in taken:
                return host


def _host(host: str) -> str:
    try:
        return canonical_host(host)
    except ValueError as exc:
        raise ConfigError(f"not an IP address: {host!r}") from exc
