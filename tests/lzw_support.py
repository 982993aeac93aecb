"""LZW streams Go's writer never makes but its reader accepts, for the decoders' edge paths."""

from __future__ import annotations


def pack(codes: list[tuple[int, int]]) -> bytes:
    """(code, width) pairs packed LSB first, as Go's compress/lzw writer does."""
    bits = nbits = 0
    for code, width in codes:
        bits |= code << nbits
        nbits += width
    return bits.to_bytes((nbits + 7) // 8, "little")


def never_clearing(data: bytes, *, leading_clear: bool = True) -> bytes:
    """A writer that never clears: once 4096 codes exist it defines no more (Go's reader still
    reads such streams), to exercise the decoders' full-table path. ``leading_clear``: start
    with a clear code, as Go's writer does."""
    table = {bytes((i,)): i for i in range(256)}
    codes, width, hi = [(256, 9)] if leading_clear else [], 9, 257
    match = data[:1]
    for x in data[1:]:
        if match + bytes((x,)) in table:
            match += bytes((x,))
            continue
        codes.append((table[match], width))
        hi += 1
        if hi < 4096:
            table[match + bytes((x,))] = hi
            if hi == 1 << width:
                width += 1  # as Go's writer (incHi): one code ahead of the reader
        match = bytes((x,))
    codes.append((table[match], width))
    hi += 1
    if hi < 4096 and hi == 1 << width:
        width += 1
    codes.append((257, width))
    return pack(codes)
