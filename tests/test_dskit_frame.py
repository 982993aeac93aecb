"""dskit's TCP transport framing against dskit itself: packets written by dskit's TCPTransport
under grafana's memberlist fork (plain, snappy, LZW, cluster label) decode, tampering is caught,
and packets we frame are delivered by a live dskit transport on loopback."""

from __future__ import annotations

import json
import socket
import subprocess
from typing import Any

from dskit_support import peer_binary

from trio_gossip.wire.dskit import (
    SNAPPY_ALGO,
    DskitDecodeError,
    compressed_payload,
    decode_packet,
    encode_packet,
    snappy_compress_message,
    snappy_decompress_buf,
)

try:  # the engine's own LZW (its module may move while the package is reorganized)
    from trio_gossip.wire.lzw import lzw_decompress
except ImportError:  # pragma: no cover
    lzw_decompress = None

USER_MSG = 8
PAYLOAD = b"".join(b"key-%03d=value;" % i for i in range(40))  # compressible


def _send(port: int, data: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(data)


def _run_frame_peer() -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, float]]:
    proc = subprocess.Popen(
        [str(peer_binary()), "frame"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        proc.stdin.write(json.dumps({"payload_hex": PAYLOAD.hex()}) + "\n")
        proc.stdin.flush()
        captures = json.loads(proc.stdout.readline())["captures"]
        port = json.loads(proc.stdout.readline())["listening"]

        good = encode_packet(bytes([USER_MSG]) + b"hello", "127.0.0.1:7946")
        tampered = bytearray(encode_packet(bytes([USER_MSG]) + b"tampered", "10.1.2.3:7946"))
        tampered[-20] ^= 0xFF  # a payload byte: the digest no longer matches
        _send(port, good)
        _send(port, bytes(tampered))
        _send(port, b"GET /metrics HTTP/1.1\r\n\r\n")  # unknown connection type
        _send(port, b"\x01\x03abc" + b"short")  # fewer than 16 bytes after the address

        proc.stdin.write("done\n")
        proc.stdin.flush()
        received: list[dict[str, Any]] = []
        while True:
            line = json.loads(proc.stdout.readline())
            if "counters" in line:
                return captures, received, line["counters"]
            received.append(line)
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)


def test_frames_against_dskit_transport() -> None:
    captures, received, counters = _run_frame_peer()
    by_kind = {(c["compression"], c["label"]): c for c in captures}

    # Plain: [1][len][addr][user message][MD5], byte for byte as we frame it.
    plain = by_kind[("none", "")]
    raw = bytes.fromhex(plain["hex"])
    packet = decode_packet(raw)
    assert packet.from_addr == plain["from"]
    assert packet.payload == bytes([USER_MSG]) + PAYLOAD
    assert encode_packet(packet.payload, packet.from_addr) == raw

    # Snappy, the fork's Algo 1: ours decodes Go's and is never larger.
    snappy = decode_packet(bytes.fromhex(by_kind[("snappy", "")]["hex"])).payload
    algo, buf = compressed_payload(snappy[1:])
    assert snappy[0] == 9
    assert algo == SNAPPY_ALGO
    assert snappy_decompress_buf(buf) == bytes([USER_MSG]) + PAYLOAD
    ours = snappy_compress_message(bytes([USER_MSG]) + PAYLOAD)
    assert len(ours) <= len(snappy)
    assert snappy_decompress_buf(compressed_payload(ours[1:])[1]) == bytes([USER_MSG]) + PAYLOAD

    # LZW, hashicorp's Algo 0, through the same wrapper.
    lzw = decode_packet(bytes.fromhex(by_kind[("lzw", "")]["hex"])).payload
    algo, buf = compressed_payload(lzw[1:])
    assert algo == 0
    if lzw_decompress is not None:
        assert lzw_decompress(buf, 1 << 20) == bytes([USER_MSG]) + PAYLOAD

    # A cluster label goes in front of the message, inside the framing.
    labelled = decode_packet(bytes.fromhex(by_kind[("snappy", "cluster-a")]["hex"])).payload
    assert labelled[:2] == bytes([244, len(b"cluster-a")])
    assert labelled[2:11] == b"cluster-a"
    assert labelled[11:] == snappy

    # Tampering with any byte after the address is caught by the digest.
    for i in range(2 + len(plain["from"]), len(raw)):
        bad = bytearray(raw)
        bad[i] ^= 0x01
        try:
            decode_packet(bytes(bad))
        except DskitDecodeError:
            continue
        raise AssertionError(f"flipping byte {i} went unnoticed")
    lax = bytearray(raw)
    lax[-1] ^= 1
    assert not decode_packet(bytes(lax), require_digest=False).digest_ok

    # What the live dskit transport made of our connections: both packets delivered (dskit only
    # counts a digest mismatch), the HTTP request and the short packet refused and counted.
    assert {(p["from"], bytes.fromhex(p["payload_hex"])) for p in received} == {
        ("127.0.0.1:7946", bytes([USER_MSG]) + b"hello"),
        (
            "10.1.2.3:7946",
            bytes([USER_MSG])
            + b"tampered"[:-4]
            + bytes([b"tampered"[-4] ^ 0xFF])
            + b"tampered"[-3:],
        ),
    }
    assert counters["t_memberlist_tcp_transport_packets_received_total"] == 3
    assert counters["t_memberlist_tcp_transport_packets_received_errors_total"] == 2
    assert counters["t_memberlist_tcp_transport_unknown_connections_total"] == 1
