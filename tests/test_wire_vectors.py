"""The shared Go vectors: every one decodes to its documented fields and re-encodes to its bytes."""

from __future__ import annotations

import hashlib
from typing import Any

import msgpack
import pytest
from vectors_support import (
    VECTORS,
    capture_key,
    captured_names,
    load_captured,
    synthetic_vectors,
)

from trio_gossip.wire import (
    Ack,
    Alive,
    Dead,
    Err,
    IndirectPing,
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
    decode_stream,
    encode_message,
    encode_stream,
    trace_packet,
    trace_stream,
)
from trio_gossip.wire.codec import decode_push_node_state, encode_push_node_state
from trio_gossip.wire.crypto import decrypt_payload, encrypt_payload
from trio_gossip.wire.errors import DecodeError
from trio_gossip.wire.lzw import lzw_compress, lzw_decompress
from trio_gossip.wire.packet import (
    add_crc,
    add_label,
    compress_message,
    decompress_body,
    make_compound,
    split_compound,
)
from trio_gossip.wire.stream import decode_stream_body, encode_stream_body

SYNTHETIC = {v["name"]: v for v in synthetic_vectors()}
CAPTURE_KEY = capture_key()

LOCALHOST = b"\x7f\x00\x00\x01"
VSN_DEFAULT = bytes.fromhex("010502000000")
PING_MIN = Ping(seq_no=1, node="node-b")
PING_FULL = Ping(42, "node-b", LOCALHOST, 7946, "node-a")
SUSPECT = Suspect(3, "node-b", "node-a")

# The fields each synthetic message vector documents (synthetic.json descriptions).
EXPECTED_PACKET_MESSAGES: dict[str, object] = {
    "ping_min": PING_MIN,
    "ping_full": PING_FULL,
    "indirect_ping": IndirectPing(300, LOCALHOST, 7946, "node-c", True, LOCALHOST, 7947, "node-a"),
    "ack_nil_payload": Ack(42, None),
    "ack_empty_payload": Ack(42, b""),
    "ack_payload": Ack(70000, b"hi"),
    "nack": Nack(5),
    "suspect": SUSPECT,
    "dead_left": Dead(4, "node-b", "node-b"),
    "alive_ip4_nil_meta": Alive(1, "node-a", LOCALHOST, 7946, None, VSN_DEFAULT),
    "alive_ip16_meta": Alive(
        200,
        "node-a",
        bytes.fromhex("00000000000000000000ffff0a000001"),
        7946,
        b"role=web",
        bytes.fromhex("010502020504"),
    ),
    "suspect_long_name": Suspect(1, "x" * 40, "a"),
}


def vector(name: str) -> bytes:
    return bytes.fromhex(SYNTHETIC[name]["hex"])


def test_vector_files_are_present() -> None:
    assert len(SYNTHETIC) == 43
    assert len(captured_names()) == 64


# --- synthetic: message bodies ---------------------------------------------------------------


MESSAGE_VECTORS = [
    (name, twin)
    for name in sorted(EXPECTED_PACKET_MESSAGES)
    for twin in (name, f"{name}_v2")
    if twin in SYNTHETIC
]


@pytest.mark.parametrize(("name", "twin"), MESSAGE_VECTORS)
def test_synthetic_message_decodes_and_reencodes(name: str, twin: str) -> None:
    data = vector(twin)  # the go-msgpack v2 twins are byte-identical for these
    message = decode_message(data)
    assert message == EXPECTED_PACKET_MESSAGES[name]
    assert encode_message(message) == data
    assert decode_packet(data) == [message]


def test_err_vector() -> None:
    data = vector("err")
    assert decode_stream_body(data) == Err("boom")
    assert encode_stream_body(Err("boom")) == data
    with pytest.raises(DecodeError, match="only valid on a stream"):
        decode_message(data)


def test_stream_user_vector() -> None:
    data = vector("stream_user_msg")
    assert decode_stream(data) == User(b"abc")
    assert encode_stream(User(b"abc"), compress=False) == data
    assert decode_message(data) == User(data[1:])  # on packets the same byte is raw user data


