"""Go's compress/lzw (LSB order, literal width 8) in C, with trio_gossip.wire.lzw's contract."""

def lzw_compress(data: bytes, /) -> bytes:
    """Compress like Go's ``lzw.NewWriter(w, lzw.LSB, 8)``: one Write of ``data``, then Close."""

def lzw_decompress(data: bytes, max_size: int, /) -> bytes:
    """Decompress like Go's ``lzw.NewReader(r, lzw.LSB, 8)``; DecodeError on any malformation
    and when the output would exceed ``max_size`` bytes."""
