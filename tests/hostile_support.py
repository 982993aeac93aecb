"""Hostile input for a running agent: mutated datagrams built from the real memberlist vectors
and hostile TCP streams, sent at a bounded rate from sockets inside the agent's namespace.

The stream shapes follow what memberlist's net.go handleConn reads: one message-type byte, then
the message (an encryptMsg's 4-byte length, a label header's 1-byte length, a pushPull header
whose Nodes count says how many states follow).
"""

from __future__ import annotations

import json
import random
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgpack
import trio
from interop.procs import netns_socket

from trio_gossip.wire import decode_packet_lenient
from trio_gossip.wire.errors import DecodeError

Address = tuple[str, int]

# memberlist net.go message types.
PUSH_PULL_MSG = 6
ENCRYPT_MSG = 10
HAS_LABEL_MSG = 244


VECTORS = Path(__file__).resolve().parent / "vectors" / "memberlist-v070" / "vectors.json"


def _vectors(kind: str) -> list[bytes]:
    """The real memberlist v0.7.0 traffic of the unlabelled, unencrypted run, of one kind."""
    found = json.loads(VECTORS.read_text())["vectors"]
    return [bytes.fromhex(v["hex"]) for v in found if v["run"] == "plain" and v["kind"] == kind]


def packet_seeds() -> list[bytes]:
    return _vectors("packet")


def stream_seeds() -> list[bytes]:
    return _vectors("stream")


def mutate(rng: random.Random, seed: bytes) -> bytes:
    """One of: flipped bits, truncation, inserted or overwritten bytes, a spliced tail."""
    data = bytearray(seed)
    kind = rng.randrange(5)
    if kind == 0 or not data:
        for _ in range(rng.randint(1, 4)):
            if data:
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif kind == 1:
        del data[rng.randrange(len(data)) :]
    elif kind == 2:
        at = rng.randrange(len(data) + 1)
        data[at:at] = rng.randbytes(rng.randint(1, 8))
    elif kind == 3:
        data[rng.randrange(len(data))] = rng.choice([0x00, 0x7F, 0x80, 0xC1, 0xDB, 0xFF])
    else:
        data += rng.randbytes(rng.randint(1, 64))
    return bytes(data)


def datagrams(rng: random.Random, count: int) -> Iterator[bytes]:
    seeds = packet_seeds()
    for _ in range(count):
        yield mutate(rng, rng.choice(seeds))


def locally_bad(data: bytes) -> bool:
    """Whether our own decoder refuses (part of) this datagram: the agent must count it."""
    try:
        return bool(decode_packet_lenient(data).errors)
    except DecodeError:
        return True


def trio_socket(netns: str | None, kind: int) -> trio.socket.SocketType:
    with netns_socket(netns, socket.AF_INET, kind) as sock:
        fd = sock.detach()
    return trio.socket.from_stdlib_socket(socket.socket(socket.AF_INET, kind, fileno=fd))


@dataclass
class Sent:
    """What the harness sent, by kind, and how many of the datagrams our decoder refuses."""

    datagrams: int = 0
    datagrams_bad: int = 0
    streams: dict[str, int] = field(default_factory=dict)
    stream_errors: int = 0  # connects refused or reset by the agent (a flood beyond its backlog)

    def count(self, kind: str) -> None:
        self.streams[kind] = self.streams.get(kind, 0) + 1


def lying_frames(rng: random.Random) -> list[tuple[str, bytes]]:
    """Streams whose length fields lie or whose frames exceed memberlist's limits."""
    huge_nodes = msgpack.packb({"Nodes": 0x7FFFFFFF, "UserStateLen": 0, "Join": False})
    huge_state = msgpack.packb({"Nodes": 0, "UserStateLen": 0x7FFFFFFF, "Join": False})
    return [
        # encryptMsg claims 4 GiB (over the 20 MiB cap) and sends 16 bytes.
        ("encrypt_length_lie", bytes([ENCRYPT_MSG]) + b"\xff\xff\xff\xff" + rng.randbytes(16)),
        # A label header that claims 255 bytes and sends 3.
        ("label_length_lie", bytes([HAS_LABEL_MSG, 255]) + b"abc"),
        # pushPull header that promises 2^31 node states (over maxPushPullNodes).
        ("pushpull_nodes_oversized", bytes([PUSH_PULL_MSG]) + huge_nodes),
        # pushPull header that promises 2 GiB of user state (over the user-state cap).
        ("pushpull_state_oversized", bytes([PUSH_PULL_MSG]) + huge_state),
        # Garbage after a valid message type.
        ("garbage", bytes([rng.randrange(14)]) + rng.randbytes(rng.randint(1, 200))),
    ]


async def one_stream(netns: str | None, target: Address, data: bytes, *, hold: float = 0.0,
                     per_byte: float = 0.0) -> None:  # fmt: skip
    """Connect, send ``data`` (one byte each ``per_byte`` seconds if set), hold the
    connection open ``hold`` seconds, read what the agent answers, close."""
    sock = trio_socket(netns, socket.SOCK_STREAM)
    with sock:
        await sock.connect(target)
        if per_byte:
            for b in data:
                await sock.send(bytes([b]))
                await trio.sleep(per_byte)
        elif data:
            await sock.send(data)
        await trio.sleep(hold)
        with trio.move_on_after(2.0):
            while await sock.recv(4096):
                pass


class Hostile:
    """Sends hostile input from inside ``netns`` to the agent at ``target``; ``sent`` tallies."""

    def __init__(self, netns: str | None, target: Address, seed: int) -> None:
        self.netns = netns
        self.target = target
        self.rng = random.Random(seed)
        self.sent = Sent()

    async def datagrams(self, count: int, rate: float) -> None:
        """``count`` mutated datagrams at no more than ``rate`` per second."""
        sent = self.sent
        sock = trio_socket(self.netns, socket.SOCK_DGRAM)
        batch = max(1, int(rate / 50))  # 50 paced batches a second
        with sock:
            start = trio.current_time()
            for i, data in enumerate(datagrams(self.rng, count)):
                if i % batch == 0:
                    await trio.sleep_until(start + i / rate)
                await sock.sendto(data, self.target)
                sent.datagrams += 1
                sent.datagrams_bad += locally_bad(data)

    async def _stream(self, kind: str, data: bytes, hold: float = 0.0,
                      per_byte: float = 0.0) -> None:  # fmt: skip
        self.sent.count(kind)
        try:
            await one_stream(self.netns, self.target, data, hold=hold, per_byte=per_byte)
        except OSError:
            self.sent.stream_errors += 1

    async def streams(self, rounds: int, flood: int, hold: float, interval: float = 0.01) -> None:
        """``rounds`` of every lying frame and a mutated captured stream (``interval`` seconds
        apart), then ``flood`` connections at once that never send (held ``hold`` seconds),
        and two slow senders at 1 byte/s."""
        rng = self.rng
        seeds = stream_seeds()
        async with trio.open_nursery() as nursery:
            for _ in range(rounds):
                for kind, data in lying_frames(rng):
                    nursery.start_soon(self._stream, kind, data)
                nursery.start_soon(self._stream, "mutated_stream", mutate(rng, rng.choice(seeds)))
                await trio.sleep(interval)
            for _ in range(flood):
                nursery.start_soon(self._stream, "half_open", b"", hold)
            for _ in range(2):
                nursery.start_soon(self._stream, "slow_sender", rng.randbytes(8), 0.0, 1.0)
