"""Decoding and rendering of hand-made payloads: odd values, bad bytes, holes, labels."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from trio_gossip.apps.dissect.decode import decode_datagram, decode_stream, trailing_bytes
from trio_gossip.apps.dissect.pcap import Datagram
from trio_gossip.apps.dissect.reassembly import StreamDirection
from trio_gossip.apps.dissect.record import Record, count_types
from trio_gossip.apps.dissect.render import to_json, to_text
from trio_gossip.wire import (
    Ack,
    Alive,
    Keyring,
    Ping,
    PushNodeState,
    PushPull,
    Suspect,
    User,
    encode_message,
    encode_packet,
    encode_stream,
)
from trio_gossip.wire.packet import make_compound

A = ("10.0.0.1", 7946)
B = ("10.0.0.2", 7947)
KEYRING = Keyring([bytes(range(16))])


def udp(
    data: bytes, keyring: Keyring | None = None, label: bytes = b"", index: int = 0
) -> list[Record]:
    dgram = Datagram(1, 0.5, A, B, data)
    return list(decode_datagram(index, dgram, keyring=keyring, label=label))


def tcp(
    data: bytes,
    keyring: Keyring | None = None,
    label: bytes = b"",
    gap_at: int | None = None,
) -> list[Record]:
    stream = StreamDirection(0, 1, 0.5, A, B, data, True, (1,), gap_at, 10 if gap_at else 0)
    return list(decode_stream(0, stream, keyring=keyring, label=label))


def test_layers_of_a_labelled_encrypted_packet() -> None:
    ping = Ping(seq_no=7, node="b")
    data = encode_packet([ping, User(b"hi")], keyring=KEYRING, label=b"blue", crc=True)
    records = udp(data, KEYRING, b"blue")
    assert [r.layering for r in records] == [
        "hasLabel > encrypt > hasCrc > compound[0] > ping",
        "hasLabel > encrypt > hasCrc > compound[1] > user",
    ]
    assert records[0].message == ping
    assert records[0].raw == encode_message(ping)
    assert count_types(records) == {
        ("udp", name): 1 for name in ("hasLabel", "encrypt", "hasCrc", "compound", "ping", "user")
    }


def test_stream_layers_with_dialer_label() -> None:
    push = PushPull(join=True, states=(), user_state=b"\x02state")
    data = encode_stream(push, keyring=KEYRING, label=b"blue", write_label=True)
    (record,) = tcp(data, KEYRING, b"blue")
    assert record.layering == "hasLabel > encrypt > compress > pushPull"
    assert record.message == push
    assert record.direction == "client->server"


def test_garbage_datagrams_become_records() -> None:
    for data in (b"\xff", b"\x07\x05", b"\x09\x80", b"\x0c\x00\x00\x00\x00\x00", b"\x04\x93"):
        records = udp(data)
        assert records, data
        assert all(r.message is None for r in records)
        assert all(r.error for r in records), data


def test_keyless_encrypted_lookalike_is_undecodable() -> None:
    # An encrypted datagram starting 01 80 reads as an empty indirectPing map plus junk.
    (record,) = udp(b"\x01\x80" + bytes(range(40)))
    assert record.message is None
    assert record.error is not None
    assert "encrypted" in record.error


def test_trailing_bytes_inside_a_compound_are_noted() -> None:
    part = encode_message(Suspect(1, "c", "a")) + b"\x00\x00"
    records = udp(make_compound([part, encode_message(Ack(3))]))
    assert [r.note for r in records] == ["2 bytes after the message body (ignored by Go)", None]
    assert records[0].message == Suspect(1, "c", "a")
    assert "[2 bytes after" in to_text(records[0])
    assert trailing_bytes(encode_message(User(b"\x00\x01"))) == 0


def test_snap_length_problem_is_reported() -> None:
    dgram = Datagram(3, 1.0, A, B, b"\x00\x85", "captured 2 of 90 bytes (snap length)")
    (record,) = decode_datagram(0, dgram, keyring=None, label=b"")
    assert record.error == "captured 2 of 90 bytes (snap length)"


def test_truncated_stream() -> None:
    push = PushPull(join=False, states=(), user_state=b"x" * 100)
    data = encode_stream(push, compress=False)
    (record,) = tcp(data[:40])
    assert record.message is None
    assert record.error is not None
    assert "truncated" in record.error
    assert record.layering == "pushPull"


def test_stream_hole_is_reported() -> None:
    data = encode_stream(Ack(5, None))
    records = tcp(data, gap_at=len(data))
    assert records[0].message == Ack(5, None)
    assert records[1].message is None
    assert records[1].error is not None
    assert records[1].error.startswith(f"the stream has a hole at byte {len(data)}:")
    (cut,) = tcp(data[:10], gap_at=10)[:1]
    assert cut.error is not None
    assert "hole at byte 10" in cut.error


def test_encrypted_stream_without_key() -> None:
    (record,) = tcp(encode_stream(Ack(5, None), keyring=KEYRING))
    assert record.layering == "encrypt"
    assert record.error == "Remote state is encrypted and encryption is not configured"
    assert "undecodable: Remote state" in to_text(record)


def test_rendering_of_awkward_values() -> None:
    state = PushNodeState(
        name="n\udcff",  # a Go string that is not UTF-8
        addr=bytes.fromhex("20010db8000000000000000000000001"),
        port=7946,
        meta=None,
        incarnation=3,
        state=3,
        vsn=b"\x01\x05\x02\x02\x05\x05",
    )
    alive = Alive(1, "x", b"\x7f\x00", 1, b"", b"")
    (push,) = tcp(encode_stream(PushPull(False, (state,), b"")))
    (live,) = udp(encode_message(alive))
    obj = json.loads(to_json(push))
    node = obj["fields"]["Nodes"][0]
    assert node == {
        "Addr": "2001:db8::1",
        "Incarnation": 3,
        "Meta": None,
        "Name": "n\\xff",
        "Port": 7946,
        "State": "left",  # memberlist's name, as in the text, not the bare 3
        "Vsn": "010502020505",
    }
    assert obj["fields"]["UserState"] == ""
    text = to_text(push)
    assert 'Nodes[0] Addr=2001:db8::1 Incarnation=3 Meta=nil Name="n\\\\xff"' in text
    assert "State=left" in text
    live_json = json.loads(to_json(live))
    # A 2-byte address is no IP: shown as hex. An empty Meta is not nil.
    assert (live_json["fields"]["Addr"], live_json["fields"]["Meta"]) == ("7f00", "")
    assert 'Addr=7f00 Incarnation=1 Meta="" Node="x"' in to_text(live)
    assert to_text(live).startswith("#1 0.500000 udp 10.0.0.1:7946 -> 10.0.0.2:7947 alive\n")


def test_ipv6_endpoints() -> None:
    dgram = Datagram(1, 0.0, ("::1", 7946), ("fe80::2", 7947), encode_message(Ack(1)))
    (record,) = decode_datagram(0, dgram, keyring=None, label=b"")
    assert json.loads(to_json(record))["src"] == "[::1]:7946"
    assert "[::1]:7946 -> [fe80::2]:7947" in to_text(record)


def test_container_counted_once_per_payload() -> None:
    records = udp(encode_packet([Ping(1), Ack(2), Ping(3)], compress=True, crc=True))
    counts = count_types(records + udp(encode_packet([Ping(4)], crc=True), index=1))
    assert counts["udp", "hasCrc"] == 2
    assert counts["udp", "compound"] == 1
    assert counts["udp", "ping"] == 3


@given(st.binary(max_size=200), st.booleans())
def test_arbitrary_bytes_never_raise(data: bytes, with_key: bool) -> None:
    keyring = KEYRING if with_key else None
    for records in (udp(data, keyring), tcp(data, keyring) if data else []):
        for record in records:
            assert (record.message is None) == (record.error is not None)
            to_text(record)
            json.loads(to_json(record))


def test_node_states_by_name_in_json_and_text() -> None:
    def state(n: int) -> PushNodeState:
        return PushNodeState("n", b"\x7f\x00\x00\x01", 7946, None, 1, n, b"")

    push = PushPull(False, tuple(state(n) for n in range(5)), b"")
    (record,) = tcp(encode_stream(push))
    nodes = json.loads(to_json(record))["fields"]["Nodes"]
    # memberlist's state.go: StateAlive, StateSuspect, StateDead, StateLeft. A number it does
    # not name stays a number, in JSON as in the text.
    assert [n["State"] for n in nodes] == ["alive", "suspect", "dead", "left", 4]
    text = to_text(record)
    for name in ("alive", "suspect", "dead", "left", "4"):
        assert f"Port=7946 State={name} " in text
