"""``trio-gossip dissect`` on dskit's memberlist KV: its TCP framing, KV pairs and ring values.

The captures in tests/vectors/dskit are real traffic of three dskit nodes (tcpdump on the
loopback of a network namespace, see capture.py there); each has a JSON file with what the Go
side reported over its control channel during the same run, which the decoding must match.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import msgpack
import pytest

from trio_gossip.apps.cli import EXIT_OK, main
from trio_gossip.apps.dissect import dskit
from trio_gossip.apps.dissect.decode import Framing, decode_capture, decode_datagram, decode_stream
from trio_gossip.apps.dissect.pcap import Capture, Datagram, read_capture
from trio_gossip.apps.dissect.reassembly import StreamDirection
from trio_gossip.apps.dissect.record import KvEntry, Record, count_types
from trio_gossip.apps.dissect.render import to_json, to_text
from trio_gossip.wire import Ping, PushPull, User, encode_message, encode_packet, encode_stream
from trio_gossip.wire.dskit import (
    RING_CODEC_ID,
    Desc,
    InstanceDesc,
    InstanceState,
    KeyValuePair,
    encode_kv_pair,
    encode_push_pull_state,
    encode_ring_value,
    snappy_compress_message,
)
from trio_gossip.wire.dskit import encode_packet as dskit_packet

pytest.importorskip("scapy")

VECTORS = Path(__file__).parent / "vectors" / "dskit"
CAPTURES = ("lzw", "snappy")
NODE_PORTS = ("--port", "7946-7948")
CLIENT = ("127.0.0.1", 40000)
SERVER = ("127.0.0.1", 7946)


@cache
def records(name: str) -> tuple[Record, ...]:
    cap = read_capture(VECTORS / f"dskit-{name}.pcap")
    return tuple(decode_capture(cap, keyring=None, label=b""))


def truth(name: str) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads((VECTORS / f"dskit-{name}.json").read_text())
    return answer


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


# --- the real captures ------------------------------------------------------------------------


@pytest.mark.parametrize("name", CAPTURES)
def test_every_message_decodes(name: str) -> None:
    recs = records(name)
    assert len(recs) > 200
    assert [(r.frame, r.layering, r.error) for r in recs if r.error is not None] == []
    assert [(r.frame, r.kv_error) for r in recs if r.kv_error is not None] == []
    assert {r.transport for r in recs} == {"tcp"}  # dskit's transport has no UDP
    counts = count_types(recs)
    assert counts["tcp", "dskitPacket"] > 50
    assert counts["tcp", "dskitStream"] >= 10
    assert counts["tcp", "user"] > 100
    assert counts["tcp", "pushPull"] >= 20
    # The compression algorithm of grafana's memberlist fork that each run was told to use.
    snappy, lzw = counts["tcp", "compress(snappy)"], counts["tcp", "compress"]
    assert (snappy > 0, lzw > 0) == ((True, False) if name == "snappy" else (False, True))


@pytest.mark.parametrize("name", CAPTURES)
def test_framing_layers(name: str) -> None:
    addresses = {n["addr"] for n in truth(name)["nodes"]}
    assert addresses == {"127.0.0.1:7946", "127.0.0.1:7947", "127.0.0.1:7948"}
    for r in records(name):
        if r.direction == "client->server":
            assert r.path[0] in (dskit.PACKET_LAYER, dskit.STREAM_LAYER), r.layering
        else:  # the listener's reply to a stream has no type byte
            assert r.direction == "server->client"
            assert r.path[0] != dskit.PACKET_LAYER
            assert r.path[-1] == "pushPull"
        if r.path[0] == dskit.PACKET_LAYER:
            # The sender's advertised address, not the connection's ephemeral source port.
            assert r.sender in addresses
            assert r.sender != f"{r.src[0]}:{r.src[1]}"
            assert r.note is None  # every digest matched
        else:
            assert r.sender is None


@pytest.mark.parametrize("name", CAPTURES)
def test_kv_pairs_hold_the_ring(name: str) -> None:
    users = [r for r in records(name) if isinstance(r.message, User)]
    assert users
    for r in users:
        assert r.kv is not None
        (entry,) = r.kv  # one KeyValuePair per broadcast
        assert (entry.key, entry.codec, entry.error) == ("ring", RING_CODEC_ID, None)
        assert entry.ring is not None
        assert 1 <= len(entry.ring.instances) <= 3  # a broadcast holds what changed
    pushes = [r for r in records(name) if isinstance(r.message, PushPull)]
    assert all(r.kv is not None for r in pushes)
    full = [r for r in pushes if r.kv and r.kv[0].ring and len(r.kv[0].ring.instances) == 3]
    assert full  # once everyone registered, push/pull carries the whole ring
    # Joins before any instance registered send no user state at all.
    assert any(r.kv == () for r in pushes)


@pytest.mark.parametrize("name", CAPTURES)
def test_ring_matches_what_go_reported(name: str) -> None:
    recs = records(name)
    before = {i["id"]: i for i in truth(name)["ring_before"]["instances"]}
    end = {i["id"]: i for i in truth(name)["ring_end"]["instances"]}
    # Every token list the capture carried for an ACTIVE instance is the one Go had.
    for r in recs:
        for entry in r.kv or ():
            assert entry.ring is not None
            for inst_id, inst in entry.ring.instances.items():
                assert inst.id == inst_id
                assert inst.addr == before[inst_id]["addr"]
                assert inst.zone == before[inst_id]["zone"]
                if inst.state == InstanceState.ACTIVE:
                    assert list(inst.tokens) == before[inst_id]["tokens"]
    history = {h.instance: h for h in dskit.ring_history(recs)}
    assert set(history) == set(end) == {"instance-0", "instance-1", "instance-2"}
    for inst_id, h in history.items():
        assert h.key == "ring"
        assert h.state == InstanceState(end[inst_id]["state"]).name
        assert h.tokens == len(end[inst_id]["tokens"])
        assert (h.zone, h.addr) == (end[inst_id]["zone"], end[inst_id]["addr"])
        # The last heartbeat gossiped before the recording stopped, at most 2 s before Go's.
        assert 0 <= end[inst_id]["timestamp"] - h.heartbeat <= 2
        assert len(h.heartbeats) >= 3  # 1 s heartbeats over about 5 s
    assert [s for _, s in history["instance-0"].changes] == ["ACTIVE"]
    assert [s for _, s in history["instance-1"].changes] == ["ACTIVE"]
    changes = history["instance-2"].changes
    assert [s for _, s in changes] == ["ACTIVE", "LEAVING", "LEFT"]
    assert [f for f, _ in changes] == sorted(f for f, _ in changes)


def test_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    capture = str(VECTORS / "dskit-lzw.pcap")
    status, out, err = run(capsys, "dissect", capture, *NODE_PORTS)
    assert (status, err) == (EXIT_OK, "")
    lines = out.splitlines()
    heads = [line for line in lines if line.startswith("#")]
    packet = [line for line in heads if "dskitPacket > hasCrc > " in line and "> user" in line]
    assert packet
    assert all(line.endswith(("[from 127.0.0.1:7946]", "[from 127.0.0.1:7947]",
                              "[from 127.0.0.1:7948]")) for line in packet)  # fmt: skip
    assert any("(client->server) dskitStream > compress > pushPull" in line for line in heads)
    kv = [line for line in lines if line.startswith("    kv[0] ")]
    assert kv
    assert all('Codec=ringDesc Deleted=false Key="ring" UpdateTimeMillis=' in line for line in kv)
    instances = [line.strip() for line in lines if line.startswith('      "instance-')]
    tokens = {i["id"]: i["tokens"] for i in truth("lzw")["ring_before"]["instances"]}
    assert any(
        line.startswith(
            '"instance-1" ACTIVE zone="zone-b" addr=127.0.0.1:19001 tokens=4 heartbeat='
        )
        for line in instances
    )
    assert len(tokens["instance-1"]) == 4
    assert any(line.startswith('"instance-2" LEAVING zone="zone-c"') for line in instances)
    assert any(line.startswith('"instance-2" LEFT zone="zone-c" addr=127.0.0.1:19002 tokens=0')
               for line in instances)  # fmt: skip
    assert all(" (age " in line and " registered=20" in line for line in instances)


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    capture = str(VECTORS / "dskit-snappy.pcap")
    status, out, _ = run(capsys, "dissect", capture, *NODE_PORTS, "--json")
    assert status == EXIT_OK
    objs = [json.loads(line) for line in out.splitlines()]
    users = [o for o in objs if o["type"] == "user"]
    assert users
    assert all(o["path"][:2] == ["dskitPacket", "hasCrc"] for o in users)
    assert all(o["sender"].startswith("127.0.0.1:794") for o in users)
    states = set()
    for o in users:
        (kv,) = o["kv"]
        assert (kv["Key"], kv["Codec"], kv["Error"]) == ("ring", "ringDesc", None)
        for inst_id, inst in kv["Ring"]["Ingesters"].items():
            assert inst["Id"] == inst_id
            states.add(inst["State"])
            assert inst["Tokens"] == [] if inst["State"] == "LEFT" else len(inst["Tokens"]) == 4
    assert states == {"ACTIVE", "LEAVING", "LEFT"}  # by dskit's name, not a number
    push = [o for o in objs if o["type"] == "pushPull"]
    assert {n["State"] for o in push for n in o["fields"]["Nodes"]} == {"alive"}
    assert all(o["kv"] is not None and o["kv_error"] is None for o in push)


def test_summary_shows_the_ring_changes(capsys: pytest.CaptureFixture[str]) -> None:
    capture = str(VECTORS / "dskit-snappy.pcap")
    status, out, err = run(capsys, "dissect", capture, *NODE_PORTS, "--summary")
    assert (status, err) == (EXIT_OK, "")
    lines = out.splitlines()
    assert not [line for line in lines if line.startswith(("#", "    "))]
    rows = {" ".join(line.split()[:2]): line.split() for line in lines}
    assert rows["type tcp"] == ["type", "tcp"]
    counts = {line.split()[0]: line.split()[1] for line in lines[1 : lines.index("")]}
    assert set(counts) == {
        "alive", "compound", "compress(snappy)", "dskitPacket", "dskitStream", "hasCrc",
        "pushPull", "user",
    }  # fmt: skip
    assert counts["user"] == str(count_types(records("snappy"))["tcp", "user"])
    assert "dskit ring instances (state changes by frame):" in lines
    header = rows["key instance"]
    assert header[:7] == ["key", "instance", "zone", "state", "tokens", "heartbeats", "last"]
    left = rows["ring instance-2"]
    assert left[2:5] == ["zone-c", "LEFT", "0"]
    history = " ".join(left[7:])
    assert history.startswith("ACTIVE #")
    assert " -> LEAVING #" in history
    assert " -> LEFT #" in history
    assert rows["ring instance-0"][2:5] == ["zone-a", "ACTIVE", "4"]


def test_default_port_sees_node_0s_connections(capsys: pytest.CaptureFixture[str]) -> None:
    capture = str(VECTORS / "dskit-lzw.pcap")
    status, out, err = run(capsys, "dissect", capture)
    assert status == EXIT_OK
    ends = {line.split()[3] + " " + line.split()[5] for line in out.splitlines() if line[:1] == "#"}
    assert all(":7946 " in e or e.endswith(":7946") for e in ends)
    assert "note: " in err
    assert "busiest: 7947 (" in err


def test_no_dskit_and_forced_dskit(capsys: pytest.CaptureFixture[str]) -> None:
    capture = str(VECTORS / "dskit-lzw.pcap")
    _, plain, _ = run(capsys, "dissect", capture, *NODE_PORTS, "--no-dskit", "--json")
    objs = [json.loads(line) for line in plain.splitlines()]
    assert not any("dskit" in o["layering"] for o in objs)
    assert all(o["kv"] is None for o in objs)
    assert any(o["error"] and "not a valid stream message" in o["error"] for o in objs)
    _, auto, _ = run(capsys, "dissect", capture, *NODE_PORTS, "--json")
    _, forced, _ = run(capsys, "dissect", capture, *NODE_PORTS, "--dskit", "--json")
    assert auto == forced  # every connection here is dskit's: detection found them all
    # Forced on a plain memberlist capture: each opener is reported as not dskit's framing.
    serf = Path(__file__).resolve().parents[1].parent / "shared/vectors/memberlist/captured"
    status, out, _ = run(capsys, "dissect", str(serf / "cluster.pcap"), "--dskit", "--json")
    assert status == EXIT_OK  # its UDP gossip still decodes
    tcp = [json.loads(line) for line in out.splitlines() if '"transport": "tcp"' in line]
    openers = [o for o in tcp if o["direction"] == "client->server"]
    assert openers
    assert all(
        o["error"].startswith("not dskit's TCP framing: connection type byte 9") for o in openers
    )


# --- hand-made payloads ------------------------------------------------------------------------


def ring(*states: InstanceState) -> Desc:
    return Desc(
        {
            f"i-{n}": InstanceDesc(
                addr=f"10.0.0.{n}:9095", timestamp=1_700_000_000 + n, state=s,
                tokens=(1, 2, 3), zone="z", registered_timestamp=1_700_000_000, id=f"i-{n}",
            )
            for n, s in enumerate(states)
        }
    )  # fmt: skip


def broadcast(desc: Desc) -> bytes:
    return encode_kv_pair(KeyValuePair("ring", encode_ring_value(desc), RING_CODEC_ID))


def stream(data: bytes, from_client: bool | None = True) -> StreamDirection:
    src, dst = (CLIENT, SERVER) if from_client is not False else (SERVER, CLIENT)
    return StreamDirection(0, 1, 0.5, src, dst, data, from_client, (1,))


def test_opener_kind() -> None:
    packet = dskit_packet(encode_message(Ping(1)), "127.0.0.1:7947")
    assert dskit.opener_kind(packet) == 1
    assert dskit.opener_kind(b"\x02" + encode_stream(PushPull(True, (), b""))) == 2
    assert dskit.opener_kind(b"\x02" + encode_stream(PushPull(True, (), b""), compress=False)) == 2
    # memberlist's own streams: never 1 or 2 first from the dialer.
    assert dskit.opener_kind(encode_stream(PushPull(True, (), b""))) is None
    assert dskit.opener_kind(encode_stream(Ping(1), compress=False)) is None
    # 1 without an "ip:port" address, or too short for the digest; 2 then an ack body.
    assert dskit.opener_kind(b"\x01\x04abcd" + bytes(16)) is None
    assert dskit.opener_kind(b"\x01\x0e127.0.0.1:7946" + bytes(15)) is None
    assert dskit.opener_kind(b"\x02\x82\xa5SeqNo\x01") is None
    assert dskit.opener_kind(b"\x01") is None


def test_packet_with_bad_digest_is_still_shown() -> None:
    payload = encode_packet([User(broadcast(ring(InstanceState.JOINING)))], crc=True)
    good = dskit_packet(payload, "10.1.2.3:7946")
    bad = good[:-1] + bytes([good[-1] ^ 1])
    (ok,) = decode_stream(0, stream(good), keyring=None, label=b"", framing=Framing.DSKIT)
    (odd,) = decode_stream(0, stream(bad), keyring=None, label=b"", framing=Framing.DSKIT)
    assert ok.layering == odd.layering == "dskitPacket > hasCrc > user"
    assert (ok.sender, ok.note) == ("10.1.2.3:7946", None)
    assert odd.note is not None
    assert "MD5 digest does not match" in odd.note
    assert odd.message == ok.message
    assert odd.kv is not None
    assert odd.kv[0].ring is not None
    assert odd.kv[0].ring.instances["i-0"].state == InstanceState.JOINING
    text = to_text(odd)
    assert "[from 10.1.2.3:7946]  [MD5 digest does not match" in text
    assert (
        '"i-0" JOINING zone="z" addr=10.0.0.0:9095 tokens=3 heartbeat=2023-11-14T22:13:20Z' in text
    )


def test_broken_framing_and_kv_are_reported() -> None:
    def one(data: bytes, framing: Framing = Framing.DSKIT) -> Record:
        (record,) = decode_stream(0, stream(data), keyring=None, label=b"", framing=framing)
        return record

    cut = one(b"\x01\x20127.0.0.1")
    assert (cut.layering, cut.message) == ("dskitPacket", None)
    assert cut.error is not None
    assert "address cut short" in cut.error
    wrong = one(b"\x07rest")
    assert wrong.error is not None
    assert wrong.error.startswith("not dskit's TCP framing: connection type byte 7")
    # A user message that is no KeyValuePair, a ring value that is no snappy block.
    junk = one(dskit_packet(encode_message(User(b"\xff\xff\xff")), "10.0.0.1:1"))
    assert junk.message == User(b"\xff\xff\xff")
    assert (junk.kv, junk.kv_error is not None) == ((), True)
    assert "kv undecodable: KeyValuePair" in to_text(junk)
    pair = KeyValuePair("ring", b"not snappy", RING_CODEC_ID)
    bad_value = one(dskit_packet(encode_message(User(encode_kv_pair(pair))), "10.0.0.1:1"))
    assert bad_value.kv is not None
    (entry,) = bad_value.kv
    assert (entry.ring, entry.error is not None) == (None, True)
    assert json.loads(to_json(bad_value))["kv"][0]["Error"] == entry.error
    # Another codec: the pair is shown, its value left as bytes.
    other = KeyValuePair("ha-tracker", b"\x01\x02", "replicaDesc", update_time_millis=5)
    (ha,) = one(dskit_packet(encode_message(User(encode_kv_pair(other))), "10.0.0.1:1")).kv or ()
    assert (ha.codec, ha.ring, ha.error, ha.value) == ("replicaDesc", None, None, b"\x01\x02")


def test_push_pull_state_stops_at_a_bad_record() -> None:
    good = KeyValuePair("ring", encode_ring_value(ring(InstanceState.ACTIVE)), RING_CODEC_ID)
    state = encode_push_pull_state([good]) + b"\x00\x00\x00\x09abc"
    push = PushPull(False, (), state)
    (reply,) = decode_stream(
        0, stream(encode_stream(push), False), keyring=None, label=b"",
        framing=Framing.DSKIT_REPLY,
    )  # fmt: skip
    assert reply.layering == "compress > pushPull"
    assert reply.kv is not None
    assert [e.key for e in reply.kv] == ["ring"]
    assert reply.kv_error is not None
    assert "expected 9" in reply.kv_error
    assert json.loads(to_json(reply))["kv_error"] == reply.kv_error


def test_snappy_compress_layer() -> None:
    data = snappy_compress_message(encode_message(Ping(7, node="n")))
    (record,) = decode_datagram(0, Datagram(1, 0.0, CLIENT, SERVER, data), keyring=None, label=b"")
    assert record.layering == "compress(snappy) > ping"
    assert record.message == Ping(7, node="n")
    # A snappy block that is not one: the compress layer's error says why.
    broken = b"\x09" + msgpack.packb({"Algo": 1, "Buf": b"\xff\xff\xff\xff\x0f\x00"})
    (bad,) = decode_datagram(0, Datagram(1, 0.0, CLIENT, SERVER, broken), keyring=None, label=b"")
    assert bad.message is None
    assert bad.error is not None
    assert bad.error.startswith("compress: unknown compression algorithm 1 (")


def test_tls_connection_is_named() -> None:
    hello = b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(40)
    for framing in Framing:
        (record,) = decode_stream(0, stream(hello), keyring=None, label=b"", framing=framing)
        assert record.layering == "tls"
        assert record.error is not None
        assert "TLS" in record.error


def test_capture_started_mid_connection() -> None:
    # Neither direction's handshake: the side that starts like dskit's is the opener, and the
    # other side of the connection is read as the reply of a dskit stream.
    push = PushPull(False, (), encode_push_pull_state([]))
    opener = StreamDirection(3, 1, 0.0, CLIENT, SERVER, b"\x02" + encode_stream(push), None, (1,))
    reply = StreamDirection(3, 2, 0.1, SERVER, CLIENT, encode_stream(push), None, (2,))
    recs = decode_capture(Capture((), (reply, opener), 2), keyring=None, label=b"")
    assert [(r.frame, r.layering, r.kv) for r in recs] == [
        (1, "dskitStream > compress > pushPull", ()),
        (2, "compress > pushPull", ()),
    ]
    # Read as memberlist's own, the opener fails: 2 is an ack, no stream message.
    plain = decode_capture(
        Capture((), (reply, opener), 2), keyring=None, label=b"", dskit_mode=False
    )
    assert plain[0].error is not None
    assert plain[1].kv is None


def test_ring_history_follows_dskits_merge_rule() -> None:
    def seen(frame: int, state: InstanceState, timestamp: int, tokens: int = 3) -> Record:
        inst = InstanceDesc(addr="a:1", timestamp=timestamp, state=state, tokens=(1,) * tokens)
        entry = KvEntry("ring", RING_CODEC_ID, b"", ring=Desc({"i": inst}))
        return Record(0, frame, 0.0, "tcp", CLIENT, SERVER, None, kv=(entry,))

    history = dskit.ring_history(
        [
            seen(1, InstanceState.JOINING, 100),
            seen(2, InstanceState.ACTIVE, 101),
            seen(3, InstanceState.JOINING, 100),  # late gossip: an older view, ignored
            seen(4, InstanceState.LEAVING, 101),  # same timestamp, not LEFT: dskit keeps ours
            seen(5, InstanceState.LEFT, 101, tokens=0),  # same timestamp, LEFT: taken
            seen(6, InstanceState.ACTIVE, 101),
        ]
    )
    (h,) = history
    assert h.changes == [(1, "JOINING"), (2, "ACTIVE"), (5, "LEFT")]
    assert (h.state, h.tokens, h.heartbeat, h.heartbeats) == ("LEFT", 0, 101, {100, 101})
