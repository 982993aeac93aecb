"""What the dissector reports: one record per memberlist message (or undecodable payload)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

import attrs

from trio_gossip.apps.dissect.reassembly import Address
from trio_gossip.wire.messages import Message

if TYPE_CHECKING:  # dskit's wire mode needs protobuf: an optional dependency
    from trio_gossip.wire.dskit import Desc


@attrs.frozen
class KvEntry:
    """One dskit ``KeyValuePair`` (kv/memberlist/kv.proto) of a KV broadcast or push/pull state."""

    key: str
    codec: str
    value: bytes
    deleted: bool = False
    update_time_millis: int = 0
    ring: Desc | None = None  # the value as a ring.Desc, for codec "ringDesc"
    error: str | None = None  # why the value did not decode


@attrs.frozen
class Record:
    payload: int  # index of the UDP datagram or TCP stream direction it came from
    frame: int  # capture frame (1-based) of the datagram, or of the stream's first byte
    time: float  # seconds since the first frame of the capture
    transport: str  # "udp" or "tcp"
    src: Address
    dst: Address
    # "client->server" / "server->client" for TCP when the handshake was captured.
    direction: str | None
    # Outer to inner, e.g. ("hasCrc", "compress", "compound[1]", "suspect"). For an
    # undecodable payload it ends at the layer that failed.
    path: tuple[str, ...] = ()
    message: Message | None = None
    error: str | None = None  # why the payload (or this part of it) did not decode
    raw: bytes = b""  # the message's bytes from its type byte, or the bytes that failed
    # Something odd about a message that did decode (e.g. bytes after its body Go ignores).
    note: str | None = None
    # dskit's TCP transport: the address the sender advertised in a packet connection's header
    # (kv/memberlist/tcp_transport.go writeTo).
    sender: str | None = None
    # dskit's KV: the KeyValuePairs a user message or push/pull state carries (None: not read
    # as dskit KV), and why reading them stopped, if it did.
    kv: tuple[KvEntry, ...] | None = None
    kv_error: str | None = None
    wall_time: float | None = None  # Unix time of the frame, when the capture has it

    @property
    def layering(self) -> str:
        return " > ".join(self.path)

    @property
    def type_name(self) -> str | None:
        """memberlist's name of the decoded message ("ping", "pushPull", ...)."""
        return self.path[-1] if self.message is not None and self.path else None


_INDEX = re.compile(r"\[\d+\]$")


def count_types(records: Iterable[Record]) -> Counter[tuple[str, str]]:
    """Occurrences of each layer or message name per transport, at any nesting depth.

    A container shared by several messages (a compound and everything around it) is counted
    once per payload, so the result matches a table of type bytes seen on the wire.
    """
    seen: set[tuple[int, tuple[str, ...]]] = set()
    counts: Counter[tuple[str, str]] = Counter()
    for rec in records:
        last = len(rec.path) - 1
        for depth, name in enumerate(rec.path):
            if depth == last and rec.message is None:
                break  # the layer that failed to decode is not counted
            if depth < last:
                key = (rec.payload, (*rec.path[:depth], _INDEX.sub("", name)))
                if key in seen:
                    continue
                seen.add(key)
            counts[rec.transport, _INDEX.sub("", name)] += 1
    return counts
