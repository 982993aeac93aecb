"""A bounded history of the KV messages a store sent and received, for a status page.

dskit keeps the same for its memberlist page (kv/memberlist/memberlist_client.go,
``addSentMessage``, ``addReceivedMessage`` and ``addMessageToBuffer``, sized by
``-memberlist.message-history-buffer-bytes``, 0 = off): two buffers, each holding the newest
messages whose sizes add up to at most the limit.

Nothing here runs in the engine: the history reads the node's latest snapshot, when the store
tells it a key changed (from the writer, so a queued change is seen before gossip takes it)
and when a reader or its `run` task asks. Each look costs O(messages since the last one).

- Sent: the KV changes queued since the last look, from the transmit queue's KV lanes. dskit
  records a change when it queues it too (``broadcastNewValue``). A change superseded within
  one writer batch (two changes of one key) was never sent and is not listed.
- Received: the messages the engine remembered since the last look (``Replica.seen_log``,
  every first arrival that decoded). Repeats, dropped undecoded, are not listed; a message that
  changed nothing is stamped when it is noticed (the next change or look, at most `run`'s
  interval later).
- Push/pull: every key of a full state we sent or received, one entry per key, on lane
  "push/pull" (dskit adds them in ``LocalState`` and ``MergeRemoteState``): the state inside
  memberlist's push/pull, or the store's own state exchange over a stream when it gossips with
  its own peers only.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

import attrs
import trio

from trio_gossip.core.engine.queue import KV_FORWARDED, KV_OWN, KV_STREAM
from trio_gossip.core.kv.format import MSGPACK_FORMAT
from trio_gossip.core.kv.label import add_label
from trio_gossip.core.kv.message import KeyValuePair
from trio_gossip.core.kv.replica import EXCHANGE_MAGIC, SEEN_MESSAGES, decode_exchange, unlabel
from trio_gossip.wire.errors import DecodeError

if TYPE_CHECKING:
    from trio_gossip.shell.kv.store import KVStore

log = logging.getLogger("trio_gossip.kv.history")

LANES = {KV_OWN: "own", KV_FORWARDED: "forwarded", KV_STREAM: "stream"}
PUSH_PULL = "push/pull"


@attrs.frozen
class KVMessage:
    """One message as it went out or came in."""

    id: int  # local, shared by both buffers (dskit's Message.ID)
    time: float  # wall-clock seconds: when it was queued, or noticed
    message: bytes  # the bytes on the wire (cluster label included)
    version: int  # the store version: the one it reflects (sent), or when noticed (received)
    # "own", "forwarded" or "stream" (sent: too big for a packet), "push/pull" (either way:
    # one key of a full state), "" (received by gossip)
    lane: str = ""
    changes: tuple[str, ...] | None = None  # sent: the records it carries; None for a deletion

    @property
    def size(self) -> int:
        return len(self.message)


class MessageBuffer:
    """The newest messages whose sizes add up to at most ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._messages: collections.deque[KVMessage] = collections.deque()

    def add(self, message: KVMessage) -> None:
        # dskit's addMessageToBuffer: append, then drop the oldest until it fits.
        self._messages.append(message)
        self.size += message.size
        while self._messages and self.size > self.limit:
            self.size -= self._messages.popleft().size

    def __iter__(self) -> Iterator[KVMessage]:
        return iter(self._messages)

    def __len__(self) -> int:
        return len(self._messages)


