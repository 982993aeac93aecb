"""Snappy block format (not the framed stream), as github.com/golang/snappy Encode/Decode.

dskit's codec.Proto (kv/codec/codec.go) snappy-encodes every protobuf value, and grafana's
memberlist fork (compress.go, snappy.go) offers snappy beside LZW for message compression.
"""

from __future__ import annotations

import cramjam

from trio_gossip.wire.dskit.errors import DskitDecodeError

MAX_MESSAGE_DECOMPRESSED_SIZE = 20 * 1024 * 1024 + (1 << 20)
"""memberlist fork compress.go maxDecompressBytes: maxPushStateBytes (20 MiB) + 1 MiB."""

MAX_VALUE_DECOMPRESSED_SIZE = 256 * 1024 * 1024
"""Our cap for one KV value. dskit's codec.Proto has none (snappy.Decode allocates what the header
claims); a 10,000-instance x 512-token ring is about 26 MB, so this only stops bombs."""

EMPTY_SNAPPY = b"\x00"
"""snappy.Encode(nil, []byte{}): what dskit's KV decodes in place of an empty value
(kv/memberlist/memberlist_client.go emptySnappyEncodedData)."""


def snappy_encode(data: bytes) -> bytes:
    """One snappy block holding ``data``."""
    return bytes(cramjam.snappy.compress_raw(data))


def snappy_decoded_len(data: bytes) -> int:
    """The length a block claims, as golang/snappy decodedLen reads it (uvarint, at most 2^32-1)."""
    if len(data) > 1 and data[0] >= 0x80 > data[1]:
        return data[0] & 0x7F | data[1] << 7  # two bytes, a heartbeat's value: the common case
    value = 0
    for i in range(min(len(data), 10)):
        byte = data[i]
        if i == 9 and byte > 1:
            break  # binary.Uvarint overflow
        value |= (byte & 0x7F) << (7 * i)
        if byte < 0x80:
            if value > 0xFFFFFFFF:
                break
            return value
    raise DskitDecodeError("snappy: corrupt input (bad length header)")


def snappy_decode_buffer(data: bytes, max_size: int = MAX_VALUE_DECOMPRESSED_SIZE) -> memoryview:
    """``snappy_decode`` without the copy into a bytes object: a view of cramjam's buffer, for
    a reader that takes any buffer (protobuf's parser does).

    A 1,000-instance ring is 700 KB: the copy is a second buffer that size per decode, and a
    buffer that large is often mapped afresh and faulted in page by page, which can cost ten
    times the decompression itself.
    """
    claimed = snappy_decoded_len(data)
    if claimed > max_size:
        raise DskitDecodeError(f"snappy: decoded length {claimed} exceeds the limit of {max_size}")
    try:
        out = memoryview(cramjam.snappy.decompress_raw(data))
    except Exception as exc:  # cramjam.DecompressionError and any binding-level error
        raise DskitDecodeError(f"snappy: {exc}") from None
    if len(out) != claimed:
        raise DskitDecodeError(f"snappy: decoded {len(out)} bytes, header claims {claimed}")
    return out


def snappy_decode(data: bytes, max_size: int = MAX_VALUE_DECOMPRESSED_SIZE) -> bytes:
    """The bytes inside one snappy block; DskitDecodeError if it is corrupt or claims > max_size."""
    return snappy_decode_buffer(data, max_size).tobytes()
