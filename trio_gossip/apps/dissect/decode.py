"""Turn captured payloads into records: every message of every datagram and stream direction.

Decoding is the wire package's; this module only drives it and never lets an exception out:
a payload that does not decode becomes a record carrying the reason. TCP connections of
dskit's memberlist KV (kv/memberlist/tcp_transport.go) are recognised by their framing, or all
read as dskit's when asked, and their KV messages decoded (see `dskit`).
"""

from __future__ import annotations

from collections import defaultdict
from enum import Enum

import attrs
import msgpack

from trio_gossip.apps.dissect import dskit
from trio_gossip.apps.dissect.pcap import Capture, Datagram
from trio_gossip.apps.dissect.reassembly import StreamDirection
from trio_gossip.apps.dissect.record import Record
from trio_gossip.wire import Keyring, MessageType, TracedMessage, trace_packet, trace_stream
from trio_gossip.wire.errors import DecodeError

# A TLS record (a handshake, 0x16, then major version 3) opening a connection: dskit's
# transport with -memberlist.tls-enabled (tcp_transport.go uses crypto/tls).
_TLS_START = b"\x16\x03"


class Framing(Enum):
    """How a TCP stream direction is read."""

    MEMBERLIST = "memberlist"  # memberlist's own stream protocol (net.go)
    DSKIT = "dskit"  # a dskit connection's opener: type byte, then a packet or a stream
    DSKIT_REPLY = "dskit reply"  # the listener's side of a dskit stream: no type byte


def _bug(exc: Exception) -> str:
    # The codec should only raise DecodeError; anything else is its bug, but the dissector
    # still reports the payload instead of dying on it.
    return f"decoder failed unexpectedly: {type(exc).__name__}: {exc}"


def trailing_bytes(raw: bytes) -> int:
    """Bytes after a message's msgpack body, which Go (and our codec) silently ignore."""
    if len(raw) < 2 or raw[0] in (MessageType.USER, MessageType.PUSH_PULL):
        return 0  # their msgpack header is followed by raw bytes by design
    unpacker = msgpack.Unpacker(raw=True)
    unpacker.feed(raw[1:])
    try:
        unpacker.skip()
    except Exception:  # not decodable here means the codec did not decode it either
        return 0
    return len(raw) - 1 - int(unpacker.tell())


def _check_trailing(record: Record, keyless_encrypted_guess: bool) -> Record:
    extra = trailing_bytes(record.raw)
    if record.message is None or not extra:
        return record
    if keyless_encrypted_guess:
        # An encrypted datagram starts with version 0 or 1, the ping and indirectPing type
        # bytes; now and then its ciphertext reads as a tiny msgpack map. Real ones never
        # leave bytes over, so call it what it most likely is.
        error = (
            f"{record.path[-1]} body followed by {extra} unexplained bytes: most likely an"
            " encrypted packet (no key was given)"
        )
        return attrs.evolve(record, message=None, error=error)
    return attrs.evolve(record, note=f"{extra} bytes after the message body (ignored by Go)")


def _records(base: Record, traced: list[TracedMessage], encrypted_guess: bool) -> list[Record]:
    out = []
    for t in traced:
        record = attrs.evolve(
            base, path=tuple(t.path), message=t.message, error=t.error, raw=bytes(t.raw)
        )
        out.append(_check_trailing(record, encrypted_guess and len(t.path) == 1))
    return out


def decode_datagram(
    index: int, dgram: Datagram, *, keyring: Keyring | None, label: bytes
) -> list[Record]:
    """Every message in one UDP payload (or one record saying why there is none)."""
    base = Record(index, dgram.frame, dgram.time, "udp", dgram.src, dgram.dst, None)
    if dgram.problem is not None:
        return [attrs.evolve(base, error=dgram.problem, raw=dgram.data)]
    try:
        traced = trace_packet(dgram.data, keyring=keyring, label=label)
    except DecodeError as exc:  # the contract is per-message errors, but be safe
        traced = [TracedMessage((), None, str(exc), dgram.data)]
    except Exception as exc:
        traced = [TracedMessage((), None, _bug(exc), dgram.data)]
    guess = keyring is None and dgram.data[:1] in (b"\x00", b"\x01")
    return _records(base, dskit.expand_snappy(traced, stream=False), guess)


def _trace_stream(data: bytes, keyring: Keyring | None, label: bytes) -> list[TracedMessage]:
    try:
        # Reads plaintext even when a key is given (a node without the key still talks),
        # and a label header wherever the dialer put one.
        traced = trace_stream(data, keyring=keyring, label=label)
    except DecodeError as exc:  # the contract is per-message errors, but be safe
        traced = [TracedMessage((), None, str(exc), data)]
    except Exception as exc:
        traced = [TracedMessage((), None, _bug(exc), data)]
    return dskit.expand_snappy(traced, stream=True)


