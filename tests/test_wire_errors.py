"""Bad input, limits and the less travelled paths: each fails with a DecodeError that says why."""

from __future__ import annotations

import contextlib
import tracemalloc
from collections.abc import Callable

import pytest

from trio_gossip.wire import (
    Ack,
    Alive,
    Err,
    Keyring,
    Nack,
    Ping,
    PushNodeState,
    PushPull,
    StreamDecoder,
    Suspect,
    User,
    decode_message,
    decode_packet,
    decode_packet_lenient,
    decode_stream,
    encode_message,
    encode_packet,
    encode_stream,
    make_compounds,
    trace_packet,
    trace_stream,
)
from trio_gossip.wire.codec import pack
from trio_gossip.wire.crypto import decrypt_payload, encrypt_payload
from trio_gossip.wire.errors import ConfigError, DecodeError
from trio_gossip.wire.lzw import lzw_compress, lzw_decompress
from trio_gossip.wire.packet import add_crc, add_label, compress_message, make_compound
from trio_gossip.wire.stream import REMOTE_ENCRYPTED, REMOTE_NOT_ENCRYPTED

PING = Ping(1, "node-b")
PING_BYTES = encode_message(PING)
SUSPECT = Suspect(3, "node-b", "node-a")
KEY = bytes(range(32))


def body(kind: int, fields: dict[str, object]) -> bytes:
    return bytes((kind,)) + pack(fields)


