"""dskit's memberlist KV in a capture: its TCP framing, its KV pairs and ring values.

grafana/dskit runs memberlist over its own TCP transport (kv/memberlist/tcp_transport.go). Every
connection starts with a type byte: a packet connection (``writeTo``) then carries the sender's
advertised address (length-prefixed), one memberlist packet and the packet's MD5; a stream
connection (``DialTimeout``) carries memberlist's stream protocol, and the listener's reply has
no type byte. The KV's user messages are ``KeyValuePair`` protobufs (memberlist_client.go
``broadcastNewValue``), its push/pull state length-prefixed ``KeyValuePair``s (``LocalState``),
and a ring's value a snappy-compressed ``ring.Desc`` (ring/model.go ``GetCodec``).

The decoders are ``trio_gossip.wire.dskit``'s: this module recognises the framing, drives them
and follows the records of a capture to tell how each ring instance changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import attrs

from trio_gossip.apps.dissect.record import KvEntry, Record
from trio_gossip.wire import MessageType, PushPull, TracedMessage, User, trace_packet, trace_stream
from trio_gossip.wire.messages import Message

MISSING: str | None
try:
    from trio_gossip.wire.dskit import (
        RING_CODEC_ID,
        SNAPPY_ALGO,
        ConnectionType,
        DskitDecodeError,
        DskitPacket,
        InstanceState,
        KeyValuePair,
        compressed_payload,
        decode_kv_pair,
        decode_packet,
        decode_push_pull_state,
        decode_ring_value,
        snappy_decompress_buf,
    )

    MISSING = None
except ImportError:  # pragma: no cover - protobuf and cramjam are the [dskit] extra
    MISSING = "decoding dskit traffic needs protobuf and cramjam: pip install 'trio-gossip[dskit]'"

SNAPPY_LAYER = "compress(snappy)"
PACKET_LAYER = "dskitPacket"
STREAM_LAYER = "dskitStream"

# What memberlist's stream dialer writes first (net.go sendLocalState, rawSendMsgStream,
# sendPingAndWaitForAck; label.go for the label header): after dskit's stream type byte.
_STREAM_STARTS = frozenset(
    {
        MessageType.PING,
        MessageType.PUSH_PULL,
        MessageType.USER,
        MessageType.COMPRESS,
        MessageType.ENCRYPT,
        MessageType.HAS_LABEL,
    }
)
# tcp_transport.go writeTo: the advertised address is "host:port" (net.JoinHostPort).
_ADDRESS = re.compile(rb"[\x21-\x7e]+:[0-9]{1,5}")
_DIGEST_SIZE = 16


def opener_kind(data: bytes) -> int | None:
    """1 (packet) or 2 (stream) when ``data`` reads as the start of a dskit connection, else None.

    Strict enough to tell dskit apart from memberlist's own streams, whose dialer never starts
    with 1 (indirectPing) or 2 (ack): a packet needs a printable ``host:port`` address and room
    for the digest, a stream a byte after the type that memberlist's stream dialer writes first.
    """
    if len(data) < 2:
        return None
    if data[0] == 1:
        size = data[1]
        address = data[2 : 2 + size]
        if size and _ADDRESS.fullmatch(address) and len(data) >= 2 + size + _DIGEST_SIZE:
            return 1
        return None
    if data[0] == 2 and data[1] in _STREAM_STARTS:
        return 2
    return None


def split_packet(data: bytes) -> DskitPacket:
    """A packet connection's bytes (from the type byte); DskitDecodeError if they do not split.

    A wrong digest is not an error here: dskit's handleConnection logs and counts it but still
    hands the packet to memberlist, so the dissector shows it with a note.
    """
    return decode_packet(data, require_digest=False)


def connection_error(first_byte: int) -> str:
    """Why a connection that was to be read as dskit's does not start like one."""
    return (
        f"not dskit's TCP framing: connection type byte {first_byte}, expected"
        f" {int(ConnectionType.PACKET)} (packet) or {int(ConnectionType.STREAM)} (stream)"
    )


