"""TCP reassembly for the dissector: order, retransmission, overlap, holes, wraparound, reuse."""

from __future__ import annotations

import itertools
import random

from hypothesis import given
from hypothesis import strategies as st

from trio_gossip.apps.dissect.reassembly import Address, Segment, StreamDirection, reassemble

CLIENT = ("127.0.0.1", 51208)
SERVER = ("127.0.0.1", 7946)


def seg(
    frame: int,
    seq: int,
    payload: bytes = b"",
    src: Address = CLIENT,
    dst: Address = SERVER,
    **flags: bool,
) -> Segment:
    return Segment(frame, frame / 1000, src, dst, seq % 2**32, payload, **flags)


def handshake(isn_c: int, isn_s: int) -> list[Segment]:
    return [
        seg(1, isn_c, syn=True),
        seg(2, isn_s, src=SERVER, dst=CLIENT, syn=True, ack=True),
        seg(3, isn_c + 1, ack=True),
    ]


def only(streams: list[StreamDirection], src: Address) -> StreamDirection:
    (found,) = [s for s in streams if s.src == src]
    return found


def test_in_order_both_directions() -> None:
    segs = [
        *handshake(1000, 5000),
        seg(4, 1001, b"hello ", ack=True),
        seg(5, 1007, b"world", ack=True),
        seg(6, 5001, b"reply", src=SERVER, dst=CLIENT, ack=True),
        seg(7, 1012, fin=True, ack=True),
        seg(8, 5006, src=SERVER, dst=CLIENT, fin=True, ack=True),
    ]
    streams = reassemble(segs)
    assert [s.data for s in streams] == [b"hello world", b"reply"]
    c2s = only(streams, CLIENT)
    assert c2s.from_client is True
    assert c2s.frame == 4
    assert c2s.frames == (4, 5)
    assert c2s.gap_at is None
    assert only(streams, SERVER).from_client is False


def test_out_of_order_and_retransmitted() -> None:
    segs = [
        *handshake(1000, 5000),
        seg(4, 1007, b"world", ack=True),
        seg(5, 1001, b"hello ", ack=True),
        seg(6, 1007, b"world", ack=True),  # retransmission
    ]
    (c2s,) = reassemble(segs)
    assert c2s.data == b"hello world"
    # The message starts in frame 5, where its first byte arrived.
    assert c2s.frame == 5
    assert c2s.frames == (4, 5)


def test_overlap_keeps_the_first_copy() -> None:
    segs = [
        *handshake(1000, 5000),
        seg(4, 1001, b"abcd"),
        seg(5, 1003, b"XXef"),  # overlaps "cd", then adds "ef"
        seg(6, 1000 + 1, b"ZZ"),
    ]
    (c2s,) = reassemble(segs)
    assert c2s.data == b"abcdef"


def test_sequence_numbers_wrap() -> None:
    isn = 2**32 - 3
    segs = [*handshake(isn, 7), seg(4, isn + 1, b"ab"), seg(5, isn + 3, b"cdef")]
    (c2s,) = reassemble(segs)
    assert c2s.data == b"abcdef"


def test_capture_started_mid_connection() -> None:
    # No SYN: the lowest sequence number seen is byte 0, even across the wrap.
    segs = [seg(1, 0, b"cd"), seg(2, 2**32 - 2, b"ab"), seg(3, 2, b"e")]
    (c2s,) = reassemble(segs)
    assert c2s.data == b"abcde"
    assert c2s.from_client is None


def test_hole_stops_the_stream() -> None:
    segs = [*handshake(1000, 5000), seg(4, 1001, b"abc"), seg(5, 1010, b"later")]
    (c2s,) = reassemble(segs)
    assert c2s.data == b"abc"
    assert c2s.gap_at == 3
    assert c2s.bytes_after_gap == 5


def test_missing_start_is_a_hole_at_zero() -> None:
    segs = [*handshake(1000, 5000), seg(4, 1005, b"tail")]
    (c2s,) = reassemble(segs)
    assert c2s.data == b""
    assert c2s.gap_at == 0
    assert c2s.bytes_after_gap == 4


def test_data_in_syn_follows_its_sequence_number() -> None:
    segs = [seg(1, 1000, b"fast", syn=True), seg(2, 1005, b"open")]
    (c2s,) = reassemble(segs)
    assert c2s.data == b"fastopen"
    assert c2s.from_client is True


def test_port_reuse_starts_a_new_connection() -> None:
    first = [*handshake(1000, 5000), seg(4, 1001, b"one"), seg(5, 1004, rst=True)]
    second = [
        seg(6 + s.frame, s.seq + 9000, s.payload, s.src, s.dst, syn=s.syn, ack=s.ack)
        for s in handshake(1000, 5000)
    ] + [seg(10, 10001, b"two")]
    streams = reassemble(first + second)
    assert [(s.connection, s.data) for s in streams] == [(0, b"one"), (1, b"two")]


def test_retransmitted_syn_is_the_same_connection() -> None:
    segs = [seg(1, 1000, syn=True), seg(2, 1000, syn=True), seg(3, 1001, b"x")]
    (c2s,) = reassemble(segs)
    assert (c2s.connection, c2s.data) == (0, b"x")


def test_empty_directions_are_not_reported() -> None:
    refused = [seg(1, 1000, syn=True), seg(2, 0, src=SERVER, dst=CLIENT, rst=True, ack=True)]
    assert reassemble(refused) == []


@given(
    data=st.binary(min_size=1, max_size=300),
    isn=st.integers(0, 2**32 - 1),
    cuts=st.lists(st.integers(0, 300), max_size=20),
    seed=st.integers(0, 2**16),
)
def test_any_segmentation_order_and_duplication(
    data: bytes, isn: int, cuts: list[int], seed: int
) -> None:
    rng = random.Random(seed)
    bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    pieces = [(a, data[a:b]) for a, b in itertools.pairwise(bounds)]
    # Retransmissions, some of them merging two neighbours into one larger overlapping segment.
    pieces += rng.sample(pieces, k=len(pieces) // 2)
    for a, b in zip(bounds, bounds[2:], strict=False):
        if rng.random() < 0.3:
            pieces.append((a, data[a:b]))
    rng.shuffle(pieces)
    segs = [seg(1, isn, syn=True)]
    segs += [seg(i + 2, isn + 1 + off, chunk) for i, (off, chunk) in enumerate(pieces)]
    (c2s,) = reassemble(segs)
    assert c2s.data == data
    assert c2s.gap_at is None
