"""dskit's TCP transport framing (grafana/dskit kv/memberlist/tcp_transport.go).

Every connection starts with one type byte. A packet connection (``writeTo``) carries
``[1][addrLen][advertised "ip:port" of the sender][memberlist packet][MD5 of the packet]`` and is
closed by the sender; the receiver (``handleConnection``) reads to EOF and splits off the 16-byte
digest. A stream connection is ``[2]`` then memberlist's own stream protocol (``DialTimeout``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import IntEnum

from trio_gossip.wire.dskit.errors import DskitDecodeError

DIGEST_SIZE = 16
MAX_ADDR_SIZE = 255


class ConnectionType(IntEnum):
    """tcp_transport.go messageType: the first byte of every connection."""

    PACKET = 1
    STREAM = 2


STREAM_PREAMBLE = bytes([ConnectionType.STREAM])
"""What a stream's opener writes before memberlist's stream protocol (DialTimeout)."""


@dataclass(frozen=True, slots=True)
class DskitPacket:
    """One received packet connection.

    ``digest_ok`` is False only when ``decode_packet`` was told not to require the digest: dskit
    itself logs and counts a mismatch but still delivers the packet (handleConnection).
    """

    from_addr: str
    payload: bytes
    digest_ok: bool = True


def connection_type(first_byte: int) -> ConnectionType:
    """The kind of connection its first byte announces; DskitDecodeError for any other byte."""
    if first_byte == ConnectionType.PACKET:
        return ConnectionType.PACKET
    if first_byte == ConnectionType.STREAM:
        return ConnectionType.STREAM
    raise DskitDecodeError(f"unknown connection type {first_byte}")


def encode_packet(payload: bytes, advertised_addr: str) -> bytes:
    """The whole packet connection as dskit's writeTo sends it (type byte to digest).

    Raises ValueError (not a decode error: it is our own configuration) for an address over 255
    bytes, where Go returns "local address too long".
    """
    addr = advertised_addr.encode("utf-8", "surrogateescape")
    if len(addr) > MAX_ADDR_SIZE:
        raise ValueError(f"local address too long ({len(addr)} bytes, at most {MAX_ADDR_SIZE})")
    return b"".join(
        (bytes((ConnectionType.PACKET, len(addr))), addr, payload, hashlib.md5(payload).digest())
    )


def decode_packet(data: bytes, *, require_digest: bool = True) -> DskitPacket:
    """Split one packet connection's bytes (from its type byte to EOF) as handleConnection does.

    DskitDecodeError when the type byte is not a packet's, the address is cut short, fewer than
    16 bytes follow it, or (with ``require_digest``, the default) the MD5 does not match.
    """
    if not data:
        raise DskitDecodeError("packet: empty connection")
    kind = connection_type(data[0])
    if kind is not ConnectionType.PACKET:
        raise DskitDecodeError("packet: connection is a stream, not a packet")
    return decode_packet_body(memoryview(data)[1:], require_digest=require_digest)


def decode_packet_body(body: bytes | memoryview, *, require_digest: bool = True) -> DskitPacket:
    """Like ``decode_packet`` for the bytes after the type byte (for a transport that read it)."""
    if len(body) < 1:
        raise DskitDecodeError("packet: no address length")
    addr_len = body[0]
    if len(body) < 1 + addr_len:
        raise DskitDecodeError(f"packet: address cut short ({len(body) - 1} of {addr_len} bytes)")
    rest = body[1 + addr_len :]
    if len(rest) < DIGEST_SIZE:
        raise DskitDecodeError(f"packet: not enough data received ({len(rest)} bytes)")
    payload = bytes(rest[: len(rest) - DIGEST_SIZE])
    digest_ok = hashlib.md5(payload).digest() == bytes(rest[len(rest) - DIGEST_SIZE :])
    if not digest_ok and require_digest:
        raise DskitDecodeError("packet: digest mismatch")
    from_addr = bytes(body[1 : 1 + addr_len]).decode("utf-8", "surrogateescape")
    return DskitPacket(from_addr=from_addr, payload=payload, digest_ok=digest_ok)
