"""Seeded fuzzing: mutated and truncated vectors raise DecodeError or decode cleanly, nothing
else."""

from __future__ import annotations

import random
from collections.abc import Callable

from vectors_support import capture_key, captured_metas, synthetic_vectors

from trio_gossip.wire import (
    Ack,
    Alive,
    Keyring,
    PacketMessage,
    Ping,
    PushNodeState,
    PushPull,
    StreamDecoder,
    Suspect,
    User,
    decode_packet,
    decode_packet_lenient,
    encode_packet,
    encode_stream,
    trace_packet,
    trace_stream,
)
from trio_gossip.wire.crypto import encrypt_payload
from trio_gossip.wire.errors import DecodeError
from trio_gossip.wire.packet import add_crc, add_label, open_packet

KEY = capture_key()
KEYRING = Keyring([KEY, bytes(range(16))])
LABEL = b"fuzz"

PACKETS = 100_000
STREAMS = 20_000

Seed = tuple[bytes, Keyring | None, bytes]  # data, keyring, label


def packet_seeds() -> list[Seed]:
    seeds: list[Seed] = []
    for v in synthetic_vectors():
        if v["hex"] and v["name"] != "encrypt_v1_stream_frame":
            key = Keyring([bytes.fromhex(v["key_hex"])]) if "key_hex" in v else None
            seeds.append((bytes.fromhex(v["hex"]), key, (v.get("label") or "").encode()))
    for meta in captured_metas():
        if meta["transport"] == "udp":
            key = KEYRING if meta["capture"] == "encrypted.pcap" else None
            seeds.append((bytes.fromhex(meta["outer_payload_hex"]), key, b""))
    messages: list[PacketMessage] = [
        Ping(7, "node-b", b"\x7f\x00\x00\x01", 7946, "node-a"),
        Suspect(3, "node-b", "node-a"),
        Alive(9, "n" * 40, bytes(16), 7946, b"\xff\x80" * 10, b"\x01\x05\x02\x00\x00\x00"),
        Ack(1, b"x" * 130),
        User(b"\x01\x82\xa5LTime\x01\xa4Node\xa1b" * 3),
    ]
    for keyring, label in [(None, b""), (KEYRING, b""), (KEYRING, LABEL), (None, LABEL)]:
        for version in (0, 1):
            packet = encode_packet(
                messages,
                keyring=keyring,
                label=label,
                compress=True,
                crc=True,
                encryption_version=version,
            )
            seeds.append((packet, keyring, label))
    return seeds


def stream_seeds() -> list[Seed]:
    seeds: list[Seed] = []
    for meta in captured_metas():
        if meta["transport"] == "tcp":
            key = KEYRING if meta["capture"] == "encrypted.pcap" else None
            seeds.append((bytes.fromhex(meta["outer_payload_hex"]), key, b""))
    states = tuple(
        PushNodeState(f"node-{i}", bytes((10, 0, 0, i)), 7946, b"\xff\x80", i, i % 4, b"\x01" * 6)
        for i in range(5)
    )
    push_pull = PushPull(True, states, b"\x02\x80" * 20)
    for keyring in (None, KEYRING):
        for compress in (False, True):
            for message in (push_pull, User(b"hello"), Ping(3, "a")):
                data = encode_stream(message, keyring=keyring, compress=compress)
                seeds.append((data, keyring, b""))
    return seeds


