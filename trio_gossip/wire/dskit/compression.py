"""The snappy algorithm of grafana's memberlist fork (compress.go, snappy.go).

A compressed memberlist message is ``[9]`` + msgpack ``{Algo, Buf}``; the fork adds ``Algo`` 1
(snappy block) beside hashicorp's 0 (LZW). Receivers decode either algorithm whatever they send.
"""

from __future__ import annotations

from typing import Any

import msgpack

from trio_gossip.wire.dskit.errors import DskitDecodeError
from trio_gossip.wire.dskit.snappy import (
    MAX_MESSAGE_DECOMPRESSED_SIZE,
    snappy_decode,
    snappy_encode,
)

COMPRESS_MSG = 9
LZW_ALGO = 0
SNAPPY_ALGO = 1

# go-msgpack as memberlist configures it writes byte slices as old-spec raw strings.
_packer = msgpack.Packer(use_bin_type=False)


def _pack(obj: object) -> bytes:
    out: bytes = _packer.pack(obj)
    return out


def snappy_compress_message(data: bytes) -> bytes:
    """``[9]`` + msgpack ``{Algo: 1, Buf: snappy(data)}`` as compressPayload writes it."""
    return bytes((COMPRESS_MSG,)) + _pack({"Algo": SNAPPY_ALGO, "Buf": snappy_encode(data)})


def compressed_payload(body: bytes) -> tuple[int, bytes]:
    """(Algo, Buf) of a compress message body (the bytes after the type byte)."""
    try:
        obj: Any = msgpack.unpackb(body, raw=True)
    except msgpack.ExtraData as extra:
        obj = extra.unpacked
    except Exception as exc:  # msgpack raises several types; all mean the same here
        raise DskitDecodeError(f"compress: invalid msgpack body ({exc!s})") from None
    if type(obj) is not dict:
        raise DskitDecodeError("compress: body is not a msgpack map")
    algo = obj.get(b"Algo", 0)
    buf = obj.get(b"Buf", b"")
    if type(algo) is not int or not 0 <= algo <= 0xFF:
        raise DskitDecodeError(f"compress: bad Algo {algo!r:.40}")
    if buf is None:
        buf = b""
    if type(buf) is not bytes:
        raise DskitDecodeError("compress: Buf is not a byte string")
    return algo, buf


def snappy_decompress_buf(buf: bytes) -> bytes:
    """The payload of an ``Algo: 1`` compress message (snappyDecompress, with its size cap)."""
    return snappy_decode(buf, MAX_MESSAGE_DECOMPRESSED_SIZE)