def test_push_pull_header_and_one_node_awaits_its_user_state() -> None:
    data = vector("pushpull_header_and_one_node")
    state = PushNodeState("node-a", LOCALHOST, 7946, None, 1, 0, VSN_DEFAULT)
    decoder = StreamDecoder()
    assert decoder.feed(data) is None  # UserStateLen 200, none of it sent yet
    user_state = bytes(range(200))
    assert decoder.feed(user_state[:150]) is None
    assert decoder.feed(user_state[150:] + b"trailing") == PushPull(True, (state,), user_state)
    assert encode_stream(PushPull(True, (state,), user_state), compress=False) == data + user_state


def test_push_pull_v2_headers_use_signed_ints() -> None:
    state = PushNodeState("node-a", LOCALHOST, 7946, None, 1, 2, VSN_DEFAULT)
    small = vector("pushpull_header_v2")  # d1 00 c8 for UserStateLen 200
    message = decode_stream(small + encode_push_node_state(state) + b"u" * 200)
    assert message == PushPull(True, (state,), b"u" * 200)
    big = vector("pushpull_header_big_v2")  # Nodes 40000, UserStateLen 70000 as int32
    decoder = StreamDecoder()
    assert decoder.feed(big) is None
    with pytest.raises(DecodeError, match="40000 more push/pull node states"):
        decoder.eof()


def test_push_node_state_v2() -> None:
    body = vector("push_node_state_dead_v2")[1:]  # the leading ff is a dummy type byte
    state = decode_push_node_state(msgpack.unpackb(body, raw=True))
    assert state == PushNodeState("node-a", LOCALHOST, 7946, None, 1, 2, VSN_DEFAULT)
    assert encode_push_node_state(state) == body


def test_join_stream_vectors() -> None:
    compressed = vector("join_stream_compressed")
    decompressed = vector("join_stream_decompressed")
    expected = PushPull(True, (PushNodeState("node-a", LOCALHOST, 36869, None, 1, 0, VSN_DEFAULT),))
    assert decode_stream(compressed) == expected
    assert decode_stream(decompressed) == expected
    assert encode_stream(expected) == compressed
    assert encode_stream(expected, compress=False) == decompressed


# --- synthetic: framing -----------------------------------------------------------------------


def test_compound_vector() -> None:
    data = vector("compound_ping_suspect")
    assert make_compound([vector("ping_min"), vector("suspect")]) == data
    assert decode_packet(data) == [PING_MIN, SUSPECT]


def test_crc_vector() -> None:
    data = vector("crc_ping_min")
    assert add_crc(vector("ping_min")) == data
    assert decode_packet(data) == [PING_MIN]


def test_label_vector() -> None:
    data = vector("label_ping_min")
    assert add_label(vector("ping_min"), b"lbl") == data
    assert decode_packet(data, label=b"lbl") == [PING_MIN]
    with pytest.raises(DecodeError, match="label"):
        decode_packet(data)


@pytest.mark.parametrize(
    ("name", "plain"),
    [("compress_empty", b""), ("compress_64a", b"a" * 64), ("compress_ping_full", None)],
)
def test_compress_vectors(name: str, plain: bytes | None) -> None:
    data = vector(name)
    if plain is None:
        plain = vector("ping_full")
        assert decode_packet(data) == [PING_FULL]
    assert compress_message(plain) == data
    if plain:
        assert decompress_body(data[1:], 1 << 20) == plain
    else:
        assert lzw_decompress(bytes.fromhex("000302"), 10) == b""
        with pytest.raises(DecodeError, match="empty"):  # Go 0.2.2 would panic on it
            decompress_body(data[1:], 1 << 20)


