"""The KV wire format: pairs and whole states round-trip; bad bytes are DecodeErrors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_gossip.core.kv.codec import pack
from trio_gossip.core.kv.message import (
    MAX_KEY_BYTES,
    KeyValuePair,
    decode_pair,
    decode_state,
    encode_pair,
    encode_state,
)
from trio_gossip.wire.errors import DecodeError

pairs = st.builds(
    KeyValuePair,
    key=st.text(min_size=1, max_size=20),
    codec=st.sampled_from(("ring", "lww", "x" * 64)),
    value=st.binary(max_size=100),
    deleted=st.booleans(),
    updated_at=st.floats(0, 10**10, allow_nan=False),
)


@given(pairs)
def test_pair_round_trip(pair: KeyValuePair) -> None:
    assert decode_pair(encode_pair(pair)) == pair


@given(st.lists(pairs, max_size=5, unique_by=lambda p: p.key))
def test_state_round_trip(state: list[KeyValuePair]) -> None:
    assert decode_state(encode_state(state)) == tuple(state)


def test_wrapper_is_small() -> None:
    pair = KeyValuePair("collectors/ring", "ring", b"")
    assert len(encode_pair(pair)) < 32


def check_refused_or_sound(data: bytes) -> None:
    """Bad bytes raise DecodeError and nothing else; what does decode re-encodes the same."""
    try:
        pair = decode_pair(data)
    except DecodeError:
        pass
    else:
        assert decode_pair(encode_pair(pair)) == pair
    try:
        state = decode_state(data)
    except DecodeError:
        pass
    else:
        assert decode_state(encode_state(state)) == state


@given(st.binary(max_size=64))
def test_garbage_is_a_decode_error(data: bytes) -> None:
    check_refused_or_sound(data)


@given(pairs, st.data())
def test_corruption_is_a_decode_error_or_a_valid_pair(
    pair: KeyValuePair, data: st.DataObject
) -> None:
    encoded = bytearray(encode_pair(pair))
    encoded[data.draw(st.integers(0, len(encoded) - 1))] = data.draw(st.integers(0, 255))
    check_refused_or_sound(bytes(encoded[: data.draw(st.integers(0, len(encoded)))]))


def frame(kind: int, body: object) -> bytes:
    return b"kv\x01" + bytes((kind,)) + pack(body)


GOOD = ["k", "ring", b"", False, 0]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "magic"),
        (b"KV\x01\x01" + pack(GOOD), "magic"),
        (b"kv\x02\x01" + pack(GOOD), "format 2"),
        (frame(2, GOOD), "kind 2"),
        (frame(1, GOOD) + b"\x00", "bad msgpack"),
        (frame(1, GOOD[:4]), "array of 5"),
        (frame(1, ["", *GOOD[1:]]), "empty"),
        (frame(1, ["k" * (MAX_KEY_BYTES + 1), *GOOD[1:]]), "over"),
        (frame(1, ["k", "", *GOOD[2:]]), "codec"),
        (frame(1, ["k", "c" * 65, *GOOD[2:]]), "codec"),
        (frame(1, ["k", "ring", "text", False, 0]), "binary"),
        (frame(1, ["k", "ring", b"", 0, 0]), "bool"),
        (frame(1, ["k", "ring", b"", False, -5]), "update time"),
        (frame(1, ["k", "ring", b"", False, 1.5]), "update time"),
        (frame(1, [b"k", *GOOD[1:]]), "not a string"),
        (b"kv\x01\x01\xc1", "bad msgpack"),
    ],
)
def test_bad_pair(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_pair(data)


def test_bad_state() -> None:
    with pytest.raises(DecodeError, match="twice"):
        decode_state(frame(2, [GOOD, GOOD]))
    with pytest.raises(DecodeError, match="not an array"):
        decode_state(frame(2, {"k": 1}))


def test_size_limits() -> None:
    pair = KeyValuePair("k", "ring", b"x" * 100)
    data = encode_pair(pair)
    with pytest.raises(DecodeError, match="limit"):
        decode_pair(data, max_size=len(data) - 1)
    assert decode_pair(data, max_size=len(data)) == pair
    with pytest.raises(ValueError, match="limit"):
        encode_pair(pair, max_size=50)
    with pytest.raises(ValueError, match="empty"):
        encode_pair(KeyValuePair("", "ring", b""))
    with pytest.raises(ValueError, match="codec id"):
        encode_state([KeyValuePair("k", "", b"")])
