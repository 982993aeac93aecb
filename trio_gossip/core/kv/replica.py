"""One node's replica of the KV store as an immutable value, and what it sends.

The replica lives inside the node's engine state (``EngineState.kv``); the engine's KV
handlers (``core/engine/kv.py``) are its only writer. Entries are ``Entry`` snapshots in a
persistent map, so a reader holding an old replica never sees it change.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import attrs
import immutables

from trio_gossip.core.kv.codec import CodecRegistry
from trio_gossip.core.kv.entry import Entry
from trio_gossip.core.kv.label import MAGIC as LABEL_MAGIC
from trio_gossip.core.kv.label import add_label, strip_label
from trio_gossip.core.kv.message import MAGIC as PAIR_MAGIC
from trio_gossip.core.kv.message import KeyValuePair, MessageFormat, encode_state
from trio_gossip.core.kv.settings import KVSettings
from trio_gossip.core.membership.member import Member
from trio_gossip.wire.errors import DecodeError, GossipError

COMBINED_MAGIC = b"KC"  # | len(4) | KV state | the application's own push/pull state
EXCHANGE_MAGIC = b"KS"  # | flag (1: send yours back) | name length | name | KV state
_LENGTH = struct.Struct(">I")


class KeyDeletedError(GossipError):
    """The key was deleted; it cannot be written until the deletion is forgotten."""


@attrs.frozen
class KVContext:
    """What the engine needs to run a replica; fixed while the node runs.

    ``peer_filter`` None: every member runs the KV, so its changes ride memberlist's gossip
    packets and its state rides the push/pull. Set (an agent beside Serf agents, which log an
    error for every byte of it): KV changes go only to members the filter accepts, as their
    own packets each gossip round, and the state travels as an ``EXCHANGE_MAGIC`` message over
    a stream (to each new KV peer, and to one of them every push/pull interval).
    """

    codecs: CodecRegistry
    settings: KVSettings
    packet_budget: int  # bytes a change may have to ride one gossip packet
    peer_filter: Callable[[Member], bool] | None = None
    # None: our own msgpack format (core/kv/format.py MSGPACK_FORMAT).
    message_format: MessageFormat | None = None


@attrs.frozen(slots=True)
class KVCounters:
    """The replica's protocol counters (dskit's ``memberlist_client_*`` names)."""

    received_broadcasts: int = 0
    received_broadcasts_bytes: int = 0
    received_broadcasts_invalid: int = 0
    received_broadcasts_duplicate: int = 0
    state_pushes: int = 0
    state_pushes_bytes: int = 0
    cas_attempts: int = 0
    cas_successes: int = 0
    cas_failures: int = 0
    changes_applied: int = 0
    broadcasts_superseded: int = 0
    broadcasts_dropped: int = 0
    tombstones_removed: int = 0


SEEN_MESSAGES = 1024
"""Recent messages remembered to drop repeats undecoded: every node forwards each change it
applies, so each one arrives several times; this holds a few rounds of gossip."""

_NO_ENTRIES: immutables.Map[str, Entry] = immutables.Map()
_NO_SEEN: immutables.Map[bytes, int] = immutables.Map()
_NO_LOG: immutables.Map[int, bytes] = immutables.Map()


@attrs.frozen(slots=True)
class Replica:
    entries: immutables.Map[str, Entry] = _NO_ENTRIES
    version: int = 0  # store-wide change counter; entries carry it as their version
    seen: immutables.Map[bytes, int] = _NO_SEEN  # message -> its number in seen_log
    seen_log: immutables.Map[int, bytes] = _NO_LOG  # a FIFO of the last SEEN_MESSAGES
    seen_next: int = 0
    peers: frozenset[str] = frozenset()  # KV peers greeted with our state (peer_filter set)
    next_exchange: float = 0.0  # when to send our state to a random KV peer (likewise)
    counters: KVCounters = KVCounters()

    def remember(self, message: bytes) -> Replica:
        """This replica with ``message`` in the recent-message cache (oldest one out)."""
        n = self.seen_next
        seen, log = self.seen.set(message, n), self.seen_log.set(n, message)
        old = log.get(n - SEEN_MESSAGES)
        if old is not None:
            log = log.delete(n - SEEN_MESSAGES)
            if seen.get(old) == n - SEEN_MESSAGES:
                seen = seen.delete(old)
        return attrs.evolve(self, seen=seen, seen_log=log, seen_next=n + 1)


def is_kv_payload(payload: bytes) -> bool:
    """Whether a user message is the KV's: a change (``kv``, or ``KL`` with a label) or a
    state exchange (``KS``). Serf's messages start with a type byte below 0x20."""
    return payload[:2] in (PAIR_MAGIC, LABEL_MAGIC, EXCHANGE_MAGIC)


def unlabel(settings: KVSettings, data: bytes) -> bytes:
    return strip_label(data, settings.label_bytes,
                       verify=not settings.cluster_label_verification_disabled)  # fmt: skip


def encode_replica(replica: Replica, ctx: KVContext) -> bytes:
    """Every key for a push/pull (empty when there is none); ValueError past the limits."""
    entries = replica.entries
    if not entries:
        return b""
    codecs = ctx.codecs
    pairs = [
        KeyValuePair(key, e.codec, b"" if e.deleted else e.encoded(codecs), e.deleted, e.updated_at)
        for key, e in entries.items()
    ]
    limit = ctx.settings.max_message_bytes
    if ctx.message_format is not None:
        data = ctx.message_format.encode_state(pairs, max_size=limit)
    else:
        data = encode_state(pairs, max_size=limit)
    return add_label(data, ctx.settings.label_bytes)


def combine(kv_state: bytes, app_state: bytes) -> bytes:
    """One push/pull user state holding both (the application's alone when ours is empty)."""
    if not kv_state:
        return app_state
    return COMBINED_MAGIC + _LENGTH.pack(len(kv_state)) + kv_state + app_state


def split(user_state: bytes) -> tuple[bytes, bytes]:
    """(KV state, the application's state) from a push/pull user state."""
    if user_state[:2] != COMBINED_MAGIC:
        if is_kv_payload(user_state):
            return user_state, b""
        return b"", user_state
    if len(user_state) < 6:
        raise DecodeError("combined push/pull state is truncated")
    (size,) = _LENGTH.unpack_from(user_state, 2)
    if len(user_state) < 6 + size:
        raise DecodeError("combined push/pull state is truncated")
    return user_state[6 : 6 + size], user_state[6 + size :]


def encode_exchange(me: str, kv_state: bytes, *, reply: bool) -> bytes:
    name = me.encode("utf-8", "surrogateescape")[:255]
    return EXCHANGE_MAGIC + bytes((1 if reply else 0, len(name))) + name + kv_state


def decode_exchange(message: bytes) -> tuple[str, bool, bytes]:
    """(sender, whether it wants ours back, its KV state)."""
    if len(message) < 4 or len(message) < 4 + message[3]:
        raise DecodeError("kv: truncated state exchange")
    size = message[3]
    sender = message[4 : 4 + size].decode("utf-8", "surrogateescape")
    return sender, message[2] == 1, message[4 + size :]