def test_lzw_stress_both_directions() -> None:
    meta = SYNTHETIC["lzw_stress"]
    source = (VECTORS / meta["input_file"]).read_bytes()
    expected = (VECTORS / meta["output_file"]).read_bytes()
    assert hashlib.sha256(source).hexdigest() == meta["input_sha256"]
    assert hashlib.sha256(expected).hexdigest() == meta["output_sha256"]
    x, generated = 12345, bytearray()
    for _ in range(30000):
        x = (x * 1103515245 + 12345) % 2**32
        generated.append((x >> 16) % 16)
    assert generated == source
    assert lzw_compress(source) == expected
    assert lzw_decompress(expected, len(source)) == source
    with pytest.raises(DecodeError, match="exceeds the limit"):
        lzw_decompress(expected, len(source) - 1)


def test_lzw_accepts_a_stream_without_leading_clear() -> None:
    with_clear = lzw_compress(b"hello hello hello")
    # Dropping the 9-bit clear code at the front means shifting the whole bit string.
    bits = int.from_bytes(with_clear, "little") >> 9
    without = bits.to_bytes(len(with_clear), "little")
    assert lzw_decompress(without, 100) == b"hello hello hello"


ENCRYPTED = [name for name, v in SYNTHETIC.items() if "nonce_hex" in v]


@pytest.mark.parametrize("name", ENCRYPTED)
def test_encrypted_vectors_decrypt_and_reencrypt(name: str) -> None:
    v = SYNTHETIC[name]
    data = vector(name)
    key = bytes.fromhex(v["key_hex"])
    aad = bytes.fromhex(v["aad_hex"])
    plain = bytes.fromhex(v["plaintext_hex"])
    nonce = bytes.fromhex(v["nonce_hex"])
    payload = data[5:] if data[0] == 0x0A else data
    assert decrypt_payload(Keyring([key]), payload, aad) == plain
    sealed = encrypt_payload(v["encryption_version"], key, plain, aad, nonce)
    assert sealed == payload
    if data[0] == 0x0A:
        assert aad == data[:5]
        assert decode_stream(data, keyring=Keyring([key])) == PING_MIN
    else:
        label = (v["label"] or "").encode()
        packet = add_label(data, label)
        assert decode_packet(packet, keyring=Keyring([key]), label=label) == [PING_MIN]


def test_wrong_key_or_aad_fails() -> None:
    data = vector("encrypt_v1_packet_label_lbl")
    key = bytes.fromhex(SYNTHETIC["encrypt_v1_packet_label_lbl"]["key_hex"])
    with pytest.raises(DecodeError, match="no installed key"):
        decrypt_payload(Keyring([key]), data, b"")
    with pytest.raises(DecodeError, match="no installed key"):
        decrypt_payload(Keyring([bytes(16)]), data, b"lbl")
    # a ring with the right key anywhere in it works
    assert decrypt_payload(Keyring([bytes(16), key]), data, b"lbl") == vector("ping_min")


# --- captured vectors -------------------------------------------------------------------------

GO_FIELDS = {
    "SeqNo": "seq_no",
    "Node": "node",
    "SourceAddr": "source_addr",
    "SourcePort": "source_port",
    "SourceNode": "source_node",
    "Target": "target",
    "Port": "port",
    "Nack": "nack",
    "Payload": "payload",
    "Incarnation": "incarnation",
    "From": "from_node",
    "Addr": "addr",
    "Meta": "meta",
    "Vsn": "vsn",
    "Name": "name",
    "State": "state",
    "Error": "error",
}


def expected_value(value: Any) -> Any:
    if isinstance(value, dict) and "hex" in value:
        return bytes.fromhex(value["hex"])
    return value


def assert_fields(message: object, fields: dict[str, Any]) -> None:
    for key, value in fields.items():
        if key in GO_FIELDS:
            assert getattr(message, GO_FIELDS[key]) == expected_value(value), key


def check_captured_message(meta: dict[str, Any], data: bytes) -> None:
    kind = meta["message_type_name"]
    fields = meta["fields"]
    if kind == "pushPull":
        message = decode_stream_body(data)
        assert isinstance(message, PushPull)
        assert message.join == fields["header"]["Join"]
        assert len(message.states) == fields["header"]["Nodes"]
        assert len(message.user_state) == fields["header"]["UserStateLen"]
        assert message.user_state == bytes.fromhex(fields["user_state_hex"])
        for state, documented in zip(message.states, fields["node_states"], strict=True):
            assert_fields(state, documented)
        assert encode_stream_body(message) == data
    elif kind == "err":
        message = decode_stream_body(data)
        assert_fields(message, fields)
        assert encode_stream_body(message) == data
    else:
        message = decode_message(data)
        assert type(message).__name__.lower() == kind.lower()
        if kind == "user":
            assert message == User(data[1:])
        assert_fields(message, fields)
        assert encode_message(message) == data


