"""The C LZW codec (trio_gossip.wire._lzw) against the pure-Python reference (lzw.py).

Both must give the same bytes for the same input and the same DecodeError message for the same
bad stream. In CI (TRIO_GOSSIP_REQUIRE_NATIVE=1) the extension must have been built: a silent
fallback to pure Python there would leave the C code untested.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from types import ModuleType

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lzw_support import never_clearing, pack
from vectors_support import CAPTURED, VECTORS, synthetic_vectors

from trio_gossip.wire import lzw
from trio_gossip.wire.errors import DecodeError
from trio_gossip.wire.lzw import lzw_compress_py, lzw_decompress_py

try:
    from trio_gossip.wire import _lzw as native_module
except ImportError:
    native: ModuleType | None = None
else:
    native = native_module

Compress = Callable[[bytes], bytes]
Decompress = Callable[[bytes, int], bytes]

needs_native = pytest.mark.skipif(native is None, reason="the C extension is not built")


def native_required() -> bool:
    """.ci/run sets TRIO_GOSSIP_REQUIRE_NATIVE=1: there a silent fallback must fail."""
    return os.environ.get("TRIO_GOSSIP_REQUIRE_NATIVE", "") == "1"


def test_the_extension_is_built_in_ci() -> None:
    if not native_required():
        pytest.skip("only required where TRIO_GOSSIP_REQUIRE_NATIVE=1 (.ci/run)")
    assert native is not None, "CI must build trio_gossip.wire._lzw (gcc and Python headers)"
    assert lzw.NATIVE


def test_lzw_uses_the_extension_when_built() -> None:
    assert (native is not None) == lzw.NATIVE
    if native is not None:
        assert lzw.lzw_compress is native.lzw_compress
        assert lzw.lzw_decompress is native.lzw_decompress
    else:
        assert lzw.lzw_compress is lzw_compress_py
        assert lzw.lzw_decompress is lzw_decompress_py


def c_compress(data: bytes) -> bytes:
    assert native is not None
    return native.lzw_compress(data)


def c_decompress(data: bytes, max_size: int) -> bytes:
    assert native is not None
    return native.lzw_decompress(data, max_size)


def outcome(decompress: Decompress, data: bytes, max_size: int) -> bytes | str:
    """The output, or the DecodeError's message (any other exception propagates)."""
    try:
        return decompress(data, max_size)
    except DecodeError as exc:
        return f"DecodeError: {exc}"


def same_outcome(data: bytes, max_size: int) -> bytes | str:
    expected = outcome(lzw_decompress_py, data, max_size)
    assert outcome(c_decompress, data, max_size) == expected
    return expected


# --- Go-made vectors -------------------------------------------------------------------------


def go_streams() -> list[tuple[str, bytes | None, bytes]]:
    """(name, plain bytes or None when only the stream is known, LZW stream) made by Go."""
    synthetic = {v["name"]: v for v in synthetic_vectors()}

    def buf(hex_text: str) -> bytes:
        body = msgpack.unpackb(bytes.fromhex(hex_text)[1:], raw=True)
        assert body[b"Algo"] == 0
        data: bytes = body[b"Buf"]
        return data

    out: list[tuple[str, bytes | None, bytes]] = [
        ("compress_empty", b"", buf(synthetic["compress_empty"]["hex"])),
        ("compress_64a", b"a" * 64, buf(synthetic["compress_64a"]["hex"])),
        (
            "compress_ping_full",
            bytes.fromhex(synthetic["ping_full"]["hex"]),
            buf(synthetic["compress_ping_full"]["hex"]),
        ),
        (
            "join_stream_compressed",
            bytes.fromhex(synthetic["join_stream_decompressed"]["hex"]),
            buf(synthetic["join_stream_compressed"]["hex"]),
        ),
    ]
    stress = synthetic["lzw_stress"]
    out.append(
        (
            "lzw_stress",
            (VECTORS / stress["input_file"]).read_bytes(),
            (VECTORS / stress["output_file"]).read_bytes(),
        )
    )
    for path in sorted(CAPTURED.glob("compress-*.hex")):
        out.append((path.stem, None, buf(path.read_text().strip())))
    return out