INTERESTING = [0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF]


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One cheap mutation: bit flips, insert, delete, truncate, a lying length field, splice or
    deep nesting."""
    buf = bytearray(data)
    choice = rng.randrange(7) if rng.random() > 0.03 else 7
    pos = rng.randrange(len(buf)) if buf else 0
    if choice == 0 or not buf:  # bit flips
        for _ in range(rng.randint(1, 3)):
            if buf:
                buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    elif choice == 1:
        buf.insert(pos, rng.randrange(256))
    elif choice == 2:
        del buf[pos : pos + rng.randint(1, 4)]
    elif choice == 3:
        del buf[rng.randrange(len(buf)) :]
    elif choice == 4:  # a lying length: overwrite 1, 2 or 4 bytes with a boundary value
        width = rng.choice((1, 2, 4))
        value = rng.choice(INTERESTING) & ((1 << (8 * width)) - 1)
        buf[pos : pos + width] = value.to_bytes(width, "big")
    elif choice == 5:  # lie about the count or lengths of a compound, wherever it sits
        at = buf.find(b"\x07", pos)
        if at >= 0 and at + 1 < len(buf):
            buf[at + 1] = rng.choice((0, 1, 2, 128, 255))
    elif choice == 6:  # splice a piece of the packet into itself
        end = rng.randrange(pos, len(buf) + 1)
        buf[rng.randrange(len(buf) + 1) : 0] = buf[pos:end]
    else:  # deep nesting, rarer as it is slow: a run of one-element arrays or maps
        buf[pos:pos] = bytes((rng.choice((0x91, 0x81, 0xA1)),)) * rng.choice((10, 999, 1030))
    return bytes(buf)


def run_guarded(check: Callable[[], object], what: str, data: bytes) -> None:
    try:
        check()
    except DecodeError:
        pass
    except Exception as exc:  # pragma: no cover - only on a bug
        raise AssertionError(f"{what} raised {exc!r} for {data.hex()}") from exc


def plaintext_seeds(seeds: list[Seed]) -> list[Seed]:
    """The innermost plaintext of each seed, to be mutated and then sealed again (a valid CRC
    and tag), so that mutations reach the layers under the CRC and the encryption."""
    out = []
    for data, keyring, label in seeds:
        try:
            inner = open_packet(data, keyring=keyring, label=label, verify_incoming=True)
        except DecodeError:
            continue
        out.append((inner, keyring, label))
    return out


def seal(rng: random.Random, seed: Seed) -> bytes:
    data, keyring, label = seed
    if rng.random() < 0.5:
        data = add_crc(data)
    if keyring is not None:
        data = encrypt_payload(rng.choice((0, 1)), keyring, data, label)
    return add_label(data, label)


def test_fuzz_packets() -> None:
    rng = random.Random(20260507)
    seeds = packet_seeds()
    inner = plaintext_seeds(seeds)
    for i in range(PACKETS):
        if i % 2:  # mutate under a valid CRC and tag
            data, keyring, label = inner[i % len(inner)]
            for _ in range(rng.choice((1, 1, 2))):
                data = mutate(rng, data)
            data = seal(rng, (data, keyring, label))
        else:  # mutate the packet as sent
            data, keyring, label = seeds[i % len(seeds)]
            for _ in range(rng.choice((1, 1, 1, 2, 3))):
                data = mutate(rng, data)
        check_packet(data, keyring, label, i)


def check_packet(data: bytes, keyring: Keyring | None, label: bytes, i: int) -> None:
    run_guarded(lambda: decode_packet(data, keyring=keyring, label=label), "decode", data)
    if i % 8 == 0:
        run_guarded(
            lambda: decode_packet_lenient(
                data, keyring=keyring, label=label, verify_incoming=False
            ),
            "lenient",
            data,
        )
    if i % 16 == 0:
        trace_packet(data, keyring=keyring, label=label)  # must never raise at all


def test_fuzz_streams() -> None:
    rng = random.Random(7)
    seeds = stream_seeds()
    for i in range(STREAMS):
        data, keyring, label = seeds[i % len(seeds)]
        for _ in range(rng.choice((1, 1, 2))):
            data = mutate(rng, data)
        check_stream(data, keyring, label, rng.randrange(len(data) + 1))
        if i % 8 == 0:
            trace_stream(data, keyring=keyring, label=label)


def check_stream(data: bytes, keyring: Keyring | None, label: bytes, cut: int) -> None:
    def feed() -> None:
        decoder = StreamDecoder(keyring=keyring, label=label)
        if decoder.feed(data[:cut]) is None and decoder.feed(data[cut:]) is None:
            decoder.eof()

    run_guarded(feed, "stream", data)
