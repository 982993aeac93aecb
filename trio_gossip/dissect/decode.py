"""Turn captured payloads into records: every message of every datagram and stream direction.

Decoding is the wire package's; this module only drives it and never lets an exception out:
a payload that does not decode becomes a record carrying the reason.
"""

from __future__ import annotations

from collections.abc import Iterator

from trio_gossip.dissect.pcap import Capture, Datagram
from trio_gossip.dissect.reassembly import StreamDirection
from trio_gossip.dissect.record import Record
from trio_gossip.dissect.render import TYPE_NAMES
from trio_gossip.errors import DecodeError
from trio_gossip.wire import Keyring, StreamDecoder, trace_packet

_HAS_LABEL = 244


def _bug(exc: Exception) -> str:
    # The codec should only raise DecodeError; anything else is its bug, but the dissector
    # still reports the payload instead of dying on it.
    return f"decoder failed unexpectedly: {type(exc).__name__}: {exc}"


def decode_datagram(
    index: int, dgram: Datagram, *, keyring: Keyring | None, label: bytes
) -> Iterator[Record]:
    def record(path: tuple[str, ...], message: object, error: str | None, raw: bytes) -> Record:
        return Record(
            payload=index,
            frame=dgram.frame,
            time=dgram.time,
            transport="udp",
            src=dgram.src,
            dst=dgram.dst,
            direction=None,
            path=path,
            message=message,  # type: ignore[arg-type]
            error=error,
            raw=raw,
        )

    if dgram.problem is not None:
        yield record((), None, dgram.problem, dgram.data)
        return
    try:
        traced = trace_packet(dgram.data, keyring=keyring, label=label)
    except DecodeError as exc:  # the contract is per-message errors, but be safe
        yield record((), None, str(exc), dgram.data)
        return
    except Exception as exc:
        yield record((), None, _bug(exc), dgram.data)
        return
    for t in traced:
        yield record(tuple(t.path), t.message, t.error, bytes(t.raw))


def decode_stream(
    index: int, stream: StreamDirection, *, keyring: Keyring | None, label: bytes
) -> Iterator[Record]:
    """The one message a stream direction carries, with its layers (``encrypt > compress``)."""
    direction = None
    if stream.from_client is not None:
        direction = "client->server" if stream.from_client else "server->client"

    def record(path: tuple[str, ...], message: object, error: str | None, raw: bytes) -> Record:
        return Record(
            payload=index,
            frame=stream.frame,
            time=stream.time,
            transport="tcp",
            src=stream.src,
            dst=stream.dst,
            direction=direction,
            path=path,
            message=message,  # type: ignore[arg-type]
            error=error,
            raw=raw,
        )

    data = stream.data
    hole = None
    if stream.gap_at is not None:
        hole = (
            f"stream has a hole at byte {stream.gap_at} ({stream.bytes_after_gap} bytes after it"
            " were captured but cannot be placed)"
        )
    if data:
        # A dissector reads whatever is there: plaintext even when a key is given (a node
        # without the key still talks), and a label header wherever the dialer put one.
        decoder = StreamDecoder(
            keyring=keyring,
            label=label,
            accept_label_header=data[0] == _HAS_LABEL,
            verify_incoming=False,
        )
        try:
            message = decoder.feed(data)
            if message is None:
                decoder.eof()
        except DecodeError as exc:
            error = str(exc) if hole is None else f"{exc}; {hole}"
            yield record(tuple(decoder.layers), None, error, decoder.inner or data)
            return
        except Exception as exc:
            yield record(tuple(decoder.layers), None, _bug(exc), data)
            return
        if message is not None:
            name = TYPE_NAMES.get(type(message), type(message).__name__)
            yield record((*decoder.layers, name), message, None, decoder.inner or data)
    if hole is not None:
        yield record((), None, hole, b"")


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
