"""The ring codec round-trips every ring and turns any bad input into a DecodeError."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st
from ring_support import lookup_rings, rings

from trio_gossip.core.ring import RING_CODEC, InstanceDesc, InstanceState, Ring
from trio_gossip.wire.errors import DecodeError

any_ring = st.one_of(rings(), lookup_rings())


@given(any_ring)
def test_round_trip(ring: Ring) -> None:
    decoded = RING_CODEC.decode(RING_CODEC.encode(ring))
    assert decoded == ring
    assert decoded.merge(ring).change is None


def test_times_survive_the_trip_exactly() -> None:
    desc = InstanceDesc("a", registered_at=1_700_000_000.123_456, read_only_updated_at=0.0004)
    ring = Ring.of([desc], {"a": 1_700_000_000.999_9})
    assert RING_CODEC.decode(RING_CODEC.encode(ring)) == ring


def test_heartbeat_delta_is_tiny_and_tokens_take_four_bytes() -> None:
    assert len(RING_CODEC.encode(Ring(heartbeats={"ingester-17": 1_700_000_000.0}))) < 32
    one = Ring.of([InstanceDesc("ingester-17", tokens=range(2**31, 2**31 + 128))])
    assert 512 < len(RING_CODEC.encode(one)) < 600


def decodes_or_refuses(data: bytes) -> None:
    """Bad bytes raise DecodeError and nothing else; bytes that do decode make a sound ring."""
    try:
        decoded = RING_CODEC.decode(data)
    except DecodeError:
        return
    assert RING_CODEC.decode(RING_CODEC.encode(decoded)) == decoded


@given(st.binary(max_size=200))
def test_garbage_is_a_decode_error(data: bytes) -> None:
    decodes_or_refuses(data)


@given(any_ring, st.data())
def test_corrupted_encoding_is_a_ring_or_a_decode_error(ring: Ring, data: st.DataObject) -> None:
    encoded = bytearray(RING_CODEC.encode(ring))
    position = data.draw(st.integers(0, len(encoded) - 1))
    encoded[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(encoded)))
    decodes_or_refuses(bytes(encoded[:cut]))


def pack(obj: object) -> bytes:
    data: bytes = msgpack.packb(obj, use_bin_type=True)
    return data


GOOD = ["a", "", "", 0, b"\x00\x00\x00\x01", 0, False, 0, [0, 0, ""]]


@pytest.mark.parametrize(
    ("plain", "message"),
    [
        ([1, [], {}, 0], "expected"),
        ([2, [], {}], "format"),
        ([True, [], {}], "format"),
        ([1, {}, {}], "array"),
        ([1, [GOOD, GOOD], {}], "twice"),
        ([1, [GOOD[:8]], {}], "array of 9"),
        ([1, [["", *GOOD[1:]]], {}], "instance id"),
        ([1, [[*GOOD[:3], 9, *GOOD[4:]]], {}], "state"),
        ([1, [[*GOOD[:3], True, *GOOD[4:]]], {}], "state"),
        ([1, [[*GOOD[:4], b"\x00\x01", *GOOD[5:]]], {}], "uint32"),
        ([1, [[*GOOD[:4], [1, 2], *GOOD[5:]]], {}], "uint32"),
        ([1, [[*GOOD[:5], -1, *GOOD[6:]]], {}], "registered"),
        ([1, [[*GOOD[:6], 0, *GOOD[7:]]], {}], "read_only"),
        ([1, [[*GOOD[:8], [0, -1, ""]]], {}], "logical"),
        ([1, [[*GOOD[:8], [0, 0]]], {}], "version"),
        ([1, [], {"a": 1.5}], "heartbeat"),
        ([1, [], {"": 1}], "heartbeat id"),
        ([1, [["a" * 600, *GOOD[1:]]], {}], "512 bytes"),
    ],
)
def test_schema_violations(plain: object, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        RING_CODEC.decode(pack(plain))


def test_unsorted_tokens_are_normalized_and_left_loses_its_tokens() -> None:
    tokens = b"".join(t.to_bytes(4, "big") for t in (9, 3, 9))
    left = ["b", "", "", int(InstanceState.LEFT), tokens, 0, False, 0, [1, 0, "b"]]
    ring = RING_CODEC.decode(pack([1, [[*GOOD[:4], tokens, *GOOD[5:]], left], {}]))
    assert ring.instances["a"].tokens == (3, 9)
    assert ring.instances["b"].tokens == ()
    with pytest.raises(DecodeError, match="bad msgpack"):
        RING_CODEC.decode(pack([1, [], {}]) + b"\x00")  # trailing bytes