# --- message bodies -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty message"),
        (b"\x63", "unknown message type 99"),
        (b"\x07", "container"),
        (body(6, {"Nodes": 0}), "only valid on a stream"),
        (b"\x00", "ping: invalid msgpack body"),
        (b"\x00\x93\x01\x02\x03", "ping: body is list"),
        (body(0, {"SeqNo": "one"}), "ping.SeqNo: expected uint32, got raw string b'one'"),
        (body(0, {"SeqNo": -1}), "ping.SeqNo: expected uint32, got int -1"),
        (body(0, {"SeqNo": 1 << 32}), "ping.SeqNo: expected uint32"),
        (body(0, {"SeqNo": True}), "ping.SeqNo: expected uint32, got bool"),
        (body(0, {"SeqNo": 1.0}), "ping.SeqNo: expected uint32, got float"),
        (body(0, {"Node": 5}), "ping.Node: expected string, got int 5"),
        (body(4, {"Port": 70000}), "alive.Port: expected uint16"),
        # go-msgpack v2 reads []byte from an array of ints 0..255 (and so do we); others not:
        (body(4, {"Meta": [1, 256]}), "alive.Meta: expected bytes, got list"),
        (body(4, {"Meta": ["x"]}), "alive.Meta: expected bytes, got list"),
        (body(1, {"Nack": 1}), "indirectPing.Nack: expected bool, got int"),
        (b"\x00\x81\x01\x02", "ping: invalid msgpack body"),  # int map key
        (b"\x00" + b"\x91" * 1000 + b"\x00", "ping: body is list of 1 items"),
        (b"\x00\x81\xa4Node" + b"\x91" * 1010 + b"\xc0", "ping.Node: expected string, got list"),
        (b"\x00" + b"\x91" * 5000 + b"\x00", r"ping: invalid msgpack body \(StackError\)"),
        (
            body(0, {"SeqNo": b"x" * 1000}),
            r"^ping.SeqNo: expected uint32, got raw string b'x{32}'\.\.\.$",
        ),
    ],
)
def test_bad_bodies_say_what_is_wrong(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode_message(data)


def test_go_decoding_leniency() -> None:
    # missing keys and nil take Go's zero values; unknown keys and trailing bytes are ignored
    assert decode_message(body(0, {"SeqNo": 9, "Extra": [1, 2]}) + b"junk") == Ping(9, "")
    assert decode_message(body(4, {"Node": None, "Meta": None})) == Alive(0, "", b"", 0, None, b"")
    # signed int forms (go-msgpack v2) and bin for bytes are accepted
    signed = b"\x02\x82\xa5SeqNo\xd2\x00\x01\x11\x70\xa7Payload\xc4\x02hi"
    assert decode_message(signed) == Ack(70000, b"hi")
    # a name that is not UTF-8 survives the round trip
    odd = Suspect(1, b"\xff\xfe".decode("utf-8", "surrogateescape"), "a")
    assert decode_message(encode_message(odd)) == odd
    assert b"\xa2\xff\xfe" in encode_message(odd)


@pytest.mark.parametrize(
    "message",
    [Ping(-1), Ping(1 << 32), Nack(2**40), Alive(1, "a", b"", 1 << 16, None, b"")],
)
def test_encoding_out_of_range_is_refused(message: object) -> None:
    with pytest.raises(ValueError, match="must be a uint"):
        encode_message(message)  # type: ignore[arg-type]


def test_stream_only_messages_are_not_packet_messages() -> None:
    with pytest.raises(TypeError):
        encode_message(Err("x"))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        encode_stream(SUSPECT)


# --- compound, compress, CRC, label ---------------------------------------------------------------


def test_make_compounds_splits_and_leaves_singles_bare() -> None:
    assert make_compounds([]) == []
    assert make_compounds([PING_BYTES]) == [PING_BYTES]
    packets = make_compounds([PING_BYTES] * 256)
    assert [p[:2] for p in packets] == [b"\x07\xff", PING_BYTES[:2]]
    assert len(make_compounds([PING_BYTES] * 510)) == 2
    with pytest.raises(ValueError, match="empty"):
        make_compound([b""])
    with pytest.raises(ValueError, match="255"):
        encode_packet([PING] * 256)
    with pytest.raises(ValueError, match="at least one"):
        encode_packet([])


def test_compound_framing_errors() -> None:
    with pytest.raises(DecodeError, match="missing part count"):
        decode_packet(b"\x07")
    with pytest.raises(DecodeError, match="3 parts need a 6-byte length table"):
        decode_packet(b"\x07\x03\x00\x05")
    truncated = make_compound([PING_BYTES, PING_BYTES])[:-3]
    with pytest.raises(DecodeError, match="1 of 2 parts truncated"):
        decode_packet(truncated)
    lenient = decode_packet_lenient(truncated)
    assert lenient.messages == (PING,)
    assert lenient.errors == ("compound: 1 of 2 parts truncated",)


def test_lenient_keeps_good_parts_like_go() -> None:
    bad = body(3, {"Incarnation": "x"})
    packet = make_compound([PING_BYTES, bad, b"\x63", encode_message(SUSPECT)])
    with pytest.raises(DecodeError, match=r"compound\[1\] > suspect.Incarnation"):
        decode_packet(packet)
    result = decode_packet_lenient(packet)
    assert result.messages == (PING, SUSPECT)
    assert len(result.errors) == 2
    assert result.errors[1] == "compound[2] > unknown message type 99"


def test_nesting_and_message_count_are_bounded() -> None:
    data = PING_BYTES
    for _ in range(8):
        data = make_compound([data])
    assert decode_packet(data) == [PING]
    with pytest.raises(DecodeError, match="more than 8 nested"):
        decode_packet(make_compound([data]))
    many = make_compound([make_compound([b"\x08"] * 255)] * 17)  # 4335 tiny user messages
    with pytest.raises(DecodeError, match="more than 4096 messages"):
        decode_packet(many)
    with pytest.raises(DecodeError, match="more than 4096 messages"):
        decode_packet_lenient(many)
    assert len(trace_packet(many)) == 4096


def test_compression_is_kept_only_if_smaller() -> None:
    single = encode_packet([PING], compress=True)
    assert single == PING_BYTES  # a small ping does not shrink
    gossip = [
        Alive(i, f"node-{i}", b"\x0a\x00\x00\x01", 7946, b"\xff\x80", b"\x01" * 6)
        for i in range(10)
    ]
    packed = encode_packet(gossip, compress=True)
    assert packed[0] == 9
    assert len(packed) < len(make_compound([encode_message(m) for m in gossip]))
    assert decode_packet(packed) == gossip


def test_compress_errors() -> None:
    with pytest.raises(DecodeError, match="unknown compression algorithm 1"):
        decode_packet(b"\x09" + pack({"Algo": 1, "Buf": lzw_compress(PING_BYTES)}))
    with pytest.raises(DecodeError, match="decompressed payload is empty"):
        decode_packet(compress_message(b""))
    with pytest.raises(DecodeError, match="without an EOF code"):
        decode_packet(b"\x09" + pack({"Algo": 0, "Buf": lzw_compress(PING_BYTES)[:-2]}))


def test_decompression_bomb_stops_at_the_packet_budget() -> None:
    bomb = compress_message(b"\x08" + bytes(1_100_000))
    assert len(bomb) < 4096
    with pytest.raises(DecodeError, match="exceeds the limit of 1048576 bytes"):
        decode_packet(bomb)
    assert lzw_decompress(lzw_compress(bytes(1_100_000)), 1_100_000) == bytes(1_100_000)


def test_lzw_rejects_codes_past_the_table() -> None:
    # clear, then code 300 (nothing defined yet) at 9 bits
    bits = 256 | (300 << 9)
    with pytest.raises(DecodeError, match="refers to an empty table"):
        lzw_decompress(bits.to_bytes(3, "little"), 100)
    bits = 256 | (ord("a") << 9) | (400 << 18)  # 'a', then 400 while 258 is next
    with pytest.raises(DecodeError, match="invalid LZW code 400"):
        lzw_decompress(bits.to_bytes(4, "little"), 100)


def test_crc() -> None:
    good = add_crc(PING_BYTES)
    assert decode_packet(good) == [PING]
    bad = good[:1] + bytes([good[1] ^ 1]) + good[2:]
    with pytest.raises(DecodeError, match="CRC mismatch"):
        decode_packet(bad)
    with pytest.raises(DecodeError, match="hasCrc"):  # too short to be a CRC header
        decode_packet(b"\x0c\x00\x00")
    with pytest.raises(DecodeError, match="compound\\[0\\] > hasCrc"):  # only outermost
        decode_packet(make_compound([good]))


def test_labels() -> None:
    packet = encode_packet([PING], label=b"blue")
    assert packet[:6] == b"\xf4\x04blue"
    assert decode_packet(packet, label=b"blue") == [PING]
    with pytest.raises(DecodeError, match="does not match"):
        decode_packet(packet, label=b"green")
    with pytest.raises(DecodeError, match="does not match"):
        decode_packet(PING_BYTES, label=b"blue")
    with pytest.raises(DecodeError, match="empty label"):
        decode_packet(b"\xf4\x00" + PING_BYTES)
    with pytest.raises(DecodeError, match="only 1 follow"):
        decode_packet(b"\xf4\x05a")
    with pytest.raises(ConfigError, match="255"):
        encode_packet([PING], label=b"x" * 256)
    assert add_label(PING_BYTES, b"") == PING_BYTES


# --- encryption -------------------------------------------------------------------------------


def test_layer_order_is_gos() -> None:
    keyring = Keyring([KEY])
    gossip = [SUSPECT] * 8
    packet = encode_packet(gossip, keyring=keyring, label=b"lbl", compress=True, crc=True)
    assert packet[:6] == b"\xf4\x03lbl\x01"  # label, then encryption version 1
    inner = decrypt_payload(keyring, packet[5:], b"lbl")  # the label is the associated data
    assert inner[0] == 0x0C  # CRC inside the encryption
    assert inner[5] == 0x09  # compress inside the CRC
    assert decode_packet(packet, keyring=keyring, label=b"lbl") == gossip


def test_encryption_errors() -> None:
    keyring = Keyring([KEY])
    sealed = encode_packet([PING], keyring=keyring)
    with pytest.raises(DecodeError, match="no installed key"):
        decode_packet(sealed, keyring=Keyring([bytes(16)]))
    with pytest.raises(DecodeError, match="unsupported encryption version 2"):
        decrypt_payload(keyring, b"\x02" + bytes(40), b"")
    with pytest.raises(DecodeError, match="too small"):
        decrypt_payload(keyring, b"\x00" + bytes(40), b"")
    with pytest.raises(DecodeError, match="empty"):
        decrypt_payload(keyring, b"", b"")
    # GossipVerifyIncoming off: plaintext is accepted from a node without the key
    assert decode_packet(PING_BYTES, keyring=keyring, verify_incoming=False) == [PING]
    with pytest.raises(DecodeError):
        decode_packet(PING_BYTES, keyring=keyring)
    # version 0 pads to the block size; a pad byte longer than the text is refused
    v0 = encrypt_payload(0, KEY, b"abc", b"")
    assert len(v0) == 1 + 12 + 16 + 16
    lying = encrypt_payload(1, KEY, bytes(15) + b"\x40", b"")
    with pytest.raises(DecodeError, match="padding"):
        decrypt_payload(keyring, b"\x00" + lying[1:], b"")


def test_keyring() -> None:
    a, b, c = bytes(16), bytes(range(24)), bytes(range(32))
    ring = Keyring([a, b], primary=c)
    assert ring.keys == (c, a, b)
    assert ring.primary_key == c
    ring.use_key(b)
    assert ring.keys == (b, c, a)
    with pytest.raises(ValueError, match="primary"):
        ring.remove_key(b)
    ring.remove_key(a)
    ring.add_key(a)
    ring.add_key(a)
    assert ring.keys == (b, c, a)
    with pytest.raises(ValueError, match="not installed"):
        ring.use_key(bytes(range(1, 17)))
    for size in (0, 8, 17, 33):
        with pytest.raises(ConfigError, match="16, 24 or 32"):
            Keyring([bytes(size)])
    with pytest.raises(ConfigError):
        Keyring([])
    assert "000" not in repr(ring)
    # rotation: what the old primary sealed still opens while it stays installed
    sealed = encrypt_payload(1, ring, b"x", b"")
    ring.use_key(a)
    assert decrypt_payload(ring, sealed, b"") == b"x"


# --- streams ----------------------------------------------------------------------------------


def push_pull(nodes: int, user_state: bytes = b"\x02" * 100) -> PushPull:
    states = tuple(
        PushNodeState(
            f"node-{i}",
            bytes((10, 0, i >> 8 & 255, i & 255)),
            7946,
            b"\xff\x80",
            i,
            0,
            b"\x01\x05\x02\x02\x05\x05",
        )
        for i in range(nodes)
    )
    return PushPull(False, states, user_state)


def test_stream_byte_by_byte() -> None:
    message = push_pull(5)
    for compress in (False, True):
        data = encode_stream(message, compress=compress)
        decoder = StreamDecoder()
        results = [decoder.feed(data[i : i + 1]) for i in range(len(data))]
        assert results[-1] == message
        assert results[:-1] == [None] * (len(data) - 1)
        assert decoder.done
        assert decoder.feed(b"more") is None  # one message per direction; the rest is ignored
        decoder.eof()


def test_big_push_pull_in_64k_chunks() -> None:
    message = push_pull(10000, b"\x02" * 300_000)
    for compress in (False, True):
        data = encode_stream(message, compress=compress)
        assert len(data) > (100_000 if compress else 1_000_000)
        decoder = StreamDecoder()
        chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)]
        results = [decoder.feed(chunk) for chunk in chunks]
        assert results[-1] == message
        assert results.count(None) == len(chunks) - 1


