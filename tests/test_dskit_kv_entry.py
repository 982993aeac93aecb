"""dskit's KV entry rules (memberlist_client.go mergeValueForKey), pure: CAS versions, localCAS
tombstones, deleted flags, and tombstone-only changes that are stored but never forwarded."""

from __future__ import annotations

import pytest

from trio_gossip.core.dskit.kv_entry import (
    ValueEntry,
    VersionMismatchError,
    merge_value_for_key,
    reader_view,
)
from trio_gossip.wire.dskit import Desc, InstanceDesc, InstanceState

NOW = 10_000.0
A = InstanceDesc(addr="a:1", timestamp=9_990, tokens=(1, 2), id="a")
B = InstanceDesc(addr="b:1", timestamp=9_990, tokens=(3,), id="b")


def test_first_value_is_stored_as_received_and_gossiped_whole() -> None:
    ring = Desc({"a": A})
    update = merge_value_for_key(None, ring, now=NOW)
    assert update.entry == ValueEntry(ring, version=1)
    assert update.change == ring


def test_local_cas_checks_the_version_and_tombstones_what_is_missing() -> None:
    entry = ValueEntry(Desc({"a": A, "b": B}), version=4)
    with pytest.raises(VersionMismatchError):
        merge_value_for_key(entry, Desc({"a": A}), now=NOW, cas_version=3)
    update = merge_value_for_key(entry, Desc({"a": A}), now=NOW, cas_version=4)
    assert update.entry is not None
    assert update.entry.version == 5
    left = InstanceDesc(addr="b:1", timestamp=10_000, state=InstanceState.LEFT, id="b")
    assert update.entry.value.instances["b"] == left
    assert update.change == Desc({"b": left})
    assert reader_view(update.entry) == Desc({"a": A})


def test_no_change_keeps_the_entry_and_sends_nothing() -> None:
    entry = ValueEntry(Desc({"a": A}), version=2)
    update = merge_value_for_key(entry, Desc({"a": A}), now=NOW)
    assert update.entry is entry
    assert update.change is None


def test_old_tombstones_are_stored_but_not_forwarded() -> None:
    entry = ValueEntry(Desc({"a": A}), version=2)
    old_left = InstanceDesc(timestamp=1_000, state=InstanceState.LEFT)
    update = merge_value_for_key(entry, Desc({"x": old_left}), now=NOW)
    assert update.change is None
    assert update.entry is not None
    assert update.entry.version == 2
    assert update.entry.value == Desc({"a": A})  # the old tombstone was merged, then dropped


def test_deleted_flag() -> None:
    assert merge_value_for_key(None, Desc(), now=NOW, deleted=True).entry is None
    entry = ValueEntry(Desc({"a": A}), version=1, update_time_millis=5)
    update = merge_value_for_key(entry, Desc(), now=NOW, deleted=True, update_time_millis=6)
    assert update.entry == ValueEntry(Desc({"a": A}), 2, deleted=True, update_time_millis=6)
    assert update.change == Desc({"a": A})  # only the flag changed: the whole value goes out
    stale = merge_value_for_key(entry, Desc(), now=NOW, deleted=True, update_time_millis=4)
    assert stale.change is None
