"""Byte fields written as msgpack arrays of small ints.

go-msgpack v2 (memberlist >= v0.5.1) decodes a ``[]byte`` field from a msgpack array of
integers 0..255 as well as from a raw string; its encoder never writes one, but any other
encoder may (a msgpack library with no bin/str distinction for byte slices, for instance), and
Go memberlist accepts what it receives. The first test shows a live Go v0.7.0 node taking an
alive whose Addr, Meta and Vsn are such arrays; the others show trio_gossip.wire reading the
same bytes (``wire/codec.py``, ``get_bytes``), and refusing arrays that are not bytes.
"""

from __future__ import annotations

import socket
from pathlib import Path

import msgpack
import pytest
from interop.go_peer import Timing, go_peers
from interop.trio_side import eventually, run

from trio_gossip.wire import Alive, DecodeError, PushPull, decode_message, decode_stream

ADDR, META, VSN = [127, 0, 0, 1], [1, 2, 255], [1, 5, 2, 0, 0, 0]


def alive_with_arrays(name: str, port: int) -> bytes:
    body = {"Addr": ADDR, "Incarnation": 1, "Meta": META, "Node": name, "Port": port, "Vsn": VSN}
    return b"\x04" + msgpack.packb(body, use_bin_type=False)


@pytest.mark.interop
async def test_go_v070_accepts_byte_fields_as_int_arrays(tmp_path: Path) -> None:
    with go_peers(tmp_path) as peers:
        go = await run(lambda: peers.start(timing=Timing(profile="local")))
        host, port = go.nodes["go-0"]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            fake_port = sock.getsockname()[1]
            sock.sendto(alive_with_arrays("arrays", fake_port), (host, port))

        async def accepted() -> dict[str, object] | None:
            return (await run(go.members, "go-0")).get("arrays")

        await eventually(accepted, 5.0, "go-0 to accept the alive")
        member = (await run(go.members, "go-0"))["arrays"]
        assert member["addr"] == "127.0.0.1"
        assert member["meta"] == bytes(META).hex()
        assert member["vsn"] == VSN


def test_packet_message_byte_fields_as_int_arrays() -> None:
    msg = decode_message(alive_with_arrays("arrays", 7946))
    assert msg == Alive(1, "arrays", bytes(ADDR), 7946, bytes(META), bytes(VSN))


def test_push_pull_node_state_byte_fields_as_int_arrays() -> None:
    header = {"Join": True, "Nodes": 1, "UserStateLen": 0}
    state = {
        "Addr": ADDR,
        "Incarnation": 1,
        "Meta": META,
        "Name": "arrays",
        "Port": 7946,
        "State": 0,
        "Vsn": VSN,
    }
    data = b"\x06" + msgpack.packb(header) + msgpack.packb(state)
    msg = decode_stream(data)
    assert isinstance(msg, PushPull)
    assert msg.states[0].addr == bytes(ADDR)
    assert msg.states[0].vsn == bytes(VSN)


def test_int_arrays_out_of_byte_range_stay_refused() -> None:
    body = {
        "Addr": [127, 0, 0, 256],
        "Incarnation": 1,
        "Meta": None,
        "Node": "x",
        "Port": 1,
        "Vsn": VSN,
    }
    with pytest.raises(DecodeError):
        decode_message(b"\x04" + msgpack.packb(body))
