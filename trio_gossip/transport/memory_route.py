"""The simulated network's routing hook: every fault decision, in one place.

MemoryNetwork moves traffic (the heap, the held buffers, the counters, the handlers); the
Router decides what happens to it. Traffic meets the Router at two moments, because a host can
be killed or paused while something is on its way to it:

- when it leaves (``route`` for a datagram, ``handshake_cut`` for a dial): a killed sender is
  mute, partitions and one-way blocks cut the path, and a datagram draws its loss, delay,
  duplicate and corruption from the sender's own generator (so histories replay from the seed);
- when it is due (``packet_arrival``, ``dial_arrival``, ``segment_arrival``): the receiving
  host's state, and for TCP the path again (stream bytes are judged when due, as
  retransmissions would be).

The Router reads no clock and keeps no trio object: time arrives as an argument.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Collection
from typing import TYPE_CHECKING

from .link import LinkConfig

if TYPE_CHECKING:
    from .memory_transport import MemoryTransport


class Fate(enum.Enum):
    """The Router's verdict; a drop's value names its NetworkStatistics counter."""

    PASS = "pass"  # on its way (leaving) or handed over (arriving)
    HOLD = "hold"  # the receiving host is paused: kept until resume()
    LOSS = "loss"
    PARTITION = "partition"
    BLOCKED = "blocked"
    KILLED = "killed"
    NO_LISTENER = "no_listener"


# The members by plain name: ``Fate.PASS`` goes through the enum's metaclass (about 80 ns on
# CPython 3.11), and the hot paths compare a few of them for every packet.
PASS, HOLD, LOSS = Fate.PASS, Fate.HOLD, Fate.LOSS
PARTITION, BLOCKED, KILLED, NO_LISTENER = (
    Fate.PARTITION, Fate.BLOCKED, Fate.KILLED, Fate.NO_LISTENER
)  # fmt: skip

# A datagram that goes on: each copy's due time and bytes (two copies when duplicated).
Copies = tuple[tuple[float, bytes], ...]


class Router:
    """The fault tables (links, partitions, blocks, slow hosts) and every decision on them.

    ``paused`` is the network's own table of paused hosts, shared, so pausing is one write.
    """

    def __init__(self, default_link: LinkConfig, paused: Collection[str]) -> None:
        self.default_link = default_link
        self.links: dict[tuple[str, str], LinkConfig] = {}
        self.groups: dict[str, int] = {}
        self.udp_blocks: set[tuple[str, str]] = set()
        self.tcp_blocks: set[tuple[str, str]] = set()
        self.slow: dict[str, float] = {}
        self.paused = paused
        self.corrupted = 0

    # ----- leaving ---------------------------------------------------------------------------

    def route(self, src: MemoryTransport, dst_host: str, data: bytes, now: float) -> Fate | Copies:
        """A datagram leaving ``src`` at ``now``: dropped on the way (the Fate) or its copies.

        The draws happen in a fixed order (loss, delay, corruption, duplicate, its delay and
        corruption) and only for the faults the link has, so a link without corruption draws
        exactly what it drew before corruption existed: older seeds replay unchanged.
        """
        if src.killed:
            return KILLED
        src_host = src.host
        if self.groups or self.udp_blocks:
            cut = self.cut(src_host, dst_host, tcp=False)
            if cut is not None:
                return cut
        links = self.links
        link = links.get((src_host, dst_host), self.default_link) if links else self.default_link
        rng = src.rng
        if link.loss and rng.random() < link.loss:
            return LOSS
        base = now + link.latency
        if self.slow:
            base += self.slow.get(dst_host, 0.0)
        due = _packet_due(base, link, rng) if link.jitter or link.reorder else base
        first = self._maybe_corrupt(data, link, rng) if link.corrupt else data
        if link.duplicate and rng.random() < link.duplicate:
            # The copy travels on its own: its own delay, and its own chance of corruption.
            second_due = _packet_due(base, link, rng)
            second = self._maybe_corrupt(data, link, rng) if link.corrupt else data
            return ((due, first), (second_due, second))
        return ((due, first),)

    def handshake_cut(self, client_host: str, server_host: str) -> Fate | None:
        """Whether a dial cannot complete: its SYN and SYN-ACK need both directions, so a
        TCP block either way stalls it (the dialer waits for its timeout)."""
        return self.cut(client_host, server_host, tcp=True) or self.cut(
            server_host, client_host, tcp=True
        )

    def cut(self, src_host: str, dst_host: str, *, tcp: bool) -> Fate | None:
        """The one path check, for datagrams, dials and stream bytes alike: hosts in different
        partition groups never reach each other; a one-way block drops its protocol."""
        groups = self.groups
        if groups:
            group = groups.get(src_host)
            if group is not None and groups.get(dst_host, group) != group:
                return PARTITION
        blocks = self.tcp_blocks if tcp else self.udp_blocks
        if blocks and (src_host, dst_host) in blocks:
            return BLOCKED
        return None

    def stream_delay(self, rng: random.Random, src_host: str, dst_host: str) -> float:
        """One-way delay of a stream event: latency, the receiver's slowness, jitter. Streams
        never lose, duplicate, reorder or corrupt: TCP repairs all of that."""
        link = self.links.get((src_host, dst_host), self.default_link)
        delay = link.latency + self.slow.get(dst_host, 0.0)
        if link.jitter:
            delay += rng.random() * link.jitter
        return delay

    # ----- arriving --------------------------------------------------------------------------

    def packet_arrival(self, receiver: MemoryTransport | None) -> Fate:
        """A datagram due at its address: who, if anyone, takes it now."""
        if receiver is None:
            return NO_LISTENER
        if receiver.killed:
            return KILLED
        if self.paused and receiver.host in self.paused:
            return HOLD  # before "not serving": a frozen process still owns its socket
        if receiver.on_packet is None:
            return NO_LISTENER
        return PASS

    def dial_arrival(self, client_host: str, server: MemoryTransport | None) -> Fate:
        """A SYN due at its address: refused (NO_LISTENER, KILLED), lost on the way, held by
        a paused server (whose kernel still completes the handshake), or accepted."""
        if server is None or not server.serving:
            return NO_LISTENER
        if server.killed:
            return KILLED
        cut = self.handshake_cut(client_host, server.host)
        if cut is not None:
            return cut
        if server.host in self.paused:
            return HOLD
        return PASS

    def segment_arrival(self, src_host: str, receiver: MemoryTransport) -> Fate:
        """Stream bytes due at the other end: reset by a killed peer, held by a paused one,
        retransmitted later across a cut, or received."""
        if receiver.killed:
            return KILLED
        if receiver.host in self.paused:
            return HOLD
        return self.cut(src_host, receiver.host, tcp=True) or PASS

    # ----- link physics ----------------------------------------------------------------------

    def _maybe_corrupt(self, data: bytes, link: LinkConfig, rng: random.Random) -> bytes:
        if not data or rng.random() >= link.corrupt:
            return data
        self.corrupted += 1
        bit = rng.randrange(len(data) * 8)
        flipped = bytearray(data)
        flipped[bit >> 3] ^= 1 << (bit & 7)
        return bytes(flipped)


def _packet_due(base: float, link: LinkConfig, rng: random.Random) -> float:
    if link.jitter:
        base += rng.random() * link.jitter
    if link.reorder and rng.random() < link.reorder:
        base += rng.random() * link.reorder_delay
    return base
