"""`Ring`: the hash ring as one immutable KV value (see `merge` for the CRDT rules).

Writes return new rings: `put` (register or change a record), `heartbeat`, `remove` (a
LEFT tombstone). Each stamps the record's next `Version` itself, so callers pass only the
time and who writes. The token index is built on first lookup and handed on to every ring
derived without a topology change, so heartbeats never touch it; after a change to a few
records, the next lookup patches the previous index instead of rebuilding it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

import attrs

from trio_gossip.core.kv.frozenmap import updated
from trio_gossip.core.kv.hlc import Version, quantize
from trio_gossip.core.kv.mergeable import MergeResult
from trio_gossip.core.ring import lookup, shard
from trio_gossip.core.ring.index import PendingIndex, TokenIndex
from trio_gossip.core.ring.instance import InstanceDesc
from trio_gossip.core.ring.lookup import Operation
from trio_gossip.core.ring.merge import (
    RingChange,
    collectable_floor,
    lowered_floor,
    merge_rings,
    remove_tombstones,
    tombstone,
)


def _freeze_instances(value: Mapping[str, InstanceDesc]) -> Mapping[str, InstanceDesc]:
    if isinstance(value, MappingProxyType):
        return value  # built internally, already checked
    for instance_id, desc in value.items():
        if instance_id != desc.id:
            raise ValueError(f"instance stored under {instance_id!r} has id {desc.id!r}")
    return MappingProxyType(dict(value))


def _freeze_heartbeats(value: Mapping[str, float]) -> Mapping[str, float]:
    if isinstance(value, MappingProxyType):
        return value
    return MappingProxyType({i: quantize(t) for i, t in value.items()})


@attrs.frozen
class Ring:
    """Instance records by id (LEFT ones are tombstones) and last heartbeats by id."""

    instances: Mapping[str, InstanceDesc] = attrs.field(factory=dict, converter=_freeze_instances)
    heartbeats: Mapping[str, float] = attrs.field(factory=dict, converter=_freeze_heartbeats)
    # The token index, a recipe to patch an earlier one, or None (build on first use).
    _index: TokenIndex | PendingIndex | None = attrs.field(
        default=None, init=False, eq=False, repr=False
    )
    # A lower bound on the time of anything collectable (see `collectable_floor`), kept up
    # through derived rings so the store's remove_tombstones after each merge is O(1).
    _floor: float | None = attrs.field(default=None, init=False, eq=False, repr=False)

    @classmethod
    def of(
        cls, instances: Iterable[InstanceDesc], heartbeats: Mapping[str, float] | None = None
    ) -> Ring:
        return cls({d.id: d for d in instances}, heartbeats or {})

    @classmethod
    def _derived(
        cls,
        instances: Mapping[str, InstanceDesc],
        heartbeats: Mapping[str, float],
        index: TokenIndex | PendingIndex | None,
        floor: float | None,
    ) -> Ring:
        """A ring with `index` and `floor`; read-only maps are shared, plain dicts copied."""
        ring = cls(instances, heartbeats)
        object.__setattr__(ring, "_index", index)
        object.__setattr__(ring, "_floor", floor)
        return ring

    def _derive(
        self,
        change: RingChange,
        instances: Mapping[str, InstanceDesc],
        heartbeats: Mapping[str, float],
    ) -> Ring:
        """The ring after `change`, which produced `instances` and `heartbeats`."""
        index = self._index_after(change.instances) if change.topology_changed else self._index
        floor = self._floor
        if floor is not None:
            floor = lowered_floor(floor, change, instances, heartbeats)
        return Ring._derived(instances, heartbeats, index, floor)

    # -- reading -------------------------------------------------------------------------

    @property
    def index(self) -> TokenIndex:
        index = self._index
        if not isinstance(index, TokenIndex):
            if index is None:
                index = TokenIndex.build(self.instances)
            else:
                index = index.resolve(self.instances)
            object.__setattr__(self, "_index", index)
        return index

    def _index_after(self, changed: Iterable[str]) -> TokenIndex | PendingIndex | None:
        """The index for a ring derived from this one by changing the records `changed`."""
        index = self._index
        if index is None:
            return None
        if isinstance(index, TokenIndex):
            return PendingIndex(index, frozenset(changed))
        ids = index.ids.union(changed)
        # Past a quarter of the instances a rebuild is as cheap as the patch.
        return PendingIndex(index.base, ids) if len(ids) * 4 <= len(self.instances) else None

    def instance(self, instance_id: str) -> InstanceDesc | None:
        """The live record of `instance_id` (None if unknown or LEFT)."""
        desc = self.instances.get(instance_id)
        return None if desc is None or desc.is_tombstone else desc

    def live(self) -> list[InstanceDesc]:
        """Every record that is not a tombstone, by id."""
        return [d for _, d in sorted(self.instances.items()) if not d.is_tombstone]

    def heartbeat_at(self, instance_id: str) -> float:
        """Last heartbeat in seconds; 0.0 if none was ever seen."""
        return self.heartbeats.get(instance_id, 0.0)

    def is_healthy(
        self, desc: InstanceDesc, op: Operation, *, now: float, heartbeat_timeout: float
    ) -> bool:
        return lookup.is_healthy(self, desc, op, now=now, heartbeat_timeout=heartbeat_timeout)

    def owned_tokens(self, instance_id: str) -> tuple[int, ...]:
        """Tokens `instance_id` owns after conflicts; fewer than it claimed if it lost some."""
        return self.index.owned_tokens(instance_id)

    def taken_tokens(self) -> frozenset[int]:
        """Every token a live instance claims, owned or lost (what a newcomer must avoid)."""
        return frozenset().union(*(d.tokens for d in self.instances.values()))

    def ownership(self, *, per_zone: bool = True) -> dict[str, float]:
        """Fraction of the key space per live instance (0.0 for those owning no token)."""
        owned = self.index.ownership(per_zone=per_zone)
        return {d.id: owned.get(d.id, 0.0) for d in self.live()}

    # The lookup hot path: bound directly, without a forwarding call.
    get = lookup.get

    def get_all_healthy(
        self,
        op: Operation,
        *,
        now: float,
        heartbeat_timeout: float = lookup.DEFAULT_HEARTBEAT_TIMEOUT,
    ) -> tuple[InstanceDesc, ...]:
        return lookup.get_all_healthy(self, op, now=now, heartbeat_timeout=heartbeat_timeout)

    def shuffle_shard(self, identifier: str, size: int, *, zone_awareness: bool = True) -> Ring:
        """The sub-ring of `size` instances for `identifier` (a tenant); see `shard`."""
        ids, sub_index = shard.select(self.index, self.instances, identifier, size, zone_awareness)
        instances = {i: self.instances[i] for i in ids}
        beats = {i: self.heartbeats[i] for i in ids if i in self.heartbeats}
        return Ring._derived(instances, beats, sub_index, None)

    # -- writing -------------------------------------------------------------------------

    def put(self, desc: InstanceDesc, *, now: float, writer: str | None = None) -> Ring:
        """Register or change an instance; its version is stamped here (`writer` defaults
        to the instance itself). Putting an unchanged record returns this ring."""
        old = self.instances.get(desc.id)
        if old is not None and old.tie_key() == desc.tie_key():
            return self
        base = old.version if old is not None else Version.ZERO
        stamped = attrs.evolve(desc, version=base.next(now, writer or desc.id))
        return self._with_record(stamped, old)

    def heartbeat(self, instance_id: str, *, now: float) -> Ring:
        beat = quantize(now)
        if beat <= self.heartbeats.get(instance_id, float("-inf")):
            return self
        change = RingChange({}, {instance_id: beat}, topology_changed=False)
        return self._derive(change, self.instances, updated(self.heartbeats, change.heartbeats))

    def remove(self, instance_id: str, *, now: float, writer: str | None = None) -> Ring:
        """Replace a live instance with a LEFT tombstone, newer than anything seen of it."""
        old = self.instances.get(instance_id)
        if old is None or old.is_tombstone:
            return self
        at = max(now, self.heartbeat_at(instance_id))
        return self._with_record(tombstone(old, at=at, writer=writer or instance_id), old)

    def _with_record(self, desc: InstanceDesc, old: InstanceDesc | None) -> Ring:
        moved = desc.topology() != (old.topology() if old else None)
        change = RingChange({desc.id: desc}, {}, topology_changed=moved)
        return self._derive(change, updated(self.instances, change.instances), self.heartbeats)

    # -- the Mergeable contract -----------------------------------------------------------

    def merge(
        self, other: Ring, *, local_cas: bool = False, horizon: float | None = None
    ) -> MergeResult[Ring]:
        change = merge_rings(
            self.instances,
            self.heartbeats,
            other.instances,
            other.heartbeats,
            local_cas=local_cas,
            horizon=horizon,
        )
        if not change:
            return MergeResult(self, None)
        instances = self.instances
        if change.instances:
            instances = updated(instances, change.instances)
        beats = self.heartbeats
        if change.heartbeats:
            beats = updated(beats, change.heartbeats)
        delta = Ring._derived(change.instances, change.heartbeats, None, None)
        return MergeResult(self._derive(change, instances, beats), delta)

    def remove_tombstones(self, horizon: float) -> tuple[Ring, int]:
        if self._floor is None:
            object.__setattr__(self, "_floor", collectable_floor(self.instances, self.heartbeats))
        assert self._floor is not None
        if horizon <= self._floor:
            return self, 0
        pruned = remove_tombstones(self.instances, self.heartbeats, horizon)
        if pruned is None:  # the bound was low: now it is exact
            object.__setattr__(self, "_floor", collectable_floor(self.instances, self.heartbeats))
            return self, 0
        instances, beats, removed = pruned
        # Only tombstones (which own no token) leave the record map: the index stays valid.
        return Ring._derived(instances, beats, self._index, None), removed

    def merge_content(self) -> frozenset[str]:
        """``instance/<id>`` per record and ``heartbeat/<id>`` per heartbeat: a record
        delta does not supersede a queued heartbeat delta of the same instance, nor the
        reverse (the prefixes keep any two ids apart, whatever characters they hold)."""
        return frozenset(
            [
                *("instance/" + i for i in self.instances),
                *("heartbeat/" + i for i in self.heartbeats),
            ]
        )