def expand_snappy(traced: list[TracedMessage], *, stream: bool) -> list[TracedMessage]:
    """Decode the snappy compress layers (``Algo`` 1) that the wire tracer leaves undecoded.

    grafana's memberlist fork (compress.go) adds snappy beside hashicorp's LZW, as dskit's
    ``-memberlist.compression-algorithm=snappy`` uses it; the tracer only knows LZW. The
    payload is traced again with the wire tracer, under a ``compress(snappy)`` layer.
    """
    if MISSING is not None:
        return traced
    out: list[TracedMessage] = []
    for t in traced:
        if t.message is not None or not t.path or t.path[-1] != "compress":
            out.append(t)
            continue
        if t.raw[:1] != bytes((MessageType.COMPRESS,)):
            out.append(t)
            continue
        try:
            algo, buf = compressed_payload(t.raw[1:])
            if algo != SNAPPY_ALGO:
                out.append(t)
                continue
            inner = snappy_decompress_buf(buf)
        except DskitDecodeError as exc:
            out.append(attrs.evolve(t, error=f"{t.error} ({exc})"))
            continue
        inside = trace_stream(inner) if stream else trace_packet(inner)
        path = (*t.path[:-1], SNAPPY_LAYER)
        out.extend(attrs.evolve(i, path=(*path, *i.path)) for i in inside)
    return out


def _entry(pair: KeyValuePair) -> KvEntry:
    entry = KvEntry(pair.key, pair.codec, pair.value, pair.deleted, pair.update_time_millis)
    if pair.codec != RING_CODEC_ID:
        return entry
    try:
        return attrs.evolve(entry, ring=decode_ring_value(pair.value))
    except DskitDecodeError as exc:
        return attrs.evolve(entry, error=str(exc))


def read_kv(message: Message | None) -> tuple[tuple[KvEntry, ...] | None, str | None]:
    """The KeyValuePairs of a dskit KV message, and why reading them stopped, if it did.

    A user message is one broadcast (memberlist_client.go ``NotifyMsg``); a push/pull's user
    state is the KV's full state (``MergeRemoteState``, which keeps the records before a bad
    one). Other messages carry no KV: (None, None).
    """
    if MISSING is not None:
        return None, None
    if isinstance(message, User):
        try:
            pair = decode_kv_pair(message.payload)
        except DskitDecodeError as exc:
            return (), str(exc)
        return (_entry(pair),), None
    if isinstance(message, PushPull):
        if not message.user_state:
            return (), None  # memberlist sends no user state when the delegate has none
        state = decode_push_pull_state(message.user_state)
        error = None if state.error is None else str(state.error)
        return tuple(_entry(p) for p in state.pairs), error
    return None, None


def with_kv(record: Record) -> Record:
    """The record with the dskit KV pairs its message carries, if it carries any."""
    kv, error = read_kv(record.message)
    if kv is None:
        return record
    return attrs.evolve(record, kv=kv, kv_error=error)


def state_name(state: int) -> str:
    """ring.proto's name of an instance state (the number for one it does not name)."""
    if MISSING is None and state in InstanceState._value2member_map_:
        return InstanceState(state).name
    return str(state)


# --- how each ring instance changed over the capture ----------------------------------------


@attrs.define
class InstanceHistory:
    """One instance of one ring key, as the capture's KV messages showed it over time.

    A view replaces the latest one as dskit's ring merge would take it (ring/model.go
    ``Desc.mergeWithTime``): with a newer heartbeat timestamp, or LEFT with the same one. A
    message carrying an older view, gossip arriving late, changes nothing.
    """

    key: str
    instance: str
    first_frame: int
    state: str
    zone: str
    addr: str
    tokens: int
    heartbeat: int  # Unix seconds of the newest view
    heartbeats: set[int] = attrs.Factory(set)
    changes: list[tuple[int, str]] = attrs.Factory(list)  # (frame, state) at each change


def ring_history(records: Iterable[Record]) -> list[InstanceHistory]:
    """Every ring instance the capture's KV messages mention, by key, then instance id."""
    seen: dict[tuple[str, str], InstanceHistory] = {}
    for record in records:
        for entry in record.kv or ():
            if entry.ring is None:
                continue
            for name, inst in entry.ring.instances.items():
                state = state_name(inst.state)
                h = seen.get((entry.key, name))
                if h is None:
                    h = InstanceHistory(
                        entry.key, name, record.frame, state, inst.zone, inst.addr,
                        len(inst.tokens), inst.timestamp, {inst.timestamp}, [(record.frame, state)],
                    )  # fmt: skip
                    seen[entry.key, name] = h
                    continue
                h.heartbeats.add(inst.timestamp)
                newer = inst.timestamp > h.heartbeat
                left = inst.timestamp == h.heartbeat and state == "LEFT" != h.state
                if not (newer or left):
                    continue
                if state != h.state:
                    h.changes.append((record.frame, state))
                h.heartbeat = inst.timestamp
                h.state, h.zone, h.addr, h.tokens = state, inst.zone, inst.addr, len(inst.tokens)
    return [seen[k] for k in sorted(seen)]
