"""One node, two delegates: a KV store next to another delegate (an agent's Serf delegate).

memberlist takes one Delegate per node. `with_kv(inner, kv)` returns one that hands the
KV store what is the store's and everything else to `inner`:

- user messages and push/pull states are told apart by their first bytes (a KV message
  starts with its magic ``kv`` or its label header ``KL``; Serf's start with a message
  type byte below 0x20), so each side only ever sees its own;
- broadcasts: the inner delegate's first, then the store's in the space left;
- push/pull: the store's state, followed by the inner one's behind a length prefix
  (``b"KC" | len(4) | kv state | inner state``), so both survive the exchange;
- metadata and every optional hook (events, alive, merge, conflicts, ping) go to `inner`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from trio_gossip.core.kv.label import MAGIC as LABEL_MAGIC
from trio_gossip.core.kv.message import MAGIC as KV_MAGIC
from trio_gossip.shell.node.delegate import Delegate
from trio_gossip.wire.errors import DecodeError

if TYPE_CHECKING:
    from trio_gossip.shell.kv.store import KVStore

STATE_MAGIC = b"KC"
_LENGTH = struct.Struct(">I")


def is_kv_message(data: bytes) -> bool:
    head = data[:2]
    return head in (KV_MAGIC, LABEL_MAGIC)


class KVWithDelegate:
    """A Delegate that serves a KV store and another delegate (see the module docstring)."""

    def __init__(self, inner: Delegate, kv: KVStore) -> None:
        self.inner = inner
        self.kv = kv

    def __getattr__(self, name: str) -> Callable[..., Any]:
        # The optional hooks (notify_event, notify_alive, ...) are the inner delegate's.
        value: Callable[..., Any] = getattr(self.inner, name)
        return value

    def node_meta(self, limit: int) -> bytes:
        return self.inner.node_meta(limit)

    def notify_msg(self, message: bytes) -> None:
        if is_kv_message(message):
            self.kv.notify_msg(message)
        else:
            self.inner.notify_msg(message)

    def get_broadcasts(self, overhead: int, limit: int) -> list[bytes]:
        parts = self.inner.get_broadcasts(overhead, limit)
        used = sum(len(p) + overhead for p in parts)
        if limit - used > overhead:
            parts.extend(self.kv.get_broadcasts(overhead, limit - used))
        return parts

    def local_state(self, join: bool) -> bytes:
        ours = self.kv.local_state(join)
        theirs = self.inner.local_state(join)
        if not ours:
            return theirs
        return STATE_MAGIC + _LENGTH.pack(len(ours)) + ours + theirs

    def merge_remote_state(self, buf: bytes, join: bool) -> None:
        if buf[:2] != STATE_MAGIC:
            if is_kv_message(buf):
                self.kv.merge_remote_state(buf, join)
            elif buf:
                self.inner.merge_remote_state(buf, join)
            return
        if len(buf) < 6:
            raise DecodeError("combined push/pull state is truncated")
        (size,) = _LENGTH.unpack_from(buf, 2)
        if len(buf) < 6 + size:
            raise DecodeError("combined push/pull state is truncated")
        self.kv.merge_remote_state(buf[6 : 6 + size], join)
        rest = buf[6 + size :]
        if rest:
            self.inner.merge_remote_state(rest, join)


def with_kv(inner: Delegate, kv: KVStore) -> KVWithDelegate:
    """`inner` and `kv` as one delegate for ``open_memberlist(..., delegate=...)``."""
    return KVWithDelegate(inner, kv)
