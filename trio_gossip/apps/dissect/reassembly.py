"""TCP reassembly: turn captured segments into the byte stream of each connection direction.

Pure code (no scapy, no I/O) so it can be tested with hand-made segments. Each direction is
rebuilt by sequence number relative to its initial sequence number, so segments may arrive
out of order, be retransmitted or overlap. Where two segments disagree about a byte, the one
captured first wins (Wireshark's rule); a later copy is only a retransmission. A hole in the
sequence space ends the usable stream: what follows it is counted, not guessed at.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator

import attrs

# (ip, port), like transport.base.Address, without importing trio for it.
Address = tuple[str, int]

_SEQ_MOD = 1 << 32
_HALF = 1 << 31


@attrs.frozen
class Segment:
    """One captured TCP segment, as far as reassembly cares."""

    frame: int
    time: float
    src: Address
    dst: Address
    seq: int
    payload: bytes = b""
    syn: bool = False
    ack: bool = False
    fin: bool = False
    rst: bool = False


@attrs.frozen
class StreamDirection:
    """The reassembled bytes one endpoint sent on one connection."""

    connection: int  # index of the connection in the capture, from 0
    frame: int  # frame that carried the first byte of ``data``
    time: float
    src: Address
    dst: Address
    data: bytes
    # True if src opened the connection (sent the SYN), False if dst did, None if the
    # handshake was not captured.
    from_client: bool | None
    frames: tuple[int, ...]  # every frame that contributed new bytes, in capture order
    gap_at: int | None = None  # offset of the first missing byte, if any
    bytes_after_gap: int = 0  # captured bytes beyond the hole, not in ``data``


def _signed_distance(a: int, b: int) -> int:
    """``a - b`` in 32-bit sequence space, in [-2**31, 2**31)."""
    return (a - b + _HALF) % _SEQ_MOD - _HALF


class _Coverage:
    """Disjoint, sorted byte intervals already filled, to keep the first copy of each byte."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def claim(self, start: int, end: int) -> list[tuple[int, int]]:
        """Mark [start, end) as filled; return the sub-ranges that were not filled before."""
        fresh: list[tuple[int, int]] = []
        i = bisect.bisect_right(self._ends, start)
        pos = start
        first = i
        while i < len(self._starts) and self._starts[i] <= end:
            if self._starts[i] > pos:
                fresh.append((pos, self._starts[i]))
            pos = max(pos, self._ends[i])
            i += 1
        if pos < end:
            fresh.append((pos, end))
        if first < i:
            start = min(start, self._starts[first])
            end = max(end, self._ends[i - 1])
        self._starts[first:i] = [start]
        self._ends[first:i] = [end]
        return fresh


@attrs.define
class _Direction:
    src: Address
    dst: Address
    isn: int | None = None  # sequence number of our SYN, if captured
    segments: list[Segment] = attrs.Factory(list)

    def finish(self, connection: int, from_client: bool | None) -> StreamDirection | None:
        with_data = [s for s in self.segments if s.payload]
        if not with_data:
            return None
        # Sequence number of byte 0: after our SYN if we saw it, else the lowest captured.
        if self.isn is not None:
            base = (self.isn + 1) % _SEQ_MOD
        else:
            first = with_data[0].seq
            base = min((s.seq for s in with_data), key=lambda q: _signed_distance(q, first))
        coverage = _Coverage()
        pieces: list[tuple[int, bytes, Segment]] = []
        for seg in with_data:
            # Data in a SYN starts one past its sequence number.
            begin = _signed_distance((seg.seq + seg.syn) % _SEQ_MOD, base)
            end = begin + len(seg.payload)
            if end <= 0:
                continue  # entirely before the stream start: a stray retransmission
            for lo, hi in coverage.claim(max(begin, 0), end):
                pieces.append((lo, seg.payload[lo - begin : hi - begin], seg))
        pieces.sort(key=lambda p: p[0])
        data = bytearray()
        gap_at: int | None = None
        after = 0
        for offset, chunk, _seg in pieces:
            if gap_at is None and offset != len(data):
                gap_at = len(data)
            if gap_at is None:
                data += chunk
            else:
                after += len(chunk)
        if not data:
            # Only bytes after a hole: nothing decodable, report the hole at offset 0.
            gap_at = 0
        contributing = sorted({p[2].frame for p in pieces})
        head = pieces[0][2]
        return StreamDirection(
            connection=connection,
            frame=head.frame,
            time=head.time,
            src=self.src,
            dst=self.dst,
            data=bytes(data),
            from_client=from_client,
            frames=tuple(contributing),
            gap_at=gap_at,
            bytes_after_gap=after,
        )


@attrs.define
class _Connection:
    index: int
    client: Address | None = None
    directions: dict[Address, _Direction] = attrs.Factory(dict)
    closed: bool = False  # both FINs or a RST seen: a new SYN starts a new connection

    def direction(self, seg: Segment) -> _Direction:
        d = self.directions.get(seg.src)
        if d is None:
            d = self.directions[seg.src] = _Direction(seg.src, seg.dst)
        return d

    def finish(self) -> list[StreamDirection]:
        out = []
        for src, d in self.directions.items():
            from_client = None if self.client is None else src == self.client
            sd = d.finish(self.index, from_client)
            if sd is not None:
                out.append(sd)
        return out


class TcpReassembler:
    """Collects segments of many connections; `finish` yields every non-empty direction."""

    def __init__(self) -> None:
        self._open: dict[frozenset[Address], _Connection] = {}
        self._done: list[_Connection] = []
        self._count = 0

    def _new(self, key: frozenset[Address]) -> _Connection:
        old = self._open.pop(key, None)
        if old is not None:
            self._done.append(old)
        conn = self._open[key] = _Connection(self._count)
        self._count += 1
        return conn

    def add(self, seg: Segment) -> None:
        key = frozenset((seg.src, seg.dst))
        conn = self._open.get(key)
        if conn is None:
            conn = self._new(key)
        elif seg.syn:
            d = conn.directions.get(seg.src)
            # A SYN with a new ISN on a used 4-tuple is port reuse: a new connection.
            # A repeated SYN with the same ISN is just a retransmission.
            # A SYN after data without one means the capture started mid-connection.
            reused = d is not None and (d.isn != seg.seq if d.isn is not None else bool(d.segments))
            if conn.closed or reused:
                conn = self._new(key)
        d = conn.direction(seg)
        if seg.syn:
            d.isn = seg.seq
            if not seg.ack:
                conn.client = seg.src
            elif conn.client is None:
                conn.client = seg.dst
        d.segments.append(seg)
        if seg.rst:
            conn.closed = True
        elif seg.fin:
            fins = sum(any(s.fin for s in x.segments) for x in conn.directions.values())
            conn.closed = fins == 2

    def finish(self) -> Iterator[StreamDirection]:
        """Every direction that carried data, connection by connection."""
        conns = self._done + list(self._open.values())
        conns.sort(key=lambda c: c.index)
        for conn in conns:
            yield from conn.finish()


def reassemble(segments: Iterable[Segment]) -> list[StreamDirection]:
    """Reassemble all segments; directions are ordered by their first data frame."""
    r = TcpReassembler()
    for seg in segments:
        r.add(seg)
    return sorted(r.finish(), key=lambda s: (s.frame, s.connection))
