"""Real Go memberlist v0.7.0 traffic (tests/vectors/memberlist-v070/vectors.json), read by
trio_gossip.wire field by field and written again byte for byte.

The vectors were captured on the wire from the Go test peer and decoded by an independent
reference decoder (capture.py there, which also regenerates them). Here trio_gossip.wire must

* decode every vector to the reference decoding, field by field;
* encode the decoded messages back, with the same layers (label, encryption, CRC, LZW
  compression, compound framing), to Go's exact bytes where Go's output is deterministic;
  where it is not (AES-GCM's random nonce; go-msgpack v2's signed forms of Go ``int`` fields
  above 127, e.g. ``d1 00 c8``, which we write unsigned), the reference decoder must read our
  bytes to the same fields Go's gave.

go-msgpack v2 also *accepts* byte fields written as arrays of small ints (its decoder does;
its encoder never writes them): tests/test_interop_go_pending_msgpack_arrays.py checks that.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from trio_gossip.wire import (
    Ack,
    Alive,
    Dead,
    Err,
    IndirectPing,
    Keyring,
    Nack,
    Ping,
    PushPull,
    Suspect,
    User,
    decode_packet,
    decode_stream,
    encode_message,
    encode_packet,
    encode_stream,
)

HERE = Path(__file__).parent / "vectors" / "memberlist-v070"
DATA = json.loads((HERE / "vectors.json").read_text())
VECTORS = DATA["vectors"]
LABEL = DATA["label"].encode()
SIGNED = {"d0", "d1", "d2", "d3"}  # msgpack int8..int64


def _reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location("memberlist_v070_capture", HERE / "capture.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REFERENCE = _reference()

# Our attribute -> Go's field name (the msgpack key), per message class.
GO_NAMES: dict[type, tuple[str, dict[str, str]]] = {
    Ping: (
        "ping",
        {
            "seq_no": "SeqNo",
            "node": "Node",
            "source_addr": "SourceAddr",
            "source_port": "SourcePort",
            "source_node": "SourceNode",
        },
    ),
    IndirectPing: (
        "indirectPing",
        {
            "seq_no": "SeqNo",
            "target": "Target",
            "port": "Port",
            "node": "Node",
            "nack": "Nack",
            "source_addr": "SourceAddr",
            "source_port": "SourcePort",
            "source_node": "SourceNode",
        },
    ),
    Ack: ("ack", {"seq_no": "SeqNo", "payload": "Payload"}),
    Nack: ("nack", {"seq_no": "SeqNo"}),
    Suspect: ("suspect", {"incarnation": "Incarnation", "node": "Node", "from_node": "From"}),
    Alive: (
        "alive",
        {
            "incarnation": "Incarnation",
            "node": "Node",
            "addr": "Addr",
            "port": "Port",
            "meta": "Meta",
            "vsn": "Vsn",
        },
    ),
    Dead: ("dead", {"incarnation": "Incarnation", "node": "Node", "from_node": "From"}),
    Err: ("err", {"error": "Error"}),
}
STATE_NAMES = {
    "name": "Name",
    "addr": "Addr",
    "port": "Port",
    "meta": "Meta",
    "incarnation": "Incarnation",
    "state": "State",
    "vsn": "Vsn",
}
OMITTED = {"source_addr": "", "source_port": 0, "source_node": ""}  # Go's omitempty zeros


def codec_args(vector: dict[str, Any]) -> tuple[Keyring | None, list[bytes], bytes]:
    run = vector["run"]
    key = DATA["keys"].get(run)
    keys = [bytes.fromhex(key)] if key else []
    return (Keyring(keys) if keys else None), keys, LABEL if "label" in run else b""


def leaves(node: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages of a decoded vector in order, through every layer."""
    if "parts" in node:
        return [leaf for part in node["parts"] for leaf in leaves(part)]
    if "inner" in node:
        return leaves(node["inner"])
    return [node]


def layers(node: dict[str, Any]) -> list[dict[str, Any]]:
    """The wrapping layers, outermost first, down to the compound or the message."""
    out = [node]
    while "inner" in node:
        node = node["inner"]
        out.append(node)
    return out