GO_STREAMS = go_streams()


@needs_native
@pytest.mark.parametrize(("name", "plain", "stream"), GO_STREAMS, ids=[v[0] for v in GO_STREAMS])
def test_go_vectors_both_ways(name: str, plain: bytes | None, stream: bytes) -> None:
    if plain is None:  # captured: Go re-encodes these byte for byte (their JSON says so)
        plain = lzw_decompress_py(stream, 1 << 20)
    assert c_decompress(stream, len(plain)) == plain
    assert c_compress(plain) == stream
    assert lzw_compress_py(plain) == stream
    if plain:
        message = same_outcome(stream, len(plain) - 1)
        assert message == f"DecodeError: LZW output exceeds the limit of {len(plain) - 1} bytes"
    # Truncations (every one for the short streams): same bytes or the same error.
    cuts = range(len(stream)) if len(stream) < 2000 else range(0, len(stream), 97)
    for cut in [*cuts, len(stream) - 1]:
        same_outcome(stream[:cut], 1 << 20)


# --- Round trips -----------------------------------------------------------------------------

payloads = (
    st.binary(max_size=3000)
    | st.binary(max_size=8).map(lambda b: b * 700)
    | st.lists(st.integers(0, 3), max_size=12_000).map(bytes)  # many codes: crosses resets
)


@needs_native
@settings(max_examples=300)
@given(payloads)
def test_compress_matches_the_pure_version(data: bytes) -> None:
    stream = lzw_compress_py(data)
    assert c_compress(data) == stream
    assert c_decompress(stream, len(data)) == data
    assert lzw_decompress_py(stream, len(data)) == data


@needs_native
@pytest.mark.parametrize("alphabet", [2, 16, 256])
def test_long_inputs_cross_many_table_resets(alphabet: int) -> None:
    rng = random.Random(alphabet)
    data = bytes(rng.randrange(alphabet) for _ in range(200_000))
    stream = c_compress(data)
    assert stream == lzw_compress_py(data)
    assert c_decompress(stream, len(data)) == data
    assert same_outcome(stream, len(data) - 1) == (
        f"DecodeError: LZW output exceeds the limit of {len(data) - 1} bytes"
    )


