"""dskit's memberlist KV entry rules for a ring key, pure: memberlist_client.go
``mergeValueForKey`` and ``computeNewValue``.

Every path that changes a key goes through this one function in dskit: a local CAS (with the
version read before calling the CAS function, so that missing instances become tombstones), a
received broadcast and each record of a push/pull state (both with ``cas_version=0``). It
decides what to store, whether the local version goes up and what change to gossip.
"""

from __future__ import annotations

from dataclasses import dataclass

from trio_gossip.core.dskit.merge import merge, remove_tombstones
from trio_gossip.wire.dskit.ring_desc import RING_CODEC_ID, Desc

LEFT_INGESTERS_TIMEOUT = 300.0
"""-memberlist.left-ingesters-timeout: seconds a LEFT tombstone is kept (dskit's default 5m)."""


class VersionMismatchError(Exception):
    """memberlist_client.go errVersionMismatch: the key changed since the CAS read it; retry."""


@dataclass(frozen=True, slots=True)
class ValueEntry:
    """memberlist_client.go ValueDesc for one key. ``version`` is a local counter, never sent;
    ``update_time_millis`` 0 is Go's zero time (unknown)."""

    value: Desc
    version: int = 0
    codec_id: str = RING_CODEC_ID
    deleted: bool = False
    update_time_millis: int = 0


@dataclass(frozen=True, slots=True)
class EntryUpdate:
    """What a merge left: the entry to store (None: the key stays absent), the change to gossip
    (None: nothing, which dskit reports as version 0) and whether the version went up."""

    entry: ValueEntry | None
    change: Desc | None

    @property
    def changed(self) -> bool:
        return self.change is not None


def merge_value_for_key(
    current: ValueEntry | None,
    incoming: Desc,
    *,
    now: float,
    cas_version: int = 0,
    codec_id: str = RING_CODEC_ID,
    deleted: bool = False,
    update_time_millis: int = 0,
    left_ingesters_timeout: float = LEFT_INGESTERS_TIMEOUT,
) -> EntryUpdate:
    """Merge ``incoming`` into the entry of one key as dskit's KV does.

    ``cas_version`` > 0 makes it a local CAS: it must equal the current version (else
    VersionMismatchError) and the merge runs with localCAS. A deleted message for a key we do not
    have is ignored, so that a late message cannot revive it. When the change is empty once old
    tombstones are dropped, the merged value is still kept (dskit merges in place) but nothing
    is gossiped and the version stays.
    """
    if current is None and deleted:
        return EntryUpdate(None, None)
    current_version = current.version if current is not None else 0
    if cas_version > 0 and current_version != cas_version:
        raise VersionMismatchError("version mismatch")

    change: Desc | None
    if current is None:
        result, change = incoming, incoming  # computeNewValue: the value as received
    else:
        merged = merge(current.value, incoming, local_cas=cas_version > 0, now=now)
        result, change = merged.desc, merged.change

    cur_deleted = current.deleted if current is not None else False
    cur_updated = current.update_time_millis if current is not None else 0
    new_deleted, new_updated = cur_deleted, cur_updated
    if (
        deleted
        and update_time_millis != 0
        and (cur_updated == 0 or update_time_millis > cur_updated)
    ):
        new_deleted, new_updated = True, update_time_millis

    if (change is None or not change.instances) and cur_deleted == new_deleted:
        return EntryUpdate(current, None)

    if left_ingesters_timeout > 0:
        limit = now - left_ingesters_timeout
        result = remove_tombstones(result, limit)[0]
        if change is not None:
            change = remove_tombstones(change, limit)[0]
            if not change.instances:
                kept = (
                    None
                    if current is None
                    else ValueEntry(
                        result, current_version, current.codec_id, cur_deleted, cur_updated
                    )
                )
                return EntryUpdate(kept, None)

    if change is None and cur_deleted != new_deleted:
        change = result  # only the deleted flag changed: send the whole value with it
    entry = ValueEntry(result, current_version + 1, codec_id, new_deleted, new_updated)
    return EntryUpdate(entry, change)


def reader_view(entry: ValueEntry | None) -> Desc | None:
    """What dskit's KV Get hands a reader: the value with every tombstone removed."""
    return None if entry is None else remove_tombstones(entry.value, None)[0]
