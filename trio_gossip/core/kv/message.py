"""The KV store's wire format: one key's value (a delta or full state) and the full store.

Both ride inside memberlist: a `KeyValuePair` message is the payload of a user message
(the bytes after the 0x08 type byte), a store state is the push/pull user state.

Layout (all msgpack after a 4-byte header)::

    b"kv" | format (1) | kind | body
    kind 1, pair:  [key: str, codec: str, value: bin, deleted: bool, updated_ms: int]
    kind 2, state: [pair, pair, ...]          (each pair the same 5-element array)

The magic keeps foreign user messages (a Serf event, another library's payload) from being
mistaken for ours: they fail with a DecodeError instead of decoding as garbage. The
format byte lets a later version change the layout without guessing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import attrs

from trio_gossip.core.kv.codec import MAX_CODEC_ID_BYTES, pack, unpack
from trio_gossip.core.kv.hlc import quantize, to_ms
from trio_gossip.wire.errors import DecodeError

MAGIC = b"kv"
FORMAT = 1
KIND_PAIR = 1
KIND_STATE = 2
HEADER_LEN = 4

MAX_KEY_BYTES = 1024
MAX_PAIRS = 65536
# memberlist's own caps on user messages and push/pull state (memberlist net.go, the size
# checks of readUserMsg and readRemoteState).
MAX_MESSAGE_BYTES = 20 * 1024 * 1024

_MAX_MS = 2**63 - 1


@attrs.frozen
class KeyValuePair:
    """One key's encoded value as it travels; `deleted` marks a key-level soft delete."""

    key: str
    codec: str
    value: bytes
    deleted: bool = False
    updated_at: float = attrs.field(default=0.0, converter=quantize)  # s; 0 means unknown


class MessageFormat(Protocol):
    """How KV pairs and push/pull states look on the wire: ours (msgpack, the default, see
    core/kv/format.py) or dskit's KeyValuePair protobuf (core/dskit/kv_format.py). Decoders
    raise only DecodeError; encoders ValueError past ``max_size``."""

    def is_message(self, payload: bytes) -> bool:
        """Whether a memberlist user message belongs to the KV."""
        ...

    def encode_pair(self, pair: KeyValuePair, *, max_size: int) -> bytes: ...

    def decode_pair(self, data: bytes, *, max_size: int) -> KeyValuePair: ...

    def encode_state(self, pairs: Iterable[KeyValuePair], *, max_size: int) -> bytes: ...

    def decode_state(self, data: bytes, *, max_size: int) -> tuple[KeyValuePair, ...]: ...

    def split(self, user_state: bytes) -> tuple[bytes, bytes]:
        """(KV state, the application's state) from a received push/pull user state."""
        ...

    def combine(self, kv_state: bytes, app_state: bytes) -> bytes:
        """The push/pull user state to send."""
        ...


def encode_pair(pair: KeyValuePair, *, max_size: int = MAX_MESSAGE_BYTES) -> bytes:
    """A user-message payload; ValueError if the pair is malformed or over `max_size`."""
    return _frame(KIND_PAIR, _pair_to_plain(pair), max_size)


def decode_pair(data: bytes, *, max_size: int = MAX_MESSAGE_BYTES) -> KeyValuePair:
    body = _unframe(data, KIND_PAIR, max_size)
    return _pair_from_plain(body)


def encode_state(pairs: Iterable[KeyValuePair], *, max_size: int = MAX_MESSAGE_BYTES) -> bytes:
    """Push/pull user state holding every pair; ValueError past the limits."""
    plain = [_pair_to_plain(p) for p in pairs]
    if len(plain) > MAX_PAIRS:
        raise ValueError(f"{len(plain)} keys is over the {MAX_PAIRS} limit")
    return _frame(KIND_STATE, plain, max_size)


def decode_state(data: bytes, *, max_size: int = MAX_MESSAGE_BYTES) -> tuple[KeyValuePair, ...]:
    body = _unframe(data, KIND_STATE, max_size)
    if type(body) is not tuple:
        raise DecodeError("kv state: body is not an array")
    if len(body) > MAX_PAIRS:
        raise DecodeError(f"kv state: {len(body)} keys is over the {MAX_PAIRS} limit")
    pairs = tuple(_pair_from_plain(p) for p in body)
    if len({p.key for p in pairs}) != len(pairs):
        raise DecodeError("kv state: a key appears twice")
    return pairs


def _frame(kind: int, body: object, max_size: int) -> bytes:
    data = MAGIC + bytes((FORMAT, kind)) + pack(body)
    if len(data) > max_size:
        raise ValueError(f"kv message of {len(data)} bytes is over the {max_size} limit")
    return data


def _unframe(data: bytes, kind: int, max_size: int) -> Any:
    if len(data) > max_size:
        raise DecodeError(f"kv message of {len(data)} bytes is over the {max_size} limit")
    if len(data) < HEADER_LEN or data[:2] != MAGIC:
        raise DecodeError("not a kv message (bad magic)")
    if data[2] != FORMAT:
        raise DecodeError(f"kv message format {data[2]} is not supported")
    if data[3] != kind:
        raise DecodeError(f"kv message kind {data[3]}, expected {kind}")
    return unpack(data[HEADER_LEN:], what="kv message")


def _pair_to_plain(pair: KeyValuePair) -> list[object]:
    _check_key(pair.key, ValueError)
    if not pair.codec or len(pair.codec.encode()) > MAX_CODEC_ID_BYTES:
        raise ValueError(f"codec id must be 1..{MAX_CODEC_ID_BYTES} bytes: {pair.codec!r}")
    return [pair.key, pair.codec, bytes(pair.value), pair.deleted, to_ms(pair.updated_at)]


def _pair_from_plain(plain: Any) -> KeyValuePair:
    if type(plain) is not tuple or len(plain) != 5:
        raise DecodeError("kv pair: expected an array of 5")
    key, codec, value, deleted, updated_ms = plain
    if type(key) is not str:
        raise DecodeError("kv pair: key is not a string")
    _check_key(key, DecodeError)
    if type(codec) is not str or not codec or len(codec.encode()) > MAX_CODEC_ID_BYTES:
        raise DecodeError(f"kv pair: bad codec id {codec!r}")
    if type(value) is not bytes:
        raise DecodeError("kv pair: value is not binary")
    if type(deleted) is not bool:
        raise DecodeError("kv pair: deleted is not a bool")
    if type(updated_ms) is not int or not 0 <= updated_ms <= _MAX_MS:
        raise DecodeError(f"kv pair: bad update time {updated_ms!r}")
    return KeyValuePair(key, codec, value, deleted, updated_ms / 1000.0)


def _check_key(key: str, error: type[Exception]) -> None:
    if not key:
        raise error("kv key must not be empty")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise error(f"kv key is over {MAX_KEY_BYTES} bytes")
