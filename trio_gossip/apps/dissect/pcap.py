"""Read a capture file with scapy and extract UDP payloads and reassembled TCP streams.

scapy takes about a second to import, so it is imported only inside `read_capture`: the
command line must stay fast for everything that does not read a capture.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Set
from pathlib import Path
from typing import Any

import attrs

from trio_gossip.apps.dissect.reassembly import Address, Segment, StreamDirection, TcpReassembler


class CaptureError(Exception):
    """The file cannot be read as a capture (missing, unreadable, wrong format)."""


@attrs.frozen
class Datagram:
    """One UDP payload (non-empty), possibly reassembled from IPv4 fragments."""

    frame: int
    time: float  # seconds since the first frame of the capture
    src: Address
    dst: Address
    data: bytes
    # Set when the payload is known to be incomplete (snap length, unreassembled fragment).
    problem: str | None = None


@attrs.frozen
class Capture:
    datagrams: tuple[Datagram, ...]
    streams: tuple[StreamDirection, ...]  # ordered by first data frame
    frames: int  # number of records in the file
    start: float | None = None  # Unix time of the first frame (None: the file has none)
    # UDP and TCP frames with a payload that the port filter left out: how many, and the
    # ports they used (both ends of a datagram, the lower of a TCP segment's), busiest first.
    skipped_frames: int = 0
    skipped_ports: tuple[tuple[int, int], ...] = ()


@attrs.define
class _Fragments:
    """The pieces of one fragmented IPv4 datagram, keyed by byte offset."""

    pieces: dict[int, bytes] = attrs.Factory(dict)
    total: int | None = None  # known once the last fragment (MF clear) arrives

    def add(self, offset: int, data: bytes, more: bool) -> bytes | None:
        self.pieces.setdefault(offset, data)
        if not more:
            self.total = offset + len(data)
        if self.total is None:
            return None
        out = bytearray()
        for off in sorted(self.pieces):
            if off > len(out):
                return None  # still a hole
            out += self.pieces[off][len(out) - off :]  # overlap: keep what is placed
        return bytes(out[: self.total]) if len(out) >= self.total else None


def _payload(layer: Any) -> bytes:
    """The bytes after `layer`, without the link-layer padding scapy keeps after short frames."""
    from scapy.packet import Padding  # noqa: PLC0415 - scapy is slow to import

    data = bytes(layer.payload)
    pad = layer.getlayer(Padding)
    return data[: len(data) - len(pad.load)] if pad is not None else data


def _udp_ports(header: bytes) -> tuple[int, int]:
    """Source and destination port of a UDP header at the start of a first fragment."""
    if len(header) < 4:
        return 0, 0
    return int.from_bytes(header[0:2], "big"), int.from_bytes(header[2:4], "big")


class _Extractor:
    """Walks the frames in order, emitting datagrams and feeding TCP segments to reassembly.

    With ``ports``, only UDP datagrams and TCP segments with one of them at either end are
    kept; the others that carry a payload are counted in ``skipped``.
    """

    def __init__(self, ports: Set[int] | None = None) -> None:
        from scapy.layers.inet import UDP  # noqa: PLC0415

        self._udp = UDP
        self._ports = ports
        self.datagrams: list[Datagram] = []
        self.tcp = TcpReassembler()
        self._fragments: dict[tuple[str, str, int], _Fragments] = {}
        self.skipped: Counter[int] = Counter()
        self.skipped_frames = 0

    def _wanted(self, sport: int, dport: int, has_payload: bool, tcp: bool = False) -> bool:
        if self._ports is None or sport in self._ports or dport in self._ports:
            return True
        if has_payload:
            self.skipped_frames += 1
            # A TCP connection's other end is most often a short-lived ephemeral port, above
            # the service's: count only the lower one. Gossip datagrams go port to port.
            ends = {min(sport, dport)} if tcp else {sport, dport}
            self.skipped.update(ends - {0})
        return False

    def frame(self, frame: int, time: float, pkt: Any) -> None:
        from scapy.layers.inet import IP, TCP, UDP  # noqa: PLC0415
        from scapy.layers.inet6 import (  # noqa: PLC0415
            IPv6,
            IPv6ExtHdrDestOpt,
            IPv6ExtHdrFragment,
            IPv6ExtHdrHopByHop,
            IPv6ExtHdrRouting,
        )

        if IP in pkt:
            ip = pkt[IP]
            l4 = self._defragment(ip) if ip.flags.MF or ip.frag else ip.payload
        elif IPv6 in pkt:
            ip = pkt[IPv6]
            if IPv6ExtHdrFragment in pkt:
                frag = pkt[IPv6ExtHdrFragment]
                if frag.nh == 17:
                    # Only the first fragment holds the UDP header, and so the ports.
                    first = int(frag.offset) == 0
                    sport, dport = _udp_ports(bytes(frag.payload)) if first else (0, 0)
                    if not self._wanted(sport, dport, has_payload=True):
                        return
                    src, dst = (str(ip.src), sport), (str(ip.dst), dport)
                    problem = "IPv6 fragment (not reassembled)"
                    self.datagrams.append(Datagram(frame, time, src, dst, b"", problem))
                return
            l4 = ip.payload
            # Only skip extension headers: a UDP header quoted in an ICMPv6 error is not ours.
            while isinstance(l4, IPv6ExtHdrHopByHop | IPv6ExtHdrRouting | IPv6ExtHdrDestOpt):
                l4 = l4.payload
        else:
            return
        if l4 is None:
            return  # a fragment still waiting for the rest of its datagram
        src_ip, dst_ip = str(ip.src), str(ip.dst)
        if isinstance(l4, UDP):
            self._datagram(frame, time, src_ip, dst_ip, l4)
        elif isinstance(l4, TCP):
            flags = l4.flags
            payload = _payload(l4)
            if not self._wanted(int(l4.sport), int(l4.dport), bool(payload), tcp=True):
                return
            segment = Segment(
                frame=frame,
                time=time,
                src=(src_ip, int(l4.sport)),
                dst=(dst_ip, int(l4.dport)),
                seq=int(l4.seq),
                payload=payload,
                syn=bool(flags.S),
                ack=bool(flags.A),
                fin=bool(flags.F),
                rst=bool(flags.R),
            )
            self.tcp.add(segment)

    def _datagram(self, frame: int, time: float, src_ip: str, dst_ip: str, udp: Any) -> None:
        data = _payload(udp)
        if not data or not self._wanted(int(udp.sport), int(udp.dport), has_payload=True):
            return
        problem = None
        if udp.len is not None and udp.len - 8 > len(data):
            problem = f"captured {len(data)} of {udp.len - 8} bytes (snap length)"
        src, dst = (src_ip, int(udp.sport)), (dst_ip, int(udp.dport))
        self.datagrams.append(Datagram(frame, time, src, dst, data, problem))

    def _defragment(self, ip: Any) -> Any:
        """The UDP layer once all IPv4 fragments of a datagram are in, else None."""
        if ip.proto != 17:
            return None
        key = (str(ip.src), str(ip.dst), int(ip.id))
        pieces = self._fragments.setdefault(key, _Fragments())
        whole = pieces.add(int(ip.frag) * 8, _payload(ip), bool(ip.flags.MF))
        if whole is None:
            return None
        del self._fragments[key]
        return self._udp(whole)

    def leftovers(self, frame: int, time: float) -> None:
        for (src_ip, dst_ip, _id), pieces in self._fragments.items():
            sport, dport = _udp_ports(pieces.pieces.get(0, b""))
            if not self._wanted(sport, dport, has_payload=True):
                continue
            problem = "incomplete IPv4 fragments at the end of the capture"
            src, dst = (src_ip, sport), (dst_ip, dport)
            self.datagrams.append(Datagram(frame, time, src, dst, b"", problem))


def read_capture(path: str | Path, ports: Set[int] | None = None) -> Capture:
    """Read a pcap or pcapng file; raises CaptureError if it cannot be read at all.

    With ``ports``, only UDP and TCP traffic with one of those ports at either end is kept
    (before TCP reassembly, so other connections cost no memory).
    """
    try:
        # Layers must be registered before reading, or frames come back as Raw.
        import scapy.layers.inet  # noqa: PLC0415
        import scapy.layers.inet6  # noqa: PLC0415
        import scapy.layers.l2  # noqa: PLC0415, F401
        from scapy.error import Scapy_Exception  # noqa: PLC0415
        from scapy.utils import PcapReader  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - scapy is an optional dependency
        raise CaptureError(
            "reading captures needs scapy: pip install 'trio-gossip[dissect]'"
        ) from exc
    try:
        reader = PcapReader(str(path))
    except (OSError, Scapy_Exception) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CaptureError(f"cannot read {path}: {reason}") from exc

    extractor = _Extractor(ports)
    first: Any = None
    frame = 0
    time = 0.0
    with reader:
        for pkt in reader:
            frame += 1
            if first is None:
                first = pkt.time
            # scapy keeps pcap times as exact decimals: subtract before converting.
            time = float(pkt.time - first)
            extractor.frame(frame, time, pkt)
    extractor.leftovers(frame, time)
    streams = sorted(extractor.tcp.finish(), key=lambda s: (s.frame, s.connection))
    return Capture(
        tuple(extractor.datagrams),
        tuple(streams),
        frame,
        start=None if first is None else float(first),
        skipped_frames=extractor.skipped_frames,
        skipped_ports=tuple(extractor.skipped.most_common()),
    )