class MessageHistory:
    """The sent and received KV messages of one store, ``limit`` bytes for each."""

    def __init__(self, store: KVStore, limit: int) -> None:
        if limit <= 0:
            raise ValueError("a message history needs a buffer of at least one byte")
        self.store = store
        self.sent = MessageBuffer(limit)
        self.received = MessageBuffer(limit)
        self._next_id = 1
        self._next_item = 0  # the transmit queue's item ids below this were looked at
        self._next_seen = 0  # likewise the replica's seen_log numbers

    @classmethod
    def watch(cls, store: KVStore, limit: int) -> MessageHistory:
        """A history of `store`, told of every change from now on."""
        history = cls(store, limit)
        store.observer = history
        return history

    def key_changed(self, key: str) -> None:
        # Called from the node's writer: a bug here must not stop the node.
        try:
            self.sync()
        except Exception:
            log.exception("kv message history: could not record a change of %r", key)

    def sync(self) -> None:
        """Record what was queued and remembered since the last look."""
        store = self.store
        now = store.now()
        replica = store.replica
        queue = store.transmit_queue
        if queue is not None:
            for item_id in range(max(self._next_item, 0), queue.next_id):
                item = queue.items.get(item_id)
                if item is not None and item.lane in LANES:
                    changes = None if item.content is None else tuple(sorted(item.content))
                    self.sent.add(self._record(now, item.message, item.version,
                                               LANES[item.lane], changes))  # fmt: skip
            self._next_item = queue.next_id
        first = max(self._next_seen, replica.seen_next - SEEN_MESSAGES)
        for n in range(first, replica.seen_next):
            message = replica.seen_log.get(n)
            if message is not None:
                self.received.add(self._record(now, message, replica.version, "", None))
        self._next_seen = replica.seen_next

    def state_exchanged(self, payload: bytes, *, sent: bool, stream: bool = False) -> None:
        # Called from a stream task: a bug here must not end the push/pull.
        try:
            self._record_state(payload, sent=sent, stream=stream)
        except Exception:
            log.exception("kv message history: could not record a push/pull state")

    def _record_state(self, payload: bytes, *, sent: bool, stream: bool) -> None:
        store = self.store
        fmt = store.message_format or MSGPACK_FORMAT
        settings = store.settings
        try:
            if stream:
                # Our own format's state exchange (the store gossips with its own peers only,
                # so its state cannot ride in memberlist's push/pull); anything else on a
                # stream is a single change, listed from the queue and the replica.
                if store.message_format is not None or payload[:2] != EXCHANGE_MAGIC:
                    return
                _, _, kv_state = decode_exchange(payload)
            else:
                kv_state, _ = fmt.split(payload)
            if not kv_state:
                return
            pairs = fmt.decode_state(unlabel(settings, kv_state),
                                     max_size=settings.max_message_bytes)  # fmt: skip
        except (DecodeError, ValueError):
            return  # the merge counts and reports a bad state; nothing to list here
        now, version = store.now(), store.replica.version
        buffer = self.sent if sent else self.received
        for pair in pairs:
            message = add_label(fmt.encode_pair(pair, max_size=settings.max_message_bytes),
                                settings.label_bytes)  # fmt: skip
            buffer.add(self._record(now, message, version, PUSH_PULL, self.records(pair)))

    def _record(self, now: float, message: bytes, version: int, lane: str,
                changes: tuple[str, ...] | None) -> KVMessage:  # fmt: skip
        record = KVMessage(self._next_id, now, message, version, lane, changes)
        self._next_id += 1
        return record

    def decode(self, message: KVMessage) -> KeyValuePair | None:
        """The pair a message carries, or None when it does not decode here."""
        store = self.store
        fmt = store.message_format or MSGPACK_FORMAT
        try:
            data = unlabel(store.settings, message.message)
            return fmt.decode_pair(data, max_size=store.settings.max_message_bytes)
        except (DecodeError, ValueError):
            return None

    def records(self, pair: KeyValuePair) -> tuple[str, ...] | None:
        """The record names in a pair's value (``merge_content``), None if it does not decode."""
        if pair.deleted or pair.codec not in self.store.codecs:
            return None
        try:
            value = self.store.codecs.decode(pair.codec, pair.value)
            return tuple(sorted(value.merge_content()))
        except (DecodeError, ValueError, AttributeError):
            return None

    async def run(self, interval: float = 1.0) -> None:
        """Look every `interval` seconds, so that messages that changed nothing are stamped
        close to their arrival."""
        while True:
            await trio.sleep(interval)
            if self.store.running:
                self.sync()
