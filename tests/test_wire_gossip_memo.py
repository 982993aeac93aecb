"""Repeated gossip decodes once: equal bytes share one frozen message, within a bound."""

from __future__ import annotations

import pytest

from trio_gossip.wire import DecodeError, decode_message, encode_message
from trio_gossip.wire import codec as wire_codec
from trio_gossip.wire.messages import Alive, Dead, Ping, Suspect


def _alive(i: int, meta: bytes | None = None) -> bytes:
    return encode_message(Alive(i, f"node-{i}", b"\x0a\x00\x00\x01", 7946, meta, bytes(6)))


def test_equal_gossip_bytes_decode_to_one_shared_message() -> None:
    gossip = (_alive(1), encode_message(Suspect(2, "a", "b")), encode_message(Dead(3, "a", "b")))
    for data in gossip:
        first, again = decode_message(data), decode_message(bytearray(data))
        assert first == again
        assert first is again  # the second copy cost a dictionary lookup
    ping = encode_message(Ping(1, "a", b"", 0, ""))
    assert decode_message(ping) is not decode_message(ping)  # only gossip is forwarded as is


def test_long_messages_and_bad_bytes_are_not_kept() -> None:
    long = _alive(5, meta=b"m" * 500)
    assert decode_message(long) is not decode_message(long)
    bad = _alive(6)[:-3]
    for _ in range(2):
        with pytest.raises(DecodeError):
            decode_message(bad)
    assert bytes(bad) not in wire_codec._gossip_memo


def test_the_memo_is_bounded() -> None:
    limit = wire_codec._GOSSIP_MEMO_LIMIT
    for i in range(limit + 10):
        decode_message(_alive(i))
    assert 0 < len(wire_codec._gossip_memo) <= limit
    assert decode_message(_alive(limit + 9)) == Alive(
        limit + 9, f"node-{limit + 9}", b"\x0a\x00\x00\x01", 7946, None, bytes(6)
    )
