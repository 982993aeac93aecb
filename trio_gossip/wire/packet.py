"""The packet layers around messages, in Go's order.

Send (inside out): compound, compress (kept only if strictly smaller), CRC, encrypt, label.
Receive: strip the label, decrypt, check the CRC (honoured only at the outermost plaintext
position), then dispatch recursively through compound and compress layers.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

import attrs

from trio_gossip.wire import limits
from trio_gossip.wire.codec import (
    GOSSIP_MEMO,
    MESSAGE_NAMES,
    Body,
    decode_message,
    encode_message,
    get_bytes,
    get_u32,
    pack,
    unpack_body,
)
from trio_gossip.wire.crypto import Keyring, decrypt_payload, encrypt_payload
from trio_gossip.wire.errors import ConfigError, DecodeError, LabelError
from trio_gossip.wire.lzw import lzw_compress, lzw_decompress
from trio_gossip.wire.messages import PacketMessage

COMPOUND = 7
COMPRESS = 9
HAS_CRC = 12
HAS_LABEL = 244
LZW_ALGO = 0
_CONTAINERS = (COMPOUND, COMPRESS)
_NO_MEMO: dict[bytes, PacketMessage] = {}
# A compound's table of big-endian u16 part lengths, by part count (0 to 255).
_LENGTH_TABLES = [struct.Struct(f">{count}H") for count in range(256)]


# --- single layers ------------------------------------------------------------------------------


def make_compound(parts: Sequence[bytes]) -> bytes:
    """``[7][count][count x u16 length][parts]``; at most 255 parts of at most 65535 bytes."""
    count = len(parts)
    if count > limits.MAX_COMPOUND_PARTS:
        raise ValueError(f"a compound holds at most 255 parts, not {count}")
    lengths = [len(part) for part in parts]
    if lengths and (min(lengths) == 0 or max(lengths) > limits.MAX_COMPOUND_PART_SIZE):
        for length in lengths:  # the first offender, as a part-by-part check would name it
            if not length:
                raise ValueError("compound parts must not be empty (Go 0.2.2 panics on them)")
            if length > limits.MAX_COMPOUND_PART_SIZE:
                raise ValueError(f"compound part of {length} bytes exceeds the u16 length")
    return b"".join((bytes((COMPOUND, count)), _LENGTH_TABLES[count].pack(*lengths), *parts))


def make_compounds(parts: Sequence[bytes]) -> list[bytes]:
    """Encoded messages as compounds of at most 255 parts; a lone part is returned bare."""
    out = []
    step = limits.MAX_COMPOUND_PARTS
    for start in range(0, len(parts), step):
        chunk = parts[start : start + step]
        out.append(bytes(chunk[0]) if len(chunk) == 1 else make_compound(chunk))
    return out


def split_compound(body: bytes) -> tuple[list[bytes], int]:
    """A compound body (after the type byte) as (parts that fit, number of truncated parts).

    As Go: a buffer too short for the length table is an error; parts past the end of the
    buffer are truncated and dropped, the ones before them are kept.
    """
    if not body:
        raise DecodeError("compound: missing part count byte")
    count = body[0]
    table_end = 1 + 2 * count
    size = len(body)
    if size < table_end:
        raise DecodeError(
            f"compound: {count} parts need a {2 * count}-byte length table, only"
            f" {size - 1} bytes follow"
        )
    parts: list[bytes] = []
    offset = table_end
    # The whole length table in one unpack: every gossip packet is a compound.
    for i, length in enumerate(_LENGTH_TABLES[count].unpack_from(body, 1)):
        end = offset + length
        if end > size:
            return parts, count - i
        parts.append(body[offset:end])
        offset = end
    return parts, 0


def compress_message(data: bytes) -> bytes:
    """``[9]`` + msgpack ``{Algo: 0, Buf: LZW(data)}``."""
    return b"\x09" + pack({"Algo": LZW_ALGO, "Buf": lzw_compress(data)})


def decompress_body(body: bytes, max_size: int) -> bytes:
    """The payload of a compress message body (after the type byte); never empty."""
    return decompress_map(unpack_body(body, "compress"), max_size)


def decompress_map(d: Body, max_size: int) -> bytes:
    """The payload of a decoded ``compress`` map; never empty."""
    try:
        algo = get_u32(d, b"Algo")
        buf = get_bytes(d, b"Buf")
    except DecodeError as exc:
        raise DecodeError(f"compress.{exc}") from None
    if algo != LZW_ALGO:
        raise DecodeError(f"compress: unknown compression algorithm {algo}")
    data = lzw_decompress(buf, max_size)
    if not data:
        raise DecodeError("compress: decompressed payload is empty")
    return data


def add_crc(data: bytes) -> bytes:
    """``[12][CRC-32/IEEE of data, big-endian][data]``."""
    return b"\x0c" + zlib.crc32(data).to_bytes(4, "big") + data


def check_label(label: bytes) -> bytes:
    if len(label) > limits.MAX_LABEL_SIZE:
        raise ConfigError(f"label must be at most 255 bytes, not {len(label)}")
    return bytes(label)


def add_label(data: bytes, label: bytes) -> bytes:
    """``[244][len][label]`` in front; an empty label means no header at all."""
    if not label:
        return data
    return bytes((HAS_LABEL, len(check_label(label)))) + label + data


def split_label(data: bytes) -> tuple[bytes, bytes]:
    """(label, rest); the label is empty when there is no header. A header of length 0 is bad."""
    if not data or data[0] != HAS_LABEL:
        return b"", data
    if len(data) < 2:
        raise DecodeError("label header: missing length byte")
    size = data[1]
    if size == 0:
        raise DecodeError("label header with an empty label")
    if len(data) < 2 + size:
        raise DecodeError(f"label header: label of {size} bytes, only {len(data) - 2} follow")
    return data[2 : 2 + size], data[2 + size :]


def strip_crc(data: bytes) -> bytes:
    """Verify and remove a CRC header if the packet starts with one (len >= 5, as Go checks)."""
    if len(data) >= 5 and data[0] == HAS_CRC:
        expected = int.from_bytes(data[1:5], "big")
        actual = zlib.crc32(data[5:])
        if actual != expected:
            raise DecodeError(f"CRC mismatch: header says {expected:08x}, payload has {actual:08x}")
        return data[5:]
    return data


# --- whole packets ------------------------------------------------------------------------------


def encode_packet(
    messages: Sequence[PacketMessage | bytes],
    *,
    keyring: Keyring | None = None,
    label: bytes = b"",
    compress: bool = False,
    crc: bool = False,
    encryption_version: int = 1,
) -> bytes:
    """One datagram: ``messages`` (objects or already-encoded bytes) with the requested layers."""
    if not messages:
        raise ValueError("a packet needs at least one message")
    if len(messages) > limits.MAX_COMPOUND_PARTS:
        raise ValueError(f"a packet holds at most 255 messages, not {len(messages)}")
    parts = [m if isinstance(m, bytes | bytearray) else encode_message(m) for m in messages]
    data = bytes(parts[0]) if len(parts) == 1 else make_compound(parts)
    if compress:
        packed = compress_message(data)
        if len(packed) < len(data):
            data = packed
    if crc:
        data = add_crc(data)
    label = check_label(label)
    if keyring is not None:
        data = encrypt_payload(encryption_version, keyring, data, label)
    return add_label(data, label)


@attrs.frozen
class DecodedPacket:
    """What a packet held: the messages that decoded, and why the others did not."""

    messages: tuple[PacketMessage, ...]
    errors: tuple[str, ...]


def open_packet(
    data: bytes, *, keyring: Keyring | None, label: bytes, verify_incoming: bool,
    skip_label_check: bool = False,
) -> bytes:
    """Label, decryption and CRC: what is left is the outermost message.

    With ``skip_label_check`` (memberlist's SkipInboundLabelCheck, net.go ingestPacket) a
    packet must come without a label header and is read as if it carried ours.
    """
    data = bytes(data)
    packet_label, data = split_label(data)
    if skip_label_check:
        if packet_label:
            raise LabelError(f"unexpected double packet label header {packet_label!r}",
                             packet_label)  # fmt: skip
        packet_label = bytes(label)
    if packet_label != label:
        raise LabelError(f"packet label {packet_label!r} does not match ours {bytes(label)!r}",
                         packet_label)  # fmt: skip
    if keyring is not None:
        try:
            data = decrypt_payload(keyring, data, packet_label)
        except DecodeError:
            if verify_incoming:
                raise
    return strip_crc(data)


class _LocatedError(DecodeError):
    """A DecodeError whose message already names its layer; outer layers pass it on as is."""


class _TooManyMessagesError(_LocatedError):
    """Ends the whole walk, even a lenient one."""


class _Walk:
    """Recursive dispatch through compound and compress with shared budgets, as handleCommand."""

    __slots__ = ("budget", "errors", "messages", "strict")

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.messages: list[PacketMessage] = []
        self.errors: list[str] = []
        self.budget = limits.MAX_PACKET_DECOMPRESSED_SIZE

    def dispatch(self, data: bytes, depth: int, where: str) -> None:
        """Decode ``data`` into self.messages; ``where`` (the layering) prefixes its errors.

        A lenient walk records a failed part and goes on with the next, as Go does; the
        outermost layer failing means nothing was readable, so that always raises.
        """
        try:
            self._dispatch(data, depth, where)
        except _LocatedError:
            raise
        except DecodeError as exc:
            if self.strict or depth == 0:
                raise _LocatedError(f"{where}{exc}") from None
            self.errors.append(f"{where}{exc}")

    def _dispatch(self, data: bytes, depth: int, where: str) -> None:
        if not data:
            raise DecodeError("empty message: no type byte")
        kind = data[0]
        if kind not in (COMPOUND, COMPRESS):
            if len(self.messages) >= limits.MAX_PACKET_MESSAGES:
                raise _TooManyMessagesError(
                    f"packet expands to more than {limits.MAX_PACKET_MESSAGES} messages"
                )
            self.messages.append(decode_message(data))
            return
        if depth >= limits.MAX_NESTING_DEPTH:
            raise DecodeError(
                f"{MESSAGE_NAMES[kind]}: more than {limits.MAX_NESTING_DEPTH} nested"
                " compound/compress layers"
            )
        if kind == COMPRESS:
            inner = decompress_body(data[1:], self.budget)
            self.budget -= len(inner)
            self.dispatch(inner, depth + 1, f"{where}compress > ")
            return
        parts, truncated = split_compound(data[1:])
        messages = self.messages
        # The memo is keyed by bytes; parts are slices of ``data`` (a bytearray after some
        # layers, which a dict cannot look up): those go the long way, through decode_message.
        memo = GOSSIP_MEMO if type(data) is bytes else _NO_MEMO
        for i, part in enumerate(parts):
            if not part or part[0] in _CONTAINERS:
                self.dispatch(part, depth + 1, f"{where}compound[{i}] > ")
                continue
            # A bare message, nearly every part: what dispatch() would do, inline, with its
            # prefix spelled only for an error (a simulated join decodes millions of parts).
            if len(messages) >= limits.MAX_PACKET_MESSAGES:
                raise _TooManyMessagesError(
                    f"packet expands to more than {limits.MAX_PACKET_MESSAGES} messages"
                )
            known = memo.get(part)  # forwarded gossip: decoded before, shared
            if known is not None:
                messages.append(known)
                continue
            try:
                messages.append(decode_message(part))
            except _LocatedError:
                raise
            except DecodeError as exc:
                if self.strict:
                    raise _LocatedError(f"{where}compound[{i}] > {exc}") from None
                self.errors.append(f"{where}compound[{i}] > {exc}")
        if truncated:
            reason = f"{where}compound: {truncated} of {data[1]} parts truncated"
            if self.strict:
                raise _LocatedError(reason)
            self.errors.append(reason)


def decode_packet(
    data: bytes,
    *,
    keyring: Keyring | None = None,
    label: bytes = b"",
    verify_incoming: bool = True,
    skip_label_check: bool = False,
) -> list[PacketMessage]:
    """Every message in a datagram; DecodeError if anything at all is wrong with it."""
    if len(data) > limits.MAX_PACKET_SIZE:
        raise DecodeError(f"packet of {len(data)} bytes exceeds {limits.MAX_PACKET_SIZE}")
    inner = open_packet(data, keyring=keyring, label=label, verify_incoming=verify_incoming,
                        skip_label_check=skip_label_check)  # fmt: skip
    if inner and inner[0] not in (COMPOUND, COMPRESS):  # a bare message: no walk
        return [decode_message(inner)]
    walk = _Walk(strict=True)
    walk.dispatch(inner, 0, "")
    return walk.messages


def decode_packet_lenient(
    data: bytes,
    *,
    keyring: Keyring | None = None,
    label: bytes = b"",
    verify_incoming: bool = True,
    skip_label_check: bool = False,
) -> DecodedPacket:
    """Like Go's receive path: keep the compound parts that decode, report the others.

    Raises DecodeError only when nothing can be read (label, decryption, CRC, framing).
    """
    if len(data) > limits.MAX_PACKET_SIZE:
        raise DecodeError(f"packet of {len(data)} bytes exceeds {limits.MAX_PACKET_SIZE}")
    inner = open_packet(data, keyring=keyring, label=label, verify_incoming=verify_incoming,
                        skip_label_check=skip_label_check)  # fmt: skip
    walk = _Walk(strict=False)
    walk.dispatch(inner, 0, "")
    return DecodedPacket(tuple(walk.messages), tuple(walk.errors))


__all__ = [
    "DecodedPacket",
    "add_crc",
    "add_label",
    "compress_message",
    "decode_packet",
    "decode_packet_lenient",
    "decompress_body",
    "decompress_map",
    "encode_packet",
    "make_compound",
    "make_compounds",
    "open_packet",
    "split_compound",
    "split_label",
    "strip_crc",
]
