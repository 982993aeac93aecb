"""LZW exactly as Go's compress/lzw with LSB bit order and literal width 8 (GIF-style).

Clear code 256, EOF code 257, first free code 258, code width 9 growing to 12. The writer mirrors
Go 1.19 bit for bit (leading clear code, clear and reset when the table reaches 4095 entries); the
reader accepts streams with or without a leading clear, like Go's.

``lzw_compress`` and ``lzw_decompress`` are the C extension ``trio_gossip.wire._lzw`` when it was
built (setup.py; optional, so an install without a compiler still works), else the pure-Python
``lzw_compress_py`` and ``lzw_decompress_py`` below, which stay the reference: the C versions give
the same bytes and the same DecodeError messages (tests/test_lzw_native.py runs both).
``NATIVE`` says which one is in use.

The pure reader avoids per-bit Python work: it cuts the code stream into chunks of equal width and
spreads each chunk's w-bit fields to 16-bit fields with a few big-integer operations, leaving only
the table walk in a Python loop. The C reader decodes in the same chunks, so that both report the
same error when a chunk holds both an invalid code and output past the limit.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Callable

from trio_gossip.wire.errors import DecodeError

_CLEAR = 256
_EOF = 257
_MAX_WIDTH = 12
_RESET_AT = 4095  # Go's writer clears when its next code would be 4095 (maxCode)
# Codes decoded per chunk; bounds how far output may overshoot max_size. CHUNK in _lzw.c must be
# the same: which error a bad stream gets can depend on where the chunks end.
_CHUNK = 256
_LITERALS = [bytes((i,)) for i in range(256)]
_BIG_ENDIAN = sys.byteorder == "big"


def lzw_compress_py(data: bytes) -> bytes:
    """Compress like Go's ``lzw.NewWriter(w, lzw.LSB, 8)``: one Write of ``data``, then Close."""
    out = bytearray()
    bits = _CLEAR  # Go 1.19's writer starts every stream with a clear code
    nbits = 9
    width = 9
    hi = _EOF
    overflow = 512
    if not data:
        bits |= _EOF << nbits
        return (bits).to_bytes(3, "little")
    table: dict[int, int] = {}
    get = table.get
    code = data[0]
    for x in data[1:]:
        key = (code << 8) | x
        nxt = get(key)
        if nxt is not None:
            code = nxt
            continue
        bits |= code << nbits
        nbits += width
        if nbits >= 16:
            out += (bits & 0xFFFF).to_bytes(2, "little")
            bits >>= 16
            nbits -= 16
        code = x
        hi += 1
        if hi == overflow:
            width += 1
            overflow <<= 1
        if hi == _RESET_AT:
            bits |= _CLEAR << nbits
            nbits += width
            width = 9
            hi = _EOF
            overflow = 512
            table.clear()
            continue
        table[key] = hi
    # Close: the pending code, one more table step (which may widen or reset), then EOF.
    bits |= code << nbits
    nbits += width
    hi += 1
    if hi == overflow:
        width += 1
    if hi == _RESET_AT:
        bits |= _CLEAR << nbits
        nbits += width
        width = 9
    bits |= _EOF << nbits
    nbits += width
    out += bits.to_bytes((nbits + 7) >> 3, "little")
    return bytes(out)


