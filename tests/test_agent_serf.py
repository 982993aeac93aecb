"""Serf's own layer as the agent speaks it: tags metadata, intents, clocks, push/pull state."""

from __future__ import annotations

import json
from pathlib import Path

import msgpack
import pytest

from trio_gossip.apps.agent.serf import (
    Intent,
    LamportClock,
    PushPullClocks,
    SerfMessageType,
    decode_intent,
    encode_intent,
    message_ltime,
    message_type,
    push_pull_clocks,
)
from trio_gossip.apps.agent.tags import decode_tags, encode_tags, parse_tags
from trio_gossip.wire.errors import ConfigError, DecodeError

VECTORS = Path(__file__).resolve().parents[1].parent / "shared/vectors/memberlist/captured/vectors"


def _vector(name: str) -> tuple[bytes, dict[str, object]]:
    raw = bytes.fromhex((VECTORS / f"{name}.hex").read_text().strip())
    return raw, json.loads((VECTORS / f"{name}.json").read_text())


def _serf_bytes(name: str) -> bytes:
    raw, _ = _vector(name)
    assert raw[0] == 8, "a memberlist user message"
    return raw[1:]


def test_join_intent_is_byte_exact_with_serf() -> None:
    assert encode_intent(Intent("b", 1, leave=False)) == _serf_bytes("user-1")


def test_leave_intent_is_byte_exact_with_serf() -> None:
    assert encode_intent(Intent("b", 2, leave=True)) == _serf_bytes("user-10")


def test_intents_decode_from_captures() -> None:
    assert decode_intent(_serf_bytes("user-1")) == Intent("b", 1, leave=False)
    assert decode_intent(_serf_bytes("user-10")) == Intent("b", 2, leave=True, prune=False)


def test_other_serf_messages_are_typed_and_timed() -> None:
    event = _serf_bytes("user-2")
    assert message_type(event) is SerfMessageType.USER_EVENT
    assert message_ltime(event) == 1
    assert message_type(_serf_bytes("user-5")) is SerfMessageType.QUERY
    assert message_type(b"") is None
    assert message_type(b"\x63") is None
    with pytest.raises(DecodeError):
        decode_intent(event)


@pytest.mark.parametrize(
    "data",
    [b"\x01", b"\x01\x92\x01\x02", b"\x00\x81\xa5LTime\xa1x", b"\x01\x81\x01\x02", b"\x00\xc1"],
)
def test_bad_intents_raise_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_intent(data)


def test_lamport_clock_follows_go() -> None:
    clock = LamportClock()
    assert clock.time == 0
    assert clock.increment() == 1
    clock.witness(0)  # older: ignored
    assert clock.time == 1
    clock.witness(1)  # equal: one past it, so our next message sorts after
    assert clock.time == 2
    clock.witness(10)
    assert clock.time == 11


def test_push_pull_clocks_from_a_captured_serf_state() -> None:
    _, info = _vector("pushPull-1")
    fields = info["fields"]
    assert isinstance(fields, dict)
    state = bytes.fromhex(str(fields["user_state_hex"]))
    assert len(state) == 585
    assert push_pull_clocks(state) == PushPullClocks(1, 1, 1)
    with pytest.raises(DecodeError):
        push_pull_clocks(b"\x03\x80")
    with pytest.raises(DecodeError):
        push_pull_clocks(b"")
    with pytest.raises(DecodeError):
        push_pull_clocks(b"\x02\x81\xa5LTime\xff")  # a negative Lamport time


# ---- tags ------------------------------------------------------------------------------------


def test_tags_decode_serf_metadata_from_a_capture() -> None:
    meta = bytes.fromhex("ff82a4726f6c65a56361636865a26463a26c6f")  # alive-1's Meta
    assert decode_tags(meta) == {"role": "cache", "dc": "lo"}


def test_tags_encode_like_serf() -> None:
    meta = encode_tags({"role": "cache", "dc": "lo"})
    # Serf's map order is Go's random iteration; ours is sorted. Same bytes otherwise.
    assert meta == bytes.fromhex("ff82a26463a26c6fa4726f6c65a56361636865")
    assert encode_tags({}) == b"\xff\x80"  # what a Serf agent without tags sends
    long_value = "v" * 40  # str16 (da), never str8 (d9): go-msgpack 0.5.5 rejects d9
    assert encode_tags({"k": long_value})[4:7] == b"\xda\x00\x28"


def test_tags_round_trip_and_legacy_role() -> None:
    tags = {"role": "web", "dc": "eu-1", "ünï": "cödé", "empty": ""}
    assert decode_tags(encode_tags(tags)) == tags
    assert decode_tags(b"") == {}
    assert decode_tags(b"web") == {"role": "web"}  # metadata without the magic byte


@pytest.mark.parametrize(
    "meta", [b"\xff", b"\xff\x92\x01\x02", b"\xff\x81\x01\xa1x", b"\xff\x81\xa1x\x01", b"\xff\xc1"]
)
def test_bad_tag_metadata_raises_decode_error(meta: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_tags(meta)


def test_tags_over_the_metadata_limit_are_refused() -> None:
    with pytest.raises(ConfigError, match="512"):
        encode_tags({"k": "v" * 600})


def test_parse_tags() -> None:
    assert parse_tags(["a=1", "b=x=y", "a=2"]) == {"a": "2", "b": "x=y"}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_tags(["novalue"])
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_tags(["=v"])


def test_tags_msgpack_is_old_raw_format() -> None:
    body = encode_tags({"a": "b"})[1:]
    assert msgpack.unpackb(body, raw=True) == {b"a": b"b"}
    assert b"\xc4" not in body  # no bin type