def _trace_dskit(
    data: bytes, keyring: Keyring | None, label: bytes
) -> tuple[list[TracedMessage], str | None, str | None]:
    """A dskit connection opener's messages, the sender's advertised address and a note."""
    if dskit.MISSING is not None:
        return [TracedMessage((), None, dskit.MISSING, data)], None, None
    kind = data[0]
    if kind == 2:
        traced = _trace_stream(data[1:], keyring, label)
        return [attrs.evolve(t, path=(dskit.STREAM_LAYER, *t.path)) for t in traced], None, None
    if kind != 1:
        return [TracedMessage((), None, dskit.connection_error(kind), data)], None, None
    try:
        packet = dskit.split_packet(data)
    except DecodeError as exc:
        return [TracedMessage((dskit.PACKET_LAYER,), None, str(exc), data)], None, None
    note = None
    if not packet.digest_ok:
        note = "MD5 digest does not match the packet (dskit logs it and still delivers it)"
    try:
        traced = trace_packet(packet.payload, keyring=keyring, label=label)
    except DecodeError as exc:
        traced = [TracedMessage((), None, str(exc), packet.payload)]
    except Exception as exc:
        traced = [TracedMessage((), None, _bug(exc), packet.payload)]
    traced = dskit.expand_snappy(traced, stream=False)
    traced = [attrs.evolve(t, path=(dskit.PACKET_LAYER, *t.path)) for t in traced]
    return traced, packet.from_addr, note


def decode_stream(
    index: int,
    stream: StreamDirection,
    *,
    keyring: Keyring | None,
    label: bytes,
    framing: Framing = Framing.MEMBERLIST,
) -> list[Record]:
    """The one message a stream direction carries, with its layers (``encrypt > compress``).

    With dskit's framing the path starts with ``dskitPacket`` or ``dskitStream``, a packet's
    records carry the sender's advertised address, and KV messages their KeyValuePairs.
    """
    direction = None
    if stream.from_client is not None:
        direction = "client->server" if stream.from_client else "server->client"
    base = Record(index, stream.frame, stream.time, "tcp", stream.src, stream.dst, direction)
    traced: list[TracedMessage] = []
    data = stream.data
    if data[:2] == _TLS_START:
        error = "a TLS connection (dskit's TLS transport?): encrypted, not decodable here"
        traced = [TracedMessage(("tls",), None, error, data)]
    elif data and framing is Framing.DSKIT:
        traced, sender, note = _trace_dskit(data, keyring, label)
        base = attrs.evolve(base, sender=sender, note=note)
    elif data:
        traced = _trace_stream(data, keyring, label)
    if stream.gap_at is not None:
        hole = f"the stream has a hole at byte {stream.gap_at}"
        traced = [
            attrs.evolve(t, error=f"{t.error} ({hole})") if t.error is not None else t
            for t in traced
        ]
        error = f"{hole}: {stream.bytes_after_gap} captured bytes after it are not decoded"
        traced.append(TracedMessage((), None, error, b""))
    records = _records(base, traced, encrypted_guess=False)
    if framing is not Framing.MEMBERLIST:
        records = [dskit.with_kv(r) for r in records]
    return records


def _framings(
    streams: tuple[StreamDirection, ...], dskit_mode: bool | None
) -> dict[tuple[int, bool | None, int], Framing]:
    """How to read each stream direction, keyed by (connection, from_client, frame).

    ``dskit_mode`` None recognises dskit connections by their opener (`dskit.opener_kind`);
    True reads every connection as dskit's; False none.
    """
    out: dict[tuple[int, bool | None, int], Framing] = {}
    if dskit_mode is False:
        return out
    by_connection: dict[int, list[StreamDirection]] = defaultdict(list)
    for s in streams:
        by_connection[s.connection].append(s)
    for directions in by_connection.values():
        openers = [s for s in directions if s.from_client]
        if not openers:  # the handshake was not captured: the side that reads as an opener
            openers = [s for s in directions if dskit.opener_kind(s.data) is not None][:1]
        if not openers and dskit_mode and all(s.from_client is None for s in directions):
            openers = [min(directions, key=lambda s: s.frame)]
        is_dskit = bool(dskit_mode) or any(dskit.opener_kind(s.data) is not None for s in openers)
        if not is_dskit:
            continue
        for s in directions:
            role = Framing.DSKIT if any(s is o for o in openers) else Framing.DSKIT_REPLY
            out[s.connection, s.from_client, s.frame] = role
    return out


def decode_capture(
    capture: Capture,
    *,
    keyring: Keyring | None,
    label: bytes,
    dskit_mode: bool | None = None,
) -> list[Record]:
    """Records of every payload in frame order (a stream at the frame of its first byte).

    ``dskit_mode``: None finds dskit's TCP connections by their framing, True reads every TCP
    connection as dskit's, False reads them all as memberlist's own streams.
    """
    framings = _framings(capture.streams, dskit_mode)
    payloads: list[Datagram | StreamDirection] = [*capture.datagrams, *capture.streams]
    payloads.sort(key=lambda p: p.frame)
    records: list[Record] = []
    for index, payload in enumerate(payloads):
        if isinstance(payload, Datagram):
            records += decode_datagram(index, payload, keyring=keyring, label=label)
        else:
            key = (payload.connection, payload.from_client, payload.frame)
            framing = framings.get(key, Framing.MEMBERLIST)
            records += decode_stream(index, payload, keyring=keyring, label=label, framing=framing)
    if capture.start is not None:
        start = capture.start
        records = [attrs.evolve(r, wall_time=start + r.time) for r in records]
    return records