def has(vector_tree: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((n for n in layers(vector_tree) if n["layer"] == name), None)


def as_json(value: object) -> object:
    return value.hex() if isinstance(value, bytes) else value


def assert_fields(ours: object, names: dict[str, str], theirs: dict[str, Any], where: str) -> None:
    for attr, go_name in names.items():
        expected = theirs[go_name] if go_name in theirs else OMITTED.get(attr)
        got = as_json(getattr(ours, attr))
        assert got == expected, f"{where}: {go_name} is {got!r}, Go sent {expected!r}"


def check_message(ours: object, leaf: dict[str, Any], where: str) -> None:
    if leaf["layer"] == "user":
        assert isinstance(ours, User), where
        payload = leaf.get("user_msg", leaf.get("fields", {}).get("Payload"))
        assert ours.payload.hex() == payload, where
    elif leaf["layer"] == "pushPull":
        assert isinstance(ours, PushPull), where
        fields = leaf["fields"]
        assert (ours.join, len(ours.states)) == (fields["Join"], fields["Nodes"]), where
        assert ours.user_state.hex() == leaf["user_state"], where
        assert len(ours.user_state) == fields["UserStateLen"], where
        for i, (state, theirs) in enumerate(zip(ours.states, leaf["states"], strict=True)):
            assert_fields(state, STATE_NAMES, theirs["fields"], f"{where} state {i}")
    else:
        name, names = GO_NAMES[type(ours)]
        assert leaf["layer"] == name, where
        assert_fields(ours, names, leaf["fields"], where)


def decode(vector: dict[str, Any]) -> list[Any]:
    keyring, _, label = codec_args(vector)
    data = bytes.fromhex(vector["hex"])
    if vector["kind"] == "packet":
        return list(decode_packet(data, keyring=keyring, label=label))
    dialer = vector["role"] == "dialer"
    return [decode_stream(data, keyring=keyring, label=label, accept_label_header=dialer)]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_decodes_field_by_field(vector: dict[str, Any]) -> None:
    messages = decode(vector)
    expected = leaves(vector["decoded"])
    assert len(messages) == len(expected), vector["shape"]
    for i, (ours, leaf) in enumerate(zip(messages, expected, strict=True)):
        check_message(ours, leaf, f"{vector['name']} message {i}")


def encode(vector: dict[str, Any], messages: list[Any]) -> bytes:
    """Our bytes for ``messages`` with the layers the vector has."""
    keyring, _, label = codec_args(vector)
    tree = vector["decoded"]
    encrypted = has(tree, "encrypted") or has(tree, "encrypt")
    version = encrypted["version"] if encrypted else 1
    if vector["kind"] == "packet":
        return encode_packet(
            messages,
            keyring=keyring,
            label=label,
            compress=has(tree, "compress") is not None,
            crc=has(tree, "hasCrc") is not None,
            encryption_version=version,
        )
    (msg,) = messages
    return encode_stream(
        msg,
        keyring=keyring,
        label=label,
        write_label=has(tree, "hasLabel") is not None,
        compress=has(tree, "compress") is not None,
        encryption_version=version,
    )


def signed_forms(vector: dict[str, Any]) -> bool:
    forms = [leaf.get("forms", {}) for leaf in leaves(vector["decoded"])]
    forms += [s["forms"] for leaf in leaves(vector["decoded"]) for s in leaf.get("states", [])]
    return any(SIGNED & set(f.values()) for f in forms)


VOLATILE = {"hex", "nonce", "plaintext", "payload", "forms", "crc"}


def content(node: object, volatile: set[str]) -> object:
    """A reference decoding without what may differ between two correct encoders: the nonce,
    the int forms, and the bytes derived from them."""
    if isinstance(node, dict):
        return {k: content(v, volatile) for k, v in node.items() if k not in volatile}
    if isinstance(node, list):
        return [content(v, volatile) for v in node]
    return node


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_encodes_back_to_go_bytes(vector: dict[str, Any]) -> None:
    messages = decode(vector)
    ours = encode(vector, messages)
    for msg, leaf in zip(messages, leaves(vector["decoded"]), strict=True):
        if vector["kind"] == "packet":  # every packet message body is deterministic
            assert encode_message(msg).hex() == leaf["hex"], vector["name"]
    deterministic = not (has(vector["decoded"], "encrypted") or has(vector["decoded"], "encrypt"))
    if deterministic and not signed_forms(vector):
        assert ours.hex() == vector["hex"]
        return
    # Not reproducible byte for byte: the reference decoder must read ours as it read Go's.
    _, keys, label = codec_args(vector)
    if vector["kind"] == "packet":
        again = REFERENCE.packet(ours, keys)
    else:
        dialer = vector["role"] == "dialer"
        again = REFERENCE.stream(ours, keys, dialer=dialer, label=label)
    # A stream frame's associated data holds its length, which the int forms may change.
    volatile = VOLATILE | ({"aad"} if signed_forms(vector) else set())
    assert content(again, volatile) == content(vector["decoded"], volatile)
    if signed_forms(vector):
        assert ours.hex() != vector["hex"], "Go's signed int forms came out identical"
    else:
        assert len(ours) == len(vector["hex"]) // 2


def test_vectors_cover_labels_encryption_and_v2_forms() -> None:
    shapes = {(v["kind"], v["shape"]) for v in VECTORS}

    def some(kind: str, *parts: str) -> bool:
        return any(k == kind and all(p in s for p in parts) for k, s in shapes)

    for kind in ("packet", "stream"):
        assert some(kind, "hasLabel"), kind
        assert some(kind, "encrypt"), kind
        assert some(kind, "hasLabel", "encrypt"), kind
    for name in ("ping", "indirectPing", "ack", "nack", "suspect", "alive", "dead", "user"):
        assert some("packet", name), name
    for name in ("pushPull(join=True)", "pushPull(join=False)", "user", "ack", "err"):
        assert some("stream", name), name
    signed = {
        (leaf["layer"], field)
        for v in VECTORS
        for leaf in leaves(v["decoded"])
        for field, form in leaf.get("forms", {}).items()
        if form in SIGNED
    }
    assert {("pushPull", "Nodes"), ("pushPull", "UserStateLen"), ("user", "UserMsgLen")} <= signed
