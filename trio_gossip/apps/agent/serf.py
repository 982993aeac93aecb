"""The few Serf messages an agent must speak to look like a Serf member to Serf agents.

Serf rides on memberlist user messages: ``[serf type byte][msgpack map]``. Serf decides from a
member's *leave intent* whether a departure is ``left`` or ``failed``, so a graceful agent must
gossip one before memberlist's own leave; join intents and the member Lamport clock order those
intents. Everything else (events, queries, push/pull state) is read, counted and passed on.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs
import msgpack

from trio_gossip.wire.errors import DecodeError


class SerfMessageType(enum.IntEnum):
    LEAVE = 0
    JOIN = 1
    PUSH_PULL = 2
    USER_EVENT = 3
    QUERY = 4
    QUERY_RESPONSE = 5
    CONFLICT_RESPONSE = 6
    KEY_REQUEST = 7
    KEY_RESPONSE = 8
    RELAY = 9


class LamportClock:
    """Serf's member clock: ``witness`` what others send, ``increment`` for what we send."""

    def __init__(self) -> None:
        self._time = 0

    @property
    def time(self) -> int:
        return self._time

    def increment(self) -> int:
        self._time += 1
        return self._time

    def witness(self, ltime: int) -> None:
        # Go keeps the clock one past the highest time seen, so our next message sorts after it.
        if ltime >= self._time:
            self._time = ltime + 1


@attrs.frozen
class Intent:
    """A join (``leave=False``) or leave intent: who, at which member Lamport time."""

    node: str
    ltime: int
    leave: bool
    prune: bool = False


def pack_message(kind: SerfMessageType, body: dict[str, Any]) -> bytes:
    """``[type][msgpack]`` as Serf encodes a struct: a map keyed by the Go field names in
    sorted order, strings and byte slices as old-style raw strings, nil as ``c0``."""
    packed: bytes = msgpack.packb(dict(sorted(body.items())), use_bin_type=False)
    return bytes((kind,)) + packed


def encode_intent(intent: Intent) -> bytes:
    if intent.leave:
        body: dict[str, Any] = {"LTime": intent.ltime, "Node": intent.node, "Prune": intent.prune}
        return pack_message(SerfMessageType.LEAVE, body)
    return pack_message(SerfMessageType.JOIN, {"LTime": intent.ltime, "Node": intent.node})


def fields(data: bytes) -> dict[str, Any]:
    """The first msgpack map in ``data`` with its keys as text (values stay raw)."""
    unpacker = msgpack.Unpacker(raw=True, max_buffer_size=max(len(data), 1))
    unpacker.feed(data)
    try:
        value = unpacker.unpack()
    except msgpack.OutOfData:
        raise DecodeError("serf message is truncated") from None
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise DecodeError(f"serf message is not msgpack: {exc}") from None
    if not isinstance(value, dict):
        raise DecodeError(f"serf message body is a {type(value).__name__}, not a map")
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, bytes):
            raise DecodeError(f"serf message key {key!r} is not a string")
        out[key.decode("utf-8", "surrogateescape")] = item
    return out


def message_type(data: bytes) -> SerfMessageType | None:
    """The Serf type of a user message, None for an empty or unknown one."""
    if not data:
        return None
    try:
        return SerfMessageType(data[0])
    except ValueError:
        return None


def int_field(body: dict[str, Any], name: str) -> int:
    value = body.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DecodeError(f"serf field {name} is {value!r}, not a non-negative integer")
    return value


def str_field(body: dict[str, Any], name: str) -> str:
    value = body.get(name, b"")
    if not isinstance(value, bytes):
        raise DecodeError(f"serf field {name} is {type(value).__name__}, not a string")
    return value.decode("utf-8", "surrogateescape")


def decode_intent(data: bytes) -> Intent:
    """A join or leave intent; DecodeError for anything else or malformed."""
    kind = message_type(data)
    if kind not in (SerfMessageType.JOIN, SerfMessageType.LEAVE):
        raise DecodeError(f"serf message type {data[:1].hex()} is not a join or leave intent")
    f = fields(data[1:])
    prune = f.get("Prune", False)
    leave = kind == SerfMessageType.LEAVE
    return Intent(str_field(f, "Node"), int_field(f, "LTime"), leave, prune is True)


def message_ltime(data: bytes) -> int:
    """The ``LTime`` a Serf message carries (0 when it has none)."""
    return int_field(fields(data[1:]), "LTime")


def query_flags(data: bytes) -> int:
    """The ``Flags`` of a Serf query (bit 0: ack wanted, bit 1: do not rebroadcast)."""
    return int_field(fields(data[1:]), "Flags")


@attrs.frozen
class PushPullClocks:
    """The three Lamport clocks at the head of Serf's push/pull user state."""

    ltime: int
    event_ltime: int
    query_ltime: int


def push_pull_clocks(state: bytes) -> PushPullClocks:
    """Read Serf's push/pull user state (``02`` + msgpack) far enough to order two of them."""
    if message_type(state) != SerfMessageType.PUSH_PULL:
        raise DecodeError(f"user state starts with {state[:1].hex() or 'nothing'}, not 02")
    f = fields(state[1:])
    return PushPullClocks(
        int_field(f, "LTime"), int_field(f, "EventLTime"), int_field(f, "QueryLTime")
    )