def _spread_masks(width: int) -> list[int]:
    """Masks that move w-bit fields to 16-bit fields within 8-code groups (see _extract)."""
    masks = []
    for level in range(3):
        run = (1 << level) * width
        period_bytes = (1 << (level + 1)) * 2
        pattern = (((1 << run) - 1) << run).to_bytes(period_bytes, "little")
        masks.append(int.from_bytes(pattern * (_CHUNK * 2 // period_bytes), "little"))
    return masks


_MASKS = {w: _spread_masks(w) for w in range(9, _MAX_WIDTH + 1)}


def _extract(data: bytes, pos: int, width: int, count: int) -> list[int]:
    """Read ``count`` (<= _CHUNK) codes of ``width`` bits starting at bit ``pos``, LSB first.

    Eight codes fill exactly ``width`` bytes, so byte slicing first moves each 8-code group to a
    16-byte slot; inside a group, code i must then move left by i*(16-width) bits, which three
    masked big-integer shifts do (one per bit of i, highest first), for all groups at once.
    """
    groups = (count + 7) >> 3
    size = groups * width
    start = pos >> 3
    raw = data[start : start + size + 1]
    if pos & 7:
        raw = (int.from_bytes(raw, "little") >> (pos & 7)).to_bytes(size + 1, "little")
    elif len(raw) <= size:
        raw = raw.ljust(size + 1, b"\0")
    slots = bytearray(groups * 16)
    for i in range(width):
        slots[i::16] = raw[i:size:width]
    x = int.from_bytes(slots, "little")
    gap = 16 - width
    masks = _MASKS[width]
    for level in (2, 1, 0):
        part = x & masks[level]
        x ^= part
        x |= part << (gap << level)
    codes = array("H")
    codes.frombytes(x.to_bytes(groups * 16, "little")[: count * 2])
    if _BIG_ENDIAN:
        codes.byteswap()
    return codes.tolist()


def _walk(table: list[bytes], codes: list[int], last: bytes) -> bytes:
    """Add one table entry per code (previous expansion + first byte of this one)."""
    append = table.append
    literals = _LITERALS
    it = iter(codes)
    while True:
        try:
            for code in it:
                cur = table[code]
                append(last + literals[cur[0]])  # faster than cur[:1]
                last = cur
        except IndexError:
            # Only the code being defined right now (KwKwK) may be past the table's end.
            if code != len(table):
                raise DecodeError(
                    f"invalid LZW code {code} (next free code is {len(table)})"
                ) from None
            last += literals[last[0]]
            append(last)
        else:
            return last


def lzw_decompress_py(data: bytes, max_size: int) -> bytes:
    """Decompress like Go's ``lzw.NewReader(r, lzw.LSB, 8)``; DecodeError on any malformation.

    The output must end with an EOF code (Go reports a missing one as unexpected EOF); bytes after
    it are ignored. More than ``max_size`` bytes of output is an error, detected within one chunk
    of codes (so at most about 1 MiB beyond ``max_size`` is ever held).
    """
    table = [*_LITERALS, b"", b""]  # 256 and 257 are never looked up: specials are cut out first
    out: list[bytes] = []
    total_bits = len(data) * 8
    pos = 0
    width = 9
    last = b""  # empty: no code since the last clear (Go's decoderInvalidCode)
    size = 0
    while True:
        hi = len(table)  # the next code to be defined
        want = _CHUNK if hi >= 4096 else min(_CHUNK, (1 << width) - hi + (not last))
        count = min(want, (total_bits - pos) // width)
        if count <= 0:
            raise DecodeError("LZW stream ends without an EOF code")
        codes = _extract(data, pos, width, count)
        stop = count
        if _CLEAR in codes:
            stop = codes.index(_CLEAR)
        if _EOF in codes:
            stop = min(stop, codes.index(_EOF))
        chunk = codes[:stop] if stop < count else codes
        if hi >= 4096:
            pass  # table full without a clear: Go keeps decoding and adds no entries
        elif chunk and not last:
            if chunk[0] > 255:
                raise DecodeError(f"LZW code {chunk[0]} refers to an empty table")
            last = _walk(table, chunk[1:], _LITERALS[chunk[0]])
        elif chunk:
            last = _walk(table, chunk, last)
        # Every code in the chunk now names a table entry, so the output is a plain lookup.
        piece = b"".join(map(table.__getitem__, chunk))
        out.append(piece)
        size += len(piece)
        if size > max_size:
            raise DecodeError(f"LZW output exceeds the limit of {max_size} bytes")
        pos += stop * width
        if stop < count:
            pos += width
            if codes[stop] == _EOF:
                return b"".join(out)
            del table[258:]
            width = 9
            last = b""
        elif len(table) >= 1 << width and width < _MAX_WIDTH:
            width += 1


# The names callers import; NATIVE says whether they are the C ones.
__all__ = ["NATIVE", "lzw_compress", "lzw_compress_py", "lzw_decompress", "lzw_decompress_py"]

lzw_compress: Callable[[bytes], bytes]
lzw_decompress: Callable[[bytes, int], bytes]

try:
    # (Imported from the package: import-linter cannot see a compiled module, and would count
    # "trio_gossip.wire._lzw" as an import of the root package.)
    from trio_gossip.wire import _lzw
except ImportError:  # built without a C compiler: the pure versions (same results, slower)
    lzw_compress = lzw_compress_py
    lzw_decompress = lzw_decompress_py
    NATIVE = False
else:
    lzw_compress = _lzw.lzw_compress
    lzw_decompress = _lzw.lzw_decompress
    NATIVE = True
