"""A last-writer-wins map of byte strings: the simplest useful `Mergeable` with tombstones.

Each key holds a value (or a tombstone, ``None``) stamped with a `Version`; the higher
stamp wins, and on an exact tie a tombstone wins, then the larger value, so every node
settles on the same entry whatever order the messages came in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from trio_gossip.core.kv.codec import MsgpackCodec
from trio_gossip.core.kv.frozenmap import frozen, updated
from trio_gossip.core.kv.hlc import Version, version_from_plain, version_to_plain
from trio_gossip.core.kv.mergeable import MergeResult
from trio_gossip.wire.errors import DecodeError


@attrs.frozen
class LWWEntry:
    value: bytes | None  # None is a tombstone
    version: Version

    def beats(self, other: LWWEntry) -> bool:
        if self.version != other.version:
            return self.version > other.version
        return self._tie_key() > other._tie_key()

    def _tie_key(self) -> tuple[bool, bytes]:
        return (self.value is None, self.value or b"")


def _frozen_entries(entries: Mapping[str, LWWEntry]) -> Mapping[str, LWWEntry]:
    return frozen(entries)


@attrs.frozen
class LWWMap:
    entries: Mapping[str, LWWEntry] = attrs.field(factory=dict, converter=_frozen_entries)

    def get(self, key: str) -> bytes | None:
        entry = self.entries.get(key)
        return None if entry is None else entry.value

    def put(self, key: str, value: bytes, *, now: float, writer: str) -> LWWMap:
        return self._stamp(key, value, now, writer)

    def delete(self, key: str, *, now: float, writer: str) -> LWWMap:
        return self._stamp(key, None, now, writer)

    def _stamp(self, key: str, value: bytes | None, now: float, writer: str) -> LWWMap:
        old = self.entries.get(key)
        version = (old.version if old else Version.ZERO).next(now, writer)
        return LWWMap(updated(self.entries, {key: LWWEntry(value, version)}))

    def merge(
        self, other: LWWMap, *, local_cas: bool = False, horizon: float | None = None
    ) -> MergeResult[LWWMap]:
        changed: dict[str, LWWEntry] = {}
        for key, theirs in other.entries.items():
            ours = self.entries.get(key)
            if ours is None:
                if horizon is None or theirs.version.seconds >= horizon:
                    changed[key] = theirs
            elif theirs.beats(ours):
                changed[key] = theirs
            elif local_cas and theirs.value != ours.value:
                # The local CAS asked for this value: make it win without a clock.
                changed[key] = LWWEntry(theirs.value, ours.version.bump())
        if local_cas:
            for key, ours in self.entries.items():
                if key not in other.entries and ours.value is not None:
                    changed[key] = LWWEntry(None, ours.version.bump())
        if not changed:
            return MergeResult(self, None)
        return MergeResult(LWWMap(updated(self.entries, changed)), LWWMap(changed))

    def remove_tombstones(self, horizon: float) -> tuple[LWWMap, int]:
        kept = {
            k: e
            for k, e in self.entries.items()
            if e.value is not None or e.version.seconds >= horizon
        }
        removed = len(self.entries) - len(kept)
        return (LWWMap(kept) if removed else self), removed

    def merge_content(self) -> frozenset[str]:
        return frozenset(self.entries)


def _to_plain(value: LWWMap) -> dict[str, list[object]]:
    return {k: [e.value, *version_to_plain(e.version)] for k, e in value.entries.items()}


def _from_plain(plain: Any) -> LWWMap:
    if type(plain) is not dict:
        raise DecodeError("lww map: not a map")
    entries = {}
    for key, item in plain.items():
        if type(key) is not str:
            raise DecodeError("lww map: a key is not a string")
        if type(item) is not tuple or len(item) != 4:
            raise DecodeError("lww map: entry is not [value, ms, logical, writer]")
        value = item[0]
        if value is not None and type(value) is not bytes:
            raise DecodeError("lww map: value is neither binary nor nil")
        entries[key] = LWWEntry(value, version_from_plain(item[1:]))
    return LWWMap(entries)


LWW_CODEC: MsgpackCodec[LWWMap] = MsgpackCodec("lww", _to_plain, _from_plain)
