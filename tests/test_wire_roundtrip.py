"""Property tests: encode then decode is the identity, for every message type and layering."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from lzw_support import never_clearing

from trio_gossip.wire import (
    Ack,
    Alive,
    Dead,
    Err,
    IndirectPing,
    Keyring,
    Message,
    Nack,
    PacketMessage,
    Ping,
    PushNodeState,
    PushPull,
    StreamDecoder,
    Suspect,
    User,
    decode_message,
    decode_packet,
    decode_stream,
    encode_message,
    encode_packet,
    encode_stream,
    make_compounds,
    trace_packet,
    trace_stream,
)
from trio_gossip.wire.crypto import decrypt_payload, encrypt_payload
from trio_gossip.wire.lzw import _extract, lzw_compress, lzw_decompress

u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
# Go strings are bytes: every byte string must survive, valid UTF-8 or not.
names = st.binary(max_size=40).map(lambda b: b.decode("utf-8", "surrogateescape"))
addrs = st.sampled_from([b"", b"\x7f\x00\x00\x01", bytes(16)]) | st.binary(max_size=16)
opt_bytes = st.none() | st.binary(max_size=64)
vsns = st.binary(min_size=6, max_size=6)

pings = st.builds(Ping, u32, names, addrs, u16, names)
indirect_pings = st.builds(IndirectPing, u32, addrs, u16, names, st.booleans(), addrs, u16, names)
acks = st.builds(Ack, u32, opt_bytes)
nacks = st.builds(Nack, u32)
suspects = st.builds(Suspect, u32, names, names)
alives = st.builds(Alive, u32, names, addrs, u16, opt_bytes, vsns)
deads = st.builds(Dead, u32, names, names)
users = st.builds(User, st.binary(max_size=200))
packet_messages: st.SearchStrategy[PacketMessage] = st.one_of(
    pings, indirect_pings, acks, nacks, suspects, alives, deads, users
)

node_states = st.builds(
    PushNodeState, names, addrs, u16, opt_bytes, u32, st.integers(-(2**63), 2**63 - 1), vsns
)
push_pulls = st.builds(
    PushPull, st.booleans(), st.lists(node_states, max_size=20).map(tuple), st.binary(max_size=300)
)
stream_messages: st.SearchStrategy[Message] = st.one_of(
    pings, acks, st.builds(Err, names), users, push_pulls
)

keys = st.sampled_from([16, 24, 32]).flatmap(lambda n: st.binary(min_size=n, max_size=n))
keyrings = st.none() | st.lists(keys, min_size=1, max_size=3).map(Keyring)
labels = st.binary(max_size=20)


@given(packet_messages)
def test_message_roundtrip(message: PacketMessage) -> None:
    data = encode_message(message)
    assert decode_message(data) == message
    assert encode_message(decode_message(data)) == data


@settings(max_examples=200)
@given(
    messages=st.lists(packet_messages, min_size=1, max_size=30),
    compress=st.booleans(),
    crc=st.booleans(),
    label=labels,
    keyring=keyrings,
    version=st.sampled_from([0, 1]),
)
def test_packet_roundtrip(
    *,
    messages: list[PacketMessage],
    compress: bool,
    crc: bool,
    label: bytes,
    keyring: Keyring | None,
    version: int,
) -> None:
    packet = encode_packet(
        messages,
        keyring=keyring,
        label=label,
        compress=compress,
        crc=crc,
        encryption_version=version,
    )
    assert decode_packet(packet, keyring=keyring, label=label) == messages
    traced = trace_packet(packet, keyring=keyring, label=label)
    assert [t.message for t in traced] == messages


@given(st.lists(packet_messages, min_size=1, max_size=600))
def test_compounds_split_at_255(messages: list[PacketMessage]) -> None:
    parts = [encode_message(m) for m in messages]
    packets = make_compounds(parts)
    assert len(packets) == (len(parts) + 254) // 255
    decoded = [m for packet in packets for m in decode_packet(packet)]
    assert decoded == messages


@settings(max_examples=150)
@given(
    message=stream_messages,
    compress=st.booleans(),
    label=labels,
    write_label=st.booleans(),
    keyring=keyrings,
    version=st.sampled_from([0, 1]),
    cuts=st.lists(st.integers(0, 4000), max_size=8),
)
def test_stream_roundtrip_in_chunks(
    *,
    message: Message,
    compress: bool,
    label: bytes,
    write_label: bool,
    keyring: Keyring | None,
    version: int,
    cuts: list[int],
) -> None:
    data = encode_stream(
        message,
        keyring=keyring,
        label=label,
        write_label=write_label,
        compress=compress,
        encryption_version=version,
    )
    decoder = StreamDecoder(keyring=keyring, label=label, accept_label_header=write_label)
    results = []
    start = 0
    for cut in [*sorted(c for c in cuts if c < len(data)), len(data)]:
        results.append(decoder.feed(data[start:cut]))
        start = cut
    assert results[-1] == message
    assert all(r is None for r in results[:-1])
    decoder.eof()
    assert trace_stream(data, keyring=keyring, label=label)[0].message == message
    if not write_label:
        assert decode_stream(data, keyring=keyring, label=label) == message


@settings(max_examples=200)
@given(st.binary(max_size=3000) | st.binary(max_size=8).map(lambda b: b * 700))
def test_lzw_roundtrip(data: bytes) -> None:
    assert lzw_decompress(lzw_compress(data), len(data)) == data


@given(keys, st.binary(max_size=300), st.binary(max_size=20), st.sampled_from([0, 1]))
def test_encryption_roundtrip(key: bytes, plain: bytes, aad: bytes, version: int) -> None:
    sealed = encrypt_payload(version, key, plain, aad)
    assert sealed[0] == version
    assert decrypt_payload(Keyring([bytes(32), key]), sealed, aad) == plain


@settings(max_examples=20)
@given(st.integers(0, 2**32 - 1), st.integers(20_000, 40_000))
def test_lzw_decodes_a_full_table_without_clear(seed: int, size: int) -> None:
    x, data = seed, bytearray()
    for _ in range(size):
        x = (x * 1103515245 + 12345) % 2**32
        data.append((x >> 16) % 16)
    stream = never_clearing(bytes(data), leading_clear=False)
    assert lzw_decompress(stream, size) == data


@given(st.binary(min_size=1, max_size=600), st.integers(0, 40), st.sampled_from([9, 10, 11, 12]))
def test_lzw_code_extraction_matches_a_bit_reader(data: bytes, skip: int, width: int) -> None:
    count = min(256, (len(data) * 8 - skip) // width)
    if count <= 0:
        return
    value = int.from_bytes(data, "little") >> skip
    expected = [(value >> (i * width)) & ((1 << width) - 1) for i in range(count)]
    assert _extract(data, skip, width, count) == expected
