"""Every message in a packet or stream with its layering, for dissectors: errors are reported per
part instead of raised, and a bad outer layer does not hide what can still be read."""

from __future__ import annotations

import attrs

from trio_gossip.wire import limits
from trio_gossip.wire.codec import decode_message, message_name
from trio_gossip.wire.crypto import Keyring, decrypt_payload
from trio_gossip.wire.errors import DecodeError
from trio_gossip.wire.messages import Message
from trio_gossip.wire.packet import (
    COMPOUND,
    COMPRESS,
    HAS_CRC,
    HAS_LABEL,
    decompress_body,
    split_compound,
    split_label,
    strip_crc,
)
from trio_gossip.wire.stream import StreamDecoder


@attrs.frozen
class TracedMessage:
    """One message (or one failure) and where it sat, outermost layer first.

    ``path`` is like ("encrypt", "hasCrc", "compress", "compound[1]", "suspect"); ``raw`` is the
    message's own bytes from its type byte (for a failure: the bytes of the layer that failed).
    """

    path: tuple[str, ...]
    message: Message | None
    error: str | None
    raw: bytes


def trace_packet(
    data: bytes, *, keyring: Keyring | None = None, label: bytes = b""
) -> list[TracedMessage]:
    """Every message in a datagram, in order; never raises for bad input.

    A packet whose label differs from ``label`` gets an error entry and is still traced (with its
    own label as associated data); with a keyring, a packet that does not decrypt but reads
    cleanly as plaintext is traced as plaintext.
    """
    data = bytes(data)
    out: list[TracedMessage] = []
    if label and data[:1] != bytes((HAS_LABEL,)):
        out.append(TracedMessage((), None, f"packet has no label, expected {label!r}", b""))
        label = b""
    stripped = _strip_label(data, label, out)
    if stripped is None:
        return out
    path, data, label = stripped  # decrypt with the label the packet carries
    if keyring is None:
        traced = _trace_plaintext(data, path)
        if data[:1] in (b"\x00", b"\x01") and any(t.error for t in traced):
            hint = " (the packet may be encrypted: no key was given)"
            traced = [attrs.evolve(t, error=f"{t.error}{hint}") if t.error else t for t in traced]
        return out + traced
    try:
        plain = decrypt_payload(keyring, data, label)
    except DecodeError as exc:
        # Like Go with GossipVerifyIncoming off: a plaintext packet that reads cleanly is shown
        # as such (a capture may mix nodes with and without a key).
        traced = _trace_plaintext(data, path)
        if not any(t.error for t in traced):
            return out + traced
        return [*out, TracedMessage((*path, "encrypt"), None, str(exc), data)]
    return out + _trace_plaintext(plain, (*path, "encrypt"))


def _strip_label(
    data: bytes, label: bytes, out: list[TracedMessage]
) -> tuple[tuple[str, ...], bytes, bytes] | None:
    """The path so far, the bytes after a label header and the label they carry; None when the
    header itself is bad. A label other than ``label`` is reported in ``out`` but still read,
    so a capture from another cluster traces in full."""
    if data[:1] != bytes((HAS_LABEL,)):
        return (), data, label
    path = ("hasLabel",)
    try:
        found, rest = split_label(data)
    except DecodeError as exc:
        out.append(TracedMessage(path, None, str(exc), data))
        return None
    if found != label:
        out.append(TracedMessage(path, None, f"label {found!r} is not ours ({label!r})", b""))
    return path, rest, found


def _trace_plaintext(data: bytes, path: tuple[str, ...]) -> list[TracedMessage]:
    """The CRC layer and everything inside it."""
    out: list[TracedMessage] = []
    if len(data) >= 5 and data[0] == HAS_CRC:
        path = (*path, "hasCrc")
        try:
            strip_crc(data)
        except DecodeError as exc:
            out.append(TracedMessage(path, None, str(exc), data))  # show the content anyway
        data = data[5:]
    _Tracer(out).walk(data, path, 0)
    return out


class _Tracer:
    __slots__ = ("budget", "count", "out")

    def __init__(self, out: list[TracedMessage]) -> None:
        self.out = out
        self.budget = limits.MAX_PACKET_DECOMPRESSED_SIZE
        self.count = 0

    def walk(self, data: bytes, path: tuple[str, ...], depth: int) -> None:
        out = self.out
        if not data:
            out.append(TracedMessage(path, None, "empty message: no type byte", data))
            return
        kind = data[0]
        if self.count >= limits.MAX_PACKET_MESSAGES:
            return  # already reported once
        if kind in (COMPOUND, COMPRESS):
            name = message_name(kind)
            if depth >= limits.MAX_NESTING_DEPTH:
                too_deep = f"more than {limits.MAX_NESTING_DEPTH} nested compound/compress layers"
                out.append(TracedMessage((*path, name), None, too_deep, data))
                return
            try:
                if kind == COMPRESS:
                    inner = decompress_body(data[1:], self.budget)
                    self.budget -= len(inner)
                    self.walk(inner, (*path, name), depth + 1)
                    return
                parts, truncated = split_compound(data[1:])
            except DecodeError as exc:
                out.append(TracedMessage((*path, name), None, str(exc), data))
                return
            for i, part in enumerate(parts):
                self.walk(part, (*path, f"compound[{i}]"), depth + 1)
            if truncated:
                cut = f"{truncated} of {data[1]} parts truncated"
                out.append(TracedMessage((*path, name), None, cut, data))
            return
        self.count += 1
        if self.count == limits.MAX_PACKET_MESSAGES:
            too_many = f"packet expands to more than {limits.MAX_PACKET_MESSAGES} messages"
            out.append(TracedMessage(path, None, too_many, data))
            return
        error: str | None = None
        try:
            message: Message | None = decode_message(data)
        except DecodeError as exc:
            message, error = None, str(exc)
        out.append(TracedMessage((*path, message_name(kind)), message, error, data))


def trace_stream(
    data: bytes, *, keyring: Keyring | None = None, label: bytes = b""
) -> list[TracedMessage]:
    """The message of one whole stream direction, with its layering; never raises for bad input.

    A label header is accepted if present (only the dialer writes one); plaintext is accepted
    even when a keyring is given, so that a mixed capture reads in full.
    """
    data = bytes(data)
    out: list[TracedMessage] = []
    stripped = _strip_label(data, label, out)
    if stripped is None:
        return out
    path, data, label = stripped
    decoder = StreamDecoder(keyring=keyring, label=label, verify_incoming=False)
    try:
        message = decoder.feed(data)
        if message is None:
            decoder.eof()
            raise DecodeError("empty stream")
        error = None
    except DecodeError as exc:
        message, error = None, str(exc)
    raw = decoder.inner if decoder.inner is not None else data
    path = (*path, *decoder.layers)
    if decoder.kind >= 0:
        path = (*path, message_name(decoder.kind))
    out.append(TracedMessage(path, message, error, raw))
    return out