def check_captured_container(name: str, meta: dict[str, Any], data: bytes) -> None:
    kind = meta["message_type_name"]
    children = [bytes.fromhex(c["hex"]) for c in meta["children"]]
    keyring = Keyring([CAPTURE_KEY])
    if kind == "compound":
        parts, truncated = split_compound(data[1:])
        assert (parts, truncated) == (children, 0)
        assert meta["fields"]["part_lengths_u16be"] == [len(p) for p in parts]
        assert make_compound(parts) == data
    elif kind == "compress":
        assert decompress_body(data[1:], 1 << 20) == children[0]
        assert compress_message(children[0]) == data
    elif kind == "hasCrc":
        assert add_crc(children[0]) == data
    elif kind == "encrypt":  # a stream frame: the AAD is its 5-byte header
        assert decrypt_payload(keyring, data[5:], data[:5]) == children[0]
        assert encrypt_payload(1, CAPTURE_KEY, children[0], data[:5], data[6:18]) == data[5:]
    elif kind == "encryptedPacket":
        assert decrypt_payload(keyring, data, b"") == children[0]
        assert encrypt_payload(1, CAPTURE_KEY, children[0], b"", data[1:13]) == data
    else:
        raise AssertionError(f"unexpected container {name}")


CONTAINERS = {"compound", "compress", "hasCrc", "encrypt", "encryptedPacket"}


@pytest.mark.parametrize("name", captured_names())
def test_captured_vector(name: str) -> None:
    meta, data = load_captured(name)
    if meta["message_type_name"] in CONTAINERS:
        check_captured_container(name, meta, data)
    else:
        check_captured_message(meta, data)


@pytest.mark.parametrize("name", captured_names())
def test_captured_payload_traces_to_documented_layering(name: str) -> None:
    meta, data = load_captured(name)
    outer = bytes.fromhex(meta["outer_payload_hex"])
    keyring = Keyring([CAPTURE_KEY]) if meta["capture"] == "encrypted.pcap" else None
    if meta["transport"] == "udp":
        traced = trace_packet(outer, keyring=keyring)
        decoded = decode_packet(outer, keyring=keyring, verify_incoming=False)
        assert decoded == [t.message for t in traced]
    else:
        # encrypted.pcap also holds node d's plaintext streams: accept those like the tracer
        traced = trace_stream(outer, keyring=keyring)
        assert decode_stream(outer, keyring=keyring, verify_incoming=False) == traced[0].message
    assert all(t.error is None for t in traced)
    layering = meta["layering_outer_to_inner"].replace("encryptedPacket", "encrypt")
    paths = [" > ".join(t.path) for t in traced]
    if meta["message_type_name"] in CONTAINERS:
        assert any(p.startswith(layering) for p in paths)
    else:
        assert layering in paths
        assert data in [t.raw for t in traced]


def test_captured_mixed_encryption_errors_match_go_texts() -> None:
    _, err1 = load_captured("err-1")
    assert decode_stream_body(err1) == Err(
        "Remote state is encrypted and encryption is not configured"
    )
    meta, _ = load_captured("err-2")
    outer = bytes.fromhex(meta["outer_payload_hex"])
    with pytest.raises(DecodeError, match="Remote state is encrypted and encryption is not conf"):
        decode_stream(outer)  # what node d saw
    plaintext_join = bytes.fromhex(load_captured("compress-4")[0]["outer_payload_hex"])
    with pytest.raises(DecodeError, match="Encryption is configured but remote state is not"):
        decode_stream(plaintext_join, keyring=Keyring([CAPTURE_KEY]))
