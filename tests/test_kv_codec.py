"""Codecs and the registry: unknown ids and bad bytes from the network are DecodeErrors."""

from __future__ import annotations

from typing import Any

import pytest

from trio_gossip.core.kv import LWW_CODEC, CodecRegistry, LWWMap, MsgpackCodec
from trio_gossip.core.ring import RING_CODEC, Ring
from trio_gossip.wire.errors import ConfigError, DecodeError


def int_from_plain(plain: Any) -> int:
    return int(plain["n"])  # KeyError, TypeError and ValueError all possible


INT_CODEC: MsgpackCodec[int] = MsgpackCodec("int", lambda n: {"n": n}, int_from_plain)


def test_registry_finds_codecs_by_id() -> None:
    registry = CodecRegistry.of([RING_CODEC, LWW_CODEC])
    assert "ring" in registry
    assert registry["lww"] is LWW_CODEC
    assert registry.decode("ring", RING_CODEC.encode(Ring())) == Ring()
    assert registry.decode("lww", LWW_CODEC.encode(LWWMap())) == LWWMap()
    with pytest.raises(KeyError):
        registry["nope"]


def test_registry_is_immutable_and_refuses_duplicates() -> None:
    empty = CodecRegistry()
    one = empty.with_codec(INT_CODEC)
    assert "int" not in empty
    assert "int" in one
    with pytest.raises(ConfigError, match="already"):
        one.with_codec(MsgpackCodec("int", str, str))
    with pytest.raises(ConfigError, match="codec id"):
        empty.with_codec(MsgpackCodec("", str, str))


def test_network_input_only_raises_decode_error() -> None:
    registry = CodecRegistry.of([INT_CODEC])
    with pytest.raises(DecodeError, match="unknown codec"):
        registry.decode("ring", b"")
    assert registry.decode("int", INT_CODEC.encode(7)) == 7
    for bad in (b"", b"\xc1", INT_CODEC.encode(7) + b"\x00", b"\x81\xa1m\x01", b"\x81\xa1n\xa1x"):
        with pytest.raises(DecodeError):
            registry.decode("int", bad)