@needs_native
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_full_table_without_clear(seed: int) -> None:
    rng = random.Random(seed)
    data = bytes(rng.randrange(16) for _ in range(40_000))
    stream = never_clearing(data)
    assert lzw_decompress_py(stream, len(data)) == data
    assert c_decompress(stream, len(data)) == data
    for limit in (len(data) - 1, 30_000, 100):
        same_outcome(stream, limit)
    rng = random.Random(seed)
    for _ in range(200):  # damaged beyond the point where the table is full
        damaged = bytearray(stream)
        damaged[rng.randrange(len(damaged) // 2, len(damaged))] ^= 1 << rng.randrange(8)
        same_outcome(bytes(damaged), len(data))


# --- Every error path: the same message from both ---------------------------------------------

ERRORS = [
    ("empty input", b"", 100, "LZW stream ends without an EOF code"),
    ("truncated", lzw_compress_py(b"hello hello hello")[:-2], 100,
     "LZW stream ends without an EOF code"),
    ("no EOF, only a clear", pack([(256, 9)]), 100, "LZW stream ends without an EOF code"),
    ("code past the table", pack([(256, 9), (97, 9), (300, 9), (257, 9)]), 100,
     "invalid LZW code 300 (next free code is 258)"),
    ("code past the table later", pack([(256, 9), (97, 9), (98, 9), (261, 9)]), 100,
     "invalid LZW code 261 (next free code is 259)"),
    ("first code not a literal", pack([(256, 9), (258, 9), (257, 9)]), 100,
     "LZW code 258 refers to an empty table"),
    ("first code not a literal after a clear", pack([(97, 9), (256, 9), (400, 9)]), 100,
     "LZW code 400 refers to an empty table"),
    ("over max_size", lzw_compress_py(b"a" * 50), 49, "LZW output exceeds the limit of 49 bytes"),
    ("zero max_size", lzw_compress_py(b"a"), 0, "LZW output exceeds the limit of 0 bytes"),
    ("negative max_size", lzw_compress_py(b""), -1, "LZW output exceeds the limit of -1 bytes"),
    # One chunk holds both output past the limit and, later, a bad code: the code is reported.
    ("bad code beats the limit", pack([(256, 9), (97, 9), (98, 9), (99, 9), (500, 9)]), 1,
     "invalid LZW code 500 (next free code is 260)"),
]  # fmt: skip


@pytest.mark.parametrize(
    "decompress",
    [pytest.param(lzw_decompress_py, id="pure"),
     pytest.param(c_decompress, id="c", marks=needs_native)],
)  # fmt: skip
@pytest.mark.parametrize(("data", "max_size", "message"), [e[1:] for e in ERRORS],
                         ids=[e[0] for e in ERRORS])  # fmt: skip
def test_error_messages(decompress: Decompress, data: bytes, max_size: int, message: str) -> None:
    with pytest.raises(DecodeError) as info:
        decompress(data, max_size)
    assert str(info.value) == message


@needs_native
def test_edge_streams_decode_alike() -> None:
    cases = [
        (pack([(256, 9), (257, 9)]), 0),  # empty output
        (pack([(257, 9)]), 0),  # EOF straight away, no clear
        (pack([(97, 9), (258, 9), (257, 9)]), 10),  # no leading clear, then KwKwK
        (pack([(256, 9), (97, 9), (258, 9), (256, 9), (98, 9), (257, 9)]), 10),  # mid clear
        (pack([(256, 9), (97, 9), (257, 9)]) + b"\xff" * 10, 10),  # bytes after EOF ignored
        (lzw_compress_py(b"abc"), 2**80),  # a limit beyond 64 bits
    ]
    for data, max_size in cases:
        result = same_outcome(data, max_size)
        assert isinstance(result, bytes)
    assert c_decompress(pack([(97, 9), (258, 9), (257, 9)]), 10) == b"aaa"


# --- Fuzzing: random and damaged streams ------------------------------------------------------


@needs_native
@settings(max_examples=1000)
@given(st.binary(max_size=200), st.sampled_from([0, 1, 7, 64, 1000, 1 << 20]))
def test_random_bytes_give_the_same_outcome(data: bytes, max_size: int) -> None:
    same_outcome(data, max_size)


@needs_native
@settings(max_examples=500)
@given(payloads, st.data())
def test_damaged_streams_give_the_same_outcome(plain: bytes, draw: st.DataObject) -> None:
    stream = bytearray(lzw_compress_py(plain))
    for _ in range(draw.draw(st.integers(1, 4))):
        bit = draw.draw(st.integers(0, len(stream) * 8 - 1))
        stream[bit >> 3] ^= 1 << (bit & 7)
    cut = draw.draw(st.integers(0, len(stream)))
    limit = draw.draw(st.sampled_from([len(plain), max(len(plain) - 1, 0), 1 << 20]))
    same_outcome(bytes(stream[:cut] if draw.draw(st.booleans()) else stream), limit)


@needs_native
def test_seeded_damage() -> None:
    rng = random.Random(20240601)
    seeds = [plain or b"x" for _, plain, _ in GO_STREAMS if plain is not None]
    for _ in range(20_000):
        plain = rng.choice(seeds)[: rng.randrange(1, 3000)]
        stream = bytearray(lzw_compress_py(plain))
        for _ in range(rng.randrange(1, 4)):
            stream[rng.randrange(len(stream))] = rng.randrange(256)
        same_outcome(bytes(stream), rng.choice([len(plain), len(plain) // 2, 1 << 20]))
