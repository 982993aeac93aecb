"""Hostile input on the dskit wire path: bad framing, bad MD5, lying protobuf lengths, unknown
codec IDs, bad snappy. Every decoder raises only DskitDecodeError, and whatever decodes can be
merged and looked up without anything but dskit's own lookup errors (seeded fuzz loop)."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable

import pytest

from trio_gossip.core.dskit import ops
from trio_gossip.core.dskit.errors import RingLookupError
from trio_gossip.core.dskit.kv_format import DSKIT_FORMAT
from trio_gossip.core.dskit.merge import merge
from trio_gossip.core.dskit.ring import RingConfig, RingView
from trio_gossip.core.dskit.ring_value import DSKIT_RING_CODEC
from trio_gossip.wire.dskit import (
    RING_CODEC_ID,
    Desc,
    DskitDecodeError,
    InstanceDesc,
    InstanceState,
    KeyValuePair,
    compressed_payload,
    connection_type,
    decode_broadcast,
    decode_desc,
    decode_kv_pair,
    decode_packet,
    decode_push_pull_state,
    decode_ring_value,
    encode_desc,
    encode_kv_pair,
    encode_packet,
    encode_push_pull_state,
    encode_ring_value,
    snappy_compress_message,
    snappy_decode,
    snappy_decompress_buf,
)
from trio_gossip.wire.dskit.snappy import snappy_decoded_len

RING = Desc(
    {
        f"ingester-{i}": InstanceDesc(
            addr=f"10.0.0.{i}:9095",
            timestamp=1_000 + i,
            state=i % 5,
            tokens=(i, 100 + i, 7 * i),
            zone=f"zone-{i % 3}",
            registered_timestamp=900,
            id=f"ingester-{i}",
            read_only=i == 2,
            read_only_updated_timestamp=950,
            versions=((1, i),),
        )
        for i in range(6)
    }
)
VALUE = encode_ring_value(RING)
PAIR = encode_kv_pair(KeyValuePair("collectors/ring", VALUE, RING_CODEC_ID, False, 123))
STATE = encode_push_pull_state([decode_kv_pair(PAIR), KeyValuePair("k", b"v", "string")])
PACKET = encode_packet(b"\x08" + PAIR, "127.0.0.1:7946")
COMPRESSED = snappy_compress_message(b"\x08" + PAIR)


def _ring_value(data: bytes) -> object:
    return decode_ring_value(data, max_size=1 << 20)


def _compressed(data: bytes) -> object:
    algo, buf = compressed_payload(data)
    return snappy_decompress_buf(buf) if algo == 1 else buf


DECODERS: list[tuple[bytes, Callable[[bytes], object]]] = [
    (PACKET, decode_packet),
    (PAIR, decode_kv_pair),
    (PAIR, lambda d: decode_broadcast(d, {RING_CODEC_ID})),
    (encode_desc(RING), decode_desc),
    (VALUE, _ring_value),
    (VALUE, lambda d: snappy_decode(d, max_size=1 << 20)),
    (COMPRESSED[1:], _compressed),
    # The KV store's dskit mode: its message format and ring codec (core/dskit).
    (PAIR, lambda d: DSKIT_FORMAT.decode_pair(d, max_size=1 << 20)),
    (STATE, lambda d: DSKIT_FORMAT.decode_state(d, max_size=1 << 20)),
    (VALUE, lambda d: DSKIT_RING_CODEC.decode(d).desc),
]


def _mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(6)
        pos = rng.randrange(len(out) + 1)
        if kind == 0 and out:
            out[pos % len(out)] ^= 1 << rng.randrange(8)
        elif kind == 1:
            del out[pos:]
        elif kind == 2:
            out[pos:pos] = rng.randbytes(rng.randint(1, 8))
        elif kind == 3 and out:  # a lying length: a large varint where a length was
            out[pos % len(out) : pos % len(out) + 1] = rng.choice(
                [b"\xff\xff\xff\xff\x0f", b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x02", b"\x7f"]
            )
        elif kind == 4:
            out[pos:pos] = out[rng.randrange(len(out) + 1) :][: rng.randint(1, 16)]
        else:
            out = bytearray(rng.randbytes(rng.randint(0, 40)))
    return bytes(out)


def _use(desc: Desc) -> None:
    """Whatever decodes must merge and look up without surprises."""
    merged = merge(RING, desc, local_cas=False, now=2_000).desc
    merge(merged, desc, local_cas=True, now=2_000)
    for zone_aware in (False, True):
        view = RingView.from_desc(merged, RingConfig(zone_awareness_enabled=zone_aware))
        for call in (
            lambda v=view: v.get(12345, ops.WRITE, 2_000),
            lambda v=view: v.get_replication_set_for_operation(ops.READ, 2_000),
            lambda v=view: v.shuffle_shard("tenant", 3).get(7, ops.READ, 2_000),
            lambda v=view: v.shuffle_shard_with_lookback("tenant", 2, 60, 2_000),
        ):
            with contextlib.suppress(RingLookupError):
                call()


@pytest.mark.parametrize("seed", range(4))
def test_fuzz_only_decode_errors(seed: int) -> None:
    rng = random.Random(seed)
    decoded = rejected = 0
    for _ in range(4000):
        valid, decoder = rng.choice(DECODERS)
        data = _mutate(rng, valid)
        try:
            result = decoder(data)
        except DskitDecodeError:
            rejected += 1
            continue
        decoded += 1
        if isinstance(result, Desc):
            _use(result)
        state = decode_push_pull_state(_mutate(rng, STATE))  # never raises
        for pair in state.pairs:
            assert isinstance(pair, KeyValuePair)
    assert decoded > 100
    assert rejected > 100


def test_named_hostile_inputs() -> None:
    bad_md5 = bytearray(PACKET)
    bad_md5[-1] ^= 0xFF
    cases: list[tuple[Callable[[bytes], object], bytes]] = [
        (decode_packet, b""),
        (decode_packet, b"G"),  # an HTTP request on the gossip port
        (decode_packet, b"\x02"),  # a stream is not a packet
        (decode_packet, b"\x01"),
        (decode_packet, b"\x01\x10127.0.0.1"),  # address cut short
        (decode_packet, b"\x01\x00" + b"\x00" * 15),  # no room for the digest
        (decode_packet, bytes(bad_md5)),
        (decode_kv_pair, b"\x0a\xff\xff\xff\xff\x0f"),  # lying length
        (decode_kv_pair, b"\x12\x05ab"),
        (decode_kv_pair, b"\x0b"),  # wire type 3 (groups)
        (decode_desc, b"\x0a\x05\x0a\x01a\x12\xff\x01"),  # lying nested length
        (decode_desc, b"\x0a\x02\x10\x80"),  # a varint cut short inside an entry
        (
            lambda d: decode_broadcast(d, {RING_CODEC_ID}),
            encode_kv_pair(KeyValuePair("k", b"", "unknown-codec")),
        ),
        (
            lambda d: decode_broadcast(d, {RING_CODEC_ID}),
            encode_kv_pair(KeyValuePair("", VALUE, RING_CODEC_ID)),
        ),
        (snappy_decode, b"\xff\xff\xff\xff\x0f"),  # claims 4 GiB
        (snappy_decode, b"\x05\x00"),  # claims more than it holds
        (snappy_decode, b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80"),  # length overflows
        (snappy_decode, b""),
        (_ring_value, b"\x00\x01"),
        (_ring_value, b"\x02\x04\x0a\xff"),  # valid snappy, broken protobuf inside
        (_compressed, b"\xc1"),
        (_compressed, b"\x92\x01\x02"),
        (_compressed, b"\x82\xa4Algo\x01\xa3Buf\xa2\xff\xff"),
        (_compressed, b"\x82\xa4Algo\xcd\x01\x00\xa3Buf\xa0"),
    ]
    for decoder, data in cases:
        with pytest.raises(DskitDecodeError):
            decoder(data)
    with pytest.raises(DskitDecodeError):
        connection_type(ord("G"))
    truncated = decode_push_pull_state(STATE[:-3])
    assert truncated.error is not None
    assert [p.key for p in truncated.pairs] == ["collectors/ring"]
    lying = decode_push_pull_state(b"\xff\xff\xff\xff" + STATE)
    assert lying.pairs == ()
    assert lying.error is not None
    assert decode_desc(encode_desc(Desc({"x": InstanceDesc(state=InstanceState.LEFT)}))) == Desc(
        {"x": InstanceDesc(state=InstanceState.LEFT)}
    )


def _uvarint_len(data: bytes) -> int | None:
    # golang/snappy decodedLen, byte by byte: binary.Uvarint, then at most 2^32-1.
    value = 0
    for i, byte in enumerate(data[:10]):
        if i == 9 and byte > 1:
            return None
        value |= (byte & 0x7F) << (7 * i)
        if byte < 0x80:
            return value if value <= 0xFFFFFFFF else None
    return None


def test_snappy_length_headers_read_as_golang_snappy_reads_them() -> None:
    # Every header of one or two bytes (a heartbeat's value has two), then longer ones.
    heads = [bytes([a]) for a in range(256)]
    heads += [bytes([a, b]) for a in range(256) for b in (0, 1, 0x7F, 0x80, 0xFF)]
    heads += [h + b"\x01" for h in heads]
    heads += [b"\x80" * 9 + b"\x01", b"\xff" * 4 + b"\x0f", b"\xff" * 4 + b"\x10"]
    for head in heads:
        want = _uvarint_len(head)
        if want is None:
            with pytest.raises(DskitDecodeError):
                snappy_decoded_len(head)
        else:
            assert snappy_decoded_len(head) == want, head
