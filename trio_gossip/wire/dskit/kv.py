"""dskit's memberlist KV messages: the KeyValuePair and the push/pull state.

A broadcast (a memberlist user message) is one marshalled ``KeyValuePair``
(kv/memberlist/memberlist_client.go broadcastNewValue). The push/pull state is a sequence of
``[4-byte big-endian length][marshalled KeyValuePair]`` records (LocalState), read back by
MergeRemoteState, which stops at the first record it cannot parse and keeps what came before.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass

from trio_gossip.wire.dskit.errors import DskitDecodeError
from trio_gossip.wire.dskit.proto import dskit_kv_pb2

_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1
_U32_MAX = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class KeyValuePair:
    """kv.proto KeyValuePair: a key, its codec-encoded value (full state or change) and codec ID."""

    key: str
    value: bytes
    codec: str
    deleted: bool = False
    update_time_millis: int = 0
    """Milliseconds since the Unix epoch of the key's last update; 0 means unknown."""


@dataclass(frozen=True, slots=True)
class PushPullState:
    """The records of one push/pull state, and the error that stopped reading, if any.

    MergeRemoteState merges every record before a bad one, so ``pairs`` is still meaningful
    when ``error`` is set.
    """

    pairs: tuple[KeyValuePair, ...]
    error: DskitDecodeError | None = None


def _text(raw: bytes) -> str:
    # gogo's Unmarshal copies string bytes without a UTF-8 check; keep them all.
    return raw.decode("utf-8", "surrogateescape")


def _raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def encode_kv_pair(pair: KeyValuePair) -> bytes:
    """The pair as kv.pb.go KeyValuePair.Marshal writes it (byte for byte)."""
    if not _I64_MIN <= pair.update_time_millis <= _I64_MAX:
        raise ValueError(f"update_time_millis {pair.update_time_millis} is not an int64")
    msg = dskit_kv_pb2.KeyValuePair(
        key=_raw(pair.key),
        value=pair.value,
        codec=_raw(pair.codec),
        deleted=pair.deleted,
        update_time_millis=pair.update_time_millis,
    )
    return msg.SerializeToString()


def decode_kv_pair(data: bytes) -> KeyValuePair:
    """One marshalled KeyValuePair; DskitDecodeError if it is not valid protobuf."""
    try:
        msg = dskit_kv_pb2.KeyValuePair.FromString(data)
    except Exception as exc:  # google.protobuf.message.DecodeError and binding errors
        raise DskitDecodeError(f"KeyValuePair: {exc}") from None
    return KeyValuePair(
        key=_text(msg.key),
        value=msg.value,
        codec=_text(msg.codec),
        deleted=msg.deleted,
        update_time_millis=msg.update_time_millis,
    )


def decode_broadcast(data: bytes, codecs: Set[str]) -> KeyValuePair:
    """A received KV broadcast, checked as memberlist_client.go NotifyMsg checks it.

    DskitDecodeError for bad protobuf, an empty key, or a codec ID not in ``codecs`` (dskit counts
    all three as invalid received broadcasts and drops them).
    """
    pair = decode_kv_pair(data)
    if not pair.key:
        raise DskitDecodeError("KeyValuePair: empty key")
    if pair.codec not in codecs:
        raise DskitDecodeError(f"KeyValuePair: unknown codec {pair.codec!r}")
    return pair


def encode_push_pull_state(pairs: Iterable[KeyValuePair]) -> bytes:
    """The KV's full state as LocalState writes it: length-prefixed KeyValuePairs."""
    out = bytearray()
    for pair in pairs:
        ser = encode_kv_pair(pair)
        if len(ser) > _U32_MAX:
            raise ValueError(f"KeyValuePair for {pair.key!r} is too long ({len(ser)} bytes)")
        out += len(ser).to_bytes(4, "big")
        out += ser
    return bytes(out)


def decode_push_pull_state(data: bytes) -> PushPullState:
    """The records of a push/pull state, read as MergeRemoteState reads them.

    Never raises: a record cut short or not valid protobuf ends the reading and is reported in
    ``error``, after the records read before it. Records with an unknown codec are returned too;
    MergeRemoteState skips them (the caller checks ``pair.codec``).
    """
    pairs: list[KeyValuePair] = []
    view = memoryview(data)
    offset = 0
    while offset < len(view):
        if len(view) - offset < 4:
            return PushPullState(
                tuple(pairs),
                DskitDecodeError(f"not enough data left for another KV Pair: {len(view) - offset}"),
            )
        length = int.from_bytes(view[offset : offset + 4], "big")
        offset += 4
        if len(view) - offset < length:
            return PushPullState(
                tuple(pairs),
                DskitDecodeError(
                    f"not enough data left for next KV Pair, expected {length}, "
                    f"remaining {len(view) - offset} bytes"
                ),
            )
        try:
            pairs.append(decode_kv_pair(bytes(view[offset : offset + length])))
        except DskitDecodeError as exc:
            return PushPullState(tuple(pairs), DskitDecodeError(f"failed to parse KV Pair: {exc}"))
        offset += length
    return PushPullState(tuple(pairs))
