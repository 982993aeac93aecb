"""Push/pull node states are stepped over and decoded from their bytes, remembered by them
(wire/push_entries.py): what that must keep is every answer the full decode gave."""

from __future__ import annotations

import msgpack
import pytest

from trio_gossip.wire import DecodeError
from trio_gossip.wire.messages import PushNodeState, PushPull
from trio_gossip.wire.push_entries import KNOWN_ENTRIES, decode_push_entry
from trio_gossip.wire.stream import StreamDecoder, decode_stream_body, encode_stream_body

VSN = bytes([1, 5, 5, 0, 0, 0])


def _states(n: int, incarnation: int = 1) -> tuple[PushNodeState, ...]:
    return tuple(PushNodeState(f"n{i}", bytes([10, 0, 0, i]), 7946, None, incarnation, 0, VSN)
                 for i in range(n))  # fmt: skip


def _entry(**fields: object) -> bytes:
    body: dict[str, object] = {"Name": "n9", "Addr": bytes([10, 0, 0, 9]), "Port": 7946,
                               "Meta": None, "Incarnation": 1, "State": 0, "Vsn": VSN}  # fmt: skip
    body.update(fields)
    return msgpack.packb(body)


def test_the_same_bytes_decode_once_to_one_shared_value() -> None:
    raw = _entry(Name="shared-once")
    first = decode_push_entry(raw, 0)
    assert KNOWN_ENTRIES[raw] is first
    assert decode_push_entry(bytes(raw), 7) is first
    assert first == PushNodeState("shared-once", bytes([10, 0, 0, 9]), 7946, None, 1, 0, VSN)


def test_a_changed_entry_is_not_taken_for_the_one_remembered() -> None:
    message = PushPull(False, _states(20), b"")
    newer = PushPull(False, _states(20, incarnation=2), b"")
    assert decode_stream_body(encode_stream_body(message)) == message
    assert decode_stream_body(encode_stream_body(newer)) == newer


@pytest.mark.parametrize("chunk", [1, 3, 17, 4096])
def test_entries_split_across_chunks_decode_as_a_whole(chunk: int) -> None:
    message = PushPull(True, _states(40), b"user state")
    data = encode_stream_body(message)
    decoder = StreamDecoder(max_size=1 << 20)
    got = [decoder.feed(data[i : i + chunk]) for i in range(0, len(data), chunk)]
    assert [m for m in got if m is not None] == [message]


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (_entry(Port=70000), "pushPull node state 2: Port"),
        (_entry(Name=5), "pushPull node state 2: Name"),
        (msgpack.packb([1, 2]), "pushPull: node state is"),
    ],
)
def test_a_bad_entry_is_named_by_its_place(entry: bytes, reason: str) -> None:
    good = encode_stream_body(PushPull(False, _states(5), b""))
    header = msgpack.packb({"Join": False, "Nodes": 5, "UserStateLen": 0})
    entries = _split(good[1 + len(header) :])
    data = b"\x06" + header + b"".join(entries[:2]) + entry + b"".join(entries[3:])
    with pytest.raises(DecodeError) as caught:
        decode_stream_body(data)
    assert reason in str(caught.value)


def _split(entries: bytes) -> list[bytes]:
    unpacker = msgpack.Unpacker()
    unpacker.feed(entries)
    out, start = [], 0
    for _ in unpacker:
        end = unpacker.tell()
        out.append(entries[start:end])
        start = end
    return out