def test_stream_eof() -> None:
    data = encode_stream(push_pull(3), compress=False)
    decoder = StreamDecoder()
    decoder.eof()  # nothing at all: a clean close
    assert decoder.feed(data[:-10]) is None
    with pytest.raises(DecodeError, match=r"truncated after \d+ bytes: waiting for 10 more raw"):
        decoder.eof()
    with pytest.raises(DecodeError, match="already failed"):
        decoder.feed(data[-10:])
    decoder = StreamDecoder()
    decoder.feed(encode_stream(PING)[:5])
    with pytest.raises(DecodeError, match="compress message"):
        decoder.eof()


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"Join": True, "Nodes": (1 << 20) + 1, "UserStateLen": 0}, "node count 1048577"),
        ({"Join": True, "Nodes": -1, "UserStateLen": 0}, "node count -1"),
        ({"Join": True, "Nodes": 0, "UserStateLen": (20 << 20) + 1}, "user data length"),
        ({"Join": "yes", "Nodes": 0, "UserStateLen": 0}, "Join: expected bool"),
    ],
)
def test_push_pull_header_limits(fields: dict[str, object], reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        StreamDecoder().feed(body(6, fields))


def test_stream_framing_errors() -> None:
    with pytest.raises(DecodeError, match="suspect is not a valid stream message"):
        decode_stream(encode_message(SUSPECT))
    with pytest.raises(DecodeError, match="compress is not a valid stream message"):
        decode_stream(compress_message(compress_message(encode_message(PING))))
    bad = body(6, {"Join": False, "Nodes": 2, "UserStateLen": 0})
    with pytest.raises(DecodeError, match="node state 1: Port"):
        decode_stream(bad + pack({"Name": "a"}) + pack({"Port": -5}))
    frame = b"\x0a" + (21 << 20).to_bytes(4, "big")
    with pytest.raises(DecodeError, match="exceeds 20971520"):
        StreamDecoder(keyring=Keyring([KEY])).feed(frame)
    with pytest.raises(DecodeError, match="unexpected label header"):
        decode_stream(encode_stream(PING, label=b"x", write_label=True))


def test_stream_encryption_and_labels() -> None:
    keyring = Keyring([KEY])
    data = encode_stream(PING, keyring=keyring, label=b"lbl", write_label=True)
    assert data[:5] == b"\xf4\x03lbl"
    assert decode_stream(data, keyring=keyring, label=b"lbl", accept_label_header=True) == PING
    with pytest.raises(DecodeError, match="does not match"):
        decode_stream(data, keyring=keyring, label=b"red", accept_label_header=True)
    with pytest.raises(DecodeError, match="does not match"):  # listener expects a label
        decode_stream(encode_stream(PING), label=b"lbl", accept_label_header=True)
    # the reply carries no header, but the label is still the associated data
    reply = encode_stream(Ack(1), keyring=keyring, label=b"lbl")
    assert decode_stream(reply, keyring=keyring, label=b"lbl") == Ack(1)
    with pytest.raises(DecodeError, match="no installed key"):
        decode_stream(reply, keyring=keyring)
    with pytest.raises(DecodeError, match=REMOTE_ENCRYPTED):
        decode_stream(reply)
    with pytest.raises(DecodeError, match=REMOTE_NOT_ENCRYPTED):
        decode_stream(encode_stream(PING), keyring=keyring)
    assert decode_stream(encode_stream(PING), keyring=keyring, verify_incoming=False) == PING


# --- lying length fields must not make the decoder allocate ---------------------------------------


def peak_allocation(action: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        with contextlib.suppress(DecodeError):
            action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    "data",
    [
        body(6, {"Join": True, "Nodes": 1 << 20, "UserStateLen": 20 << 20}),
        b"\x08" + pack({"UserMsgLen": 20 << 20}) + b"abc",
        b"\x0a" + (20 << 20).to_bytes(4, "big") + b"\x01" * 100,
        b"\x09\x82\xa4Algo\x00\xa3Buf\xdb\xff\xff\xff\xff" + b"x" * 100,
        b"\x00\xdf\xff\xff\xff\xff",
        b"\x00\x81\xa4Node\xdb\x7f\xff\xff\xff",
    ],
)
def test_lying_lengths_do_not_allocate(data: bytes) -> None:
    def stream() -> None:
        decoder = StreamDecoder(keyring=Keyring([KEY]), verify_incoming=False)
        if decoder.feed(data) is None:
            decoder.eof()

    assert peak_allocation(stream) < 256 * 1024
    assert peak_allocation(lambda: decode_packet(data)) < 256 * 1024


# --- tracing ----------------------------------------------------------------------------------


def test_trace_reports_per_part() -> None:
    packet = add_crc(
        make_compound([PING_BYTES, b"\x63", compress_message(encode_message(SUSPECT))])
    )
    traced = trace_packet(packet)
    assert [t.path for t in traced] == [
        ("hasCrc", "compound[0]", "ping"),
        ("hasCrc", "compound[1]", "unknown message type 99"),
        ("hasCrc", "compound[2]", "compress", "suspect"),
    ]
    assert [t.message for t in traced] == [PING, None, SUSPECT]
    assert traced[1].error == "unknown message type 99"
    assert traced[0].raw == PING_BYTES


def test_trace_label_mismatch_and_missing_key() -> None:
    keyring = Keyring([KEY])
    packet = encode_packet([PING], keyring=keyring, label=b"lbl")
    traced = trace_packet(packet, keyring=keyring)
    assert "is not ours" in str(traced[0].error)
    assert traced[1].path == ("hasLabel", "encrypt", "ping")
    assert traced[1].message == PING
    unkeyed = trace_packet(encode_packet([PING], keyring=keyring))
    assert unkeyed[-1].message is None
    assert "may be encrypted" in str(unkeyed[-1].error)
    # with a key, a plaintext packet is still shown
    assert trace_packet(PING_BYTES, keyring=keyring)[0].message == PING
    assert trace_packet(b"")[0].error == "empty message: no type byte"


def test_trace_stream() -> None:
    keyring = Keyring([KEY])
    traced = trace_stream(encode_stream(Ack(2), keyring=keyring), keyring=keyring)
    assert traced[0].path == ("encrypt", "compress", "ack")
    assert traced[0].message == Ack(2)
    failed = trace_stream(encode_stream(push_pull(2))[:-4])
    assert failed[0].path == ("compress",)
    assert "truncated" in str(failed[0].error)
    assert trace_stream(encode_stream(User(b"x"), keyring=keyring))[0].error == REMOTE_ENCRYPTED


def test_size_limits() -> None:
    with pytest.raises(DecodeError, match="exceeds 65536"):
        decode_packet(make_compound([b"\x08" + bytes(40000), b"\x08" + bytes(40000)]))
    data = encode_stream(push_pull(50))
    assert StreamDecoder(max_size=100_000).feed(data) == push_pull(50)
    with pytest.raises(DecodeError, match="exceeds the limit of 1000 bytes"):
        StreamDecoder(max_size=1000).feed(data)
    with pytest.raises(DecodeError, match="size limit"):
        StreamDecoder(max_size=1000).feed(encode_stream(push_pull(50), compress=False))
    decoder = StreamDecoder(max_size=1000)
    plain = encode_stream(push_pull(50), compress=False)
    for i in range(0, 1000, 100):  # small chunks: the Unpacker alone would not notice
        assert decoder.feed(plain[i : i + 100]) is None
    with pytest.raises(DecodeError, match="exceeds the size limit of 1000"):
        decoder.feed(plain[1000:1400])


def test_trace_labels_are_associated_data_as_sent() -> None:
    keyring = Keyring([KEY])
    unlabelled = encode_packet([PING], keyring=keyring)  # a 0.2.2 node: no label, empty AAD
    traced = trace_packet(unlabelled, keyring=keyring, label=b"lbl")
    assert "has no label" in str(traced[0].error)
    assert traced[1].message == PING
    labelled = encode_packet([PING], label=b"lbl")  # plaintext but labelled, traced with a key
    assert [t.message for t in trace_packet(labelled, keyring=keyring, label=b"lbl")] == [PING]
