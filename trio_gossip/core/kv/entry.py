"""One key's stored state, replaced whole on every change, and the store's counters."""

from __future__ import annotations

import math
from typing import Any

import attrs

from trio_gossip.core.kv.codec import CodecRegistry

_UNSET: Any = object()


@attrs.frozen(eq=False)
class Entry:
    """An immutable snapshot of one key: readers hold it without locks.

    `version` is local (dskit's per-node ``Version``): the store-wide change counter when
    this snapshot was made. It is never sent; CAS and broadcast invalidation use it.
    `updated_at` is when this node last changed it (for a deleted key: when it learned of
    the deletion, which starts the obsolete-entry timer).
    """

    codec: str
    value: Any
    version: int
    deleted: bool = False
    updated_at: float = 0.0
    _view: Any = attrs.field(default=_UNSET, init=False, repr=False)
    _encoded: bytes | None = attrs.field(default=None, init=False, repr=False)

    def view(self) -> Any:
        """The value without tombstones (what readers get), computed once per snapshot."""
        if self._view is _UNSET:
            view = None if self.deleted else self.value.remove_tombstones(math.inf)[0]
            object.__setattr__(self, "_view", view)
        return self._view

    def encoded(self, codecs: CodecRegistry) -> bytes:
        """The full value encoded (push/pull sends it), computed once per snapshot."""
        if self._encoded is None:
            object.__setattr__(self, "_encoded", codecs[self.codec].encode(self.value))
        assert self._encoded is not None
        return self._encoded


@attrs.frozen
class KVStatistics:
    """A point-in-time copy of a store's counters (dskit's ``memberlist_client_*`` names)."""

    received_broadcasts: int
    received_broadcasts_bytes: int
    received_broadcasts_invalid: int  # undecodable, wrong label, unknown codec, bad merge
    received_broadcasts_duplicate: int  # byte-identical to a recent one: dropped undecoded
    state_pushes: int  # push/pull states we merged
    state_pushes_bytes: int
    state_pulls: int  # push/pull states we produced
    state_pulls_bytes: int
    cas_attempts: int
    cas_successes: int
    cas_failures: int
    changes_applied: int  # merges that changed something, local or remote
    broadcasts_superseded: int
    broadcasts_dropped: int  # too big to encode, or over the queue limit
    stream_sends: int  # changes sent over streams because they exceed a packet
    stream_send_failures: int
    tombstones_removed: int
    keys: int  # gauge
    local_queue: int  # gauge: our own changes waiting to be gossiped
    gossip_queue: int  # gauge: forwarded changes waiting
    stream_queue: int  # gauge: changes too big for a packet, waiting for a stream
    pending_notifications: int  # gauge
