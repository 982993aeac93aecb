"""Serf's internal key queries answered by an agent: byte-exact with Serf, applied to the ring."""

from __future__ import annotations

import base64
from pathlib import Path

import msgpack
import pytest

from trio_gossip.apps.agent.keyquery import KeyQueryAnswerer, decode_query
from trio_gossip.wire import Keyring
from trio_gossip.wire.errors import DecodeError

CAPTURED = Path(__file__).resolve().parents[1].parent / "shared/vectors/memberlist/captured"
K_NEW = bytes(range(16))


def _serf(name: str) -> bytes:
    """A captured memberlist user message without its 0x08 type byte: the Serf message."""
    return bytes.fromhex((CAPTURED / "vectors" / f"{name}.hex").read_text().strip())[1:]


def _captured_key() -> bytes:
    return base64.b64decode((CAPTURED / "encrypt-key.txt").read_text().strip())


def _query(name: str, flags: int = 0, payload: bytes = b"", qid: int = 9, **extra: object) -> bytes:
    body = {"Addr": b"\x7f\x00\x00\x01", "Filters": None, "Flags": flags, "ID": qid,
            "LTime": 5, "Name": name, "Payload": payload, "Port": 7946, "RelayFactor": 0,
            "SourceNode": "serf-a", "Timeout": 3_200_000_000, **extra}  # fmt: skip
    packed: bytes = msgpack.packb(dict(sorted(body.items())), use_bin_type=False)
    return b"\x04" + packed


def _key_request(key: bytes) -> bytes:
    packed: bytes = msgpack.packb({"Key": key}, use_bin_type=False)
    return b"\x07" + packed


def _text(value: object) -> object:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, list):
        return [_text(v) for v in value]
    return value


def _response(message: bytes) -> dict[str, object]:
    """A query response with its key-response payload decoded (strings as str)."""
    assert message[0] == 5
    body = {k.decode(): v for k, v in msgpack.unpackb(message[1:], raw=True).items()}
    body["From"] = _text(body["From"])
    payload = body["Payload"]
    if payload:
        assert isinstance(payload, bytes)
        assert payload[0] == 8
        inner = msgpack.unpackb(payload[1:], raw=True)
        body["Payload"] = {k.decode(): _text(v) for k, v in inner.items()}
    return body


def test_list_keys_answer_is_byte_exact_with_serf() -> None:
    answerer = KeyQueryAnswerer("a")
    answerer.keyring = Keyring([_captured_key()])
    querier, replies = answerer.answers(_serf("user-12"))  # `serf keys -list` from a
    assert querier == "a"
    assert replies == [_serf("user-11")]  # a's own answer, as captured


def test_install_use_remove_change_the_keyring_and_say_so() -> None:
    old = _captured_key()
    answerer = KeyQueryAnswerer("py-1")
    ring = answerer.keyring = Keyring([old])
    ops = [("_serf_install-key", K_NEW), ("_serf_use-key", K_NEW), ("_serf_remove-key", old)]
    for qid, (name, key) in enumerate(ops):
        _, (reply,) = answerer.answers(_query(name, payload=_key_request(key), qid=qid))
        body = _response(reply)
        assert body["From"] == "py-1"
        assert body["ID"] == qid
        assert body["Payload"] == {"Keys": None, "Message": "", "PrimaryKey": "",
                                   "Result": True}  # fmt: skip
    assert ring.keys == (K_NEW,)
    _, (reply,) = answerer.answers(_query("_serf_remove-key", payload=_key_request(K_NEW)))
    payload = _response(reply)["Payload"]
    assert isinstance(payload, dict)
    assert payload["Result"] is False
    assert "primary" in str(payload["Message"])
    assert answerer.answered == 4


def test_acks_dedup_and_what_is_not_ours() -> None:
    answerer = KeyQueryAnswerer("py-1")
    _, replies = answerer.answers(_query("_serf_ping", flags=1))
    assert [_response(r)["Flags"] for r in replies] == [1]  # an ack, nothing else
    assert answerer.answers(_query("_serf_ping", flags=1))[1] == []  # same LTime and ID
    assert answerer.answers(_query("deploy-check", flags=1, qid=2))[1] == []  # not internal
    filtered = _query("_serf_list-keys", flags=1, qid=3, Filters=[b"\x00\x91\xa1x"])
    assert answerer.answers(filtered)[1] == []
    _, replies = answerer.answers(_query("_serf_list-keys", flags=1, qid=4))
    assert [_response(r)["Flags"] for r in replies] == [1, 0]
    payload = _response(replies[1])["Payload"]
    assert payload == {"Keys": None, "Message": "Keyring is empty (encryption not enabled)",
                       "PrimaryKey": "", "Result": False}  # fmt: skip


@pytest.mark.parametrize(
    "message", [b"\x04\xc1", b"\x05\x80", b"\x04\x81\xa4Name\x01", b"\x04\x81\xa7Payload\x01"]
)
def test_bad_queries_raise_decode_error(message: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_query(message)


def test_a_bad_key_request_is_answered_with_the_reason() -> None:
    answerer = KeyQueryAnswerer("py-1")
    answerer.keyring = Keyring([K_NEW])
    _, (reply,) = answerer.answers(_query("_serf_install-key", payload=_key_request(b"short")))
    payload = _response(reply)["Payload"]
    assert isinstance(payload, dict)
    assert payload["Result"] is False
    assert "16, 24 or 32" in str(payload["Message"])
