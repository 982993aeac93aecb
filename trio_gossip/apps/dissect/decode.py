"""Turn captured payloads into records: every message of every datagram and stream direction.

Decoding is the wire package's; this module only drives it and never lets an exception out:
a payload that does not decode becomes a record carrying the reason.
"""

from __future__ import annotations

import attrs
import msgpack

from trio_gossip.apps.dissect.pcap import Capture, Datagram
from trio_gossip.apps.dissect.reassembly import StreamDirection
from trio_gossip.apps.dissect.record import Record
from trio_gossip.wire import Keyring, MessageType, TracedMessage, trace_packet, trace_stream
from trio_gossip.wire.errors import DecodeError


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
    return _records(base, traced, guess)


def decode_stream(
    index: int, stream: StreamDirection, *, keyring: Keyring | None, label: bytes
) -> list[Record]:
    """The one message a stream direction carries, with its layers (``encrypt > compress``)."""
    direction = None
    if stream.from_client is not None:
        direction = "client->server" if stream.from_client else "server->client"
    base = Record(index, stream.frame, stream.time, "tcp", stream.src, stream.dst, direction)
    traced: list[TracedMessage] = []
    if stream.data:
        try:
            # Reads plaintext even when a key is given (a node without the key still talks),
            # and a label header wherever the dialer put one.
            traced = trace_stream(stream.data, keyring=keyring, label=label)
        except DecodeError as exc:  # the contract is per-message errors, but be safe
            traced = [TracedMessage((), None, str(exc), stream.data)]
        except Exception as exc:
            traced = [TracedMessage((), None, _bug(exc), stream.data)]
    if stream.gap_at is not None:
        hole = f"the stream has a hole at byte {stream.gap_at}"
        traced = [
            attrs.evolve(t, error=f"{t.error} ({hole})") if t.error is not None else t
            for t in traced
        ]
        error = f"{hole}: {stream.bytes_after_gap} captured bytes after it are not decoded"
        traced.append(TracedMessage((), None, error, b""))
    return _records(base, traced, encrypted_guess=False)


def decode_capture(capture: Capture, *, keyring: Keyring | None, label: bytes) -> list[Record]:
    """Records of every payload in frame order (a stream at the frame of its first byte)."""
    payloads: list[Datagram | StreamDirection] = [*capture.datagrams, *capture.streams]
    payloads.sort(key=lambda p: p.frame)
    records: list[Record] = []
    for index, payload in enumerate(payloads):
        if isinstance(payload, Datagram):
            records += decode_datagram(index, payload, keyring=keyring, label=label)
        else:
            records += decode_stream(index, payload, keyring=keyring, label=label)
    return records
