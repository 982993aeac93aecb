"""The ring's join: records by version, heartbeats by max, tombstones by horizon.

A ring is two maps: instance id -> `InstanceDesc` (last writer wins on `Version`, which
totally orders every pair of records, so equal timestamps cannot leave nodes apart), and
instance id -> last heartbeat in seconds (max wins). Each map is a join-semilattice on its
own and the maps are independent, so their product is one: the merge is commutative,
associative and idempotent without exceptions. The functions here return only what
changed; `Ring` builds the new value and decides whether the token index survives.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import attrs

from trio_gossip.core.kv.hlc import Version
from trio_gossip.core.ring.instance import InstanceDesc, InstanceState

Instances = Mapping[str, InstanceDesc]
Heartbeats = Mapping[str, float]


@attrs.frozen
class RingChange:
    """What one merge changed: whole records and single heartbeats, plus whether any
    changed record moved token ownership (only then must the index be rebuilt)."""

    instances: dict[str, InstanceDesc]
    heartbeats: dict[str, float]
    topology_changed: bool

    def __bool__(self) -> bool:
        return bool(self.instances or self.heartbeats)


def tombstone(desc: InstanceDesc, *, at: float, writer: str) -> InstanceDesc:
    """`desc` as a LEFT tombstone, stamped after its own version and after `at` (s).

    Callers pass the newest heartbeat they know as part of `at`: the tombstone is then
    newer than every copy of the instance they have seen, which is what the staleness
    rule of `merge_rings` relies on after the tombstone itself is collected.
    """
    return attrs.evolve(
        desc, state=InstanceState.LEFT, tokens=(), version=desc.version.next(at, writer)
    )


def merge_rings(
    ours: Instances,
    our_heartbeats: Heartbeats,
    theirs: Instances,
    their_heartbeats: Heartbeats,
    *,
    local_cas: bool,
    horizon: float | None,
) -> RingChange:
    """What joining `theirs` into `ours` changes (see `Mergeable` for the flags)."""
    changed: dict[str, InstanceDesc] = {}
    topology_changed = False
    for instance_id, their in theirs.items():
        our = ours.get(instance_id)
        if our is None:
            newest = max(
                their.version.seconds,
                their_heartbeats.get(instance_id, 0.0),
                our_heartbeats.get(instance_id, 0.0),
            )
            if horizon is not None and newest < horizon:
                continue  # a stale copy of something collected: taking it would resurrect it
            winner = their
        elif their is our:
            continue
        elif their.beats(our):
            winner = their
        elif local_cas and their.tie_key() != our.tie_key():
            # The local CAS asked for this record: it wins even if the caller did not stamp
            # it (e.g. it edited the tombstone-free copy readers get), so a CAS never waits.
            winner = attrs.evolve(their, version=_after(our.version, their.version))
        else:
            continue
        changed[instance_id] = winner
        if not topology_changed:
            topology_changed = winner.topology() != (our.topology() if our else None)

    if local_cas:
        # `theirs` is the whole desired ring: what it lacks was removed by the CAS.
        for instance_id, our in ours.items():
            if instance_id not in theirs and not our.is_tombstone:
                at = max(our.version.seconds, our_heartbeats.get(instance_id, 0.0))
                changed[instance_id] = tombstone(our, at=at, writer=our.version.writer)
                topology_changed = topology_changed or our.topology() is not None

    beats: dict[str, float] = {}
    for instance_id, beat in their_heartbeats.items():
        our_beat = our_heartbeats.get(instance_id)
        if our_beat is not None:
            if beat > our_beat:
                beats[instance_id] = beat
        elif horizon is None or beat >= horizon or instance_id in ours or instance_id in changed:
            beats[instance_id] = beat
    return RingChange(changed, beats, topology_changed)


def collectable_floor(instances: Instances, heartbeats: Heartbeats) -> float:
    """The earliest time of anything `remove_tombstones` could take: tombstones, and
    heartbeats of ids without a live record. No horizon at or below it removes anything."""
    floor = min((d.version.seconds for d in instances.values() if d.is_tombstone), default=math.inf)
    for instance_id, beat in heartbeats.items():
        desc = instances.get(instance_id)
        if beat < floor and (desc is None or desc.is_tombstone):
            floor = beat
    return floor


def lowered_floor(
    floor: float, change: RingChange, instances: Instances, heartbeats: Heartbeats
) -> float:
    """`floor` lowered for what `change` made collectable in the ring (`instances`,
    `heartbeats`) it produced. Only ever lowered: a bound that became too low costs one
    full scan in `remove_tombstones`, which then sets it right."""
    for instance_id, desc in change.instances.items():
        if desc.is_tombstone:
            beat = heartbeats.get(instance_id, math.inf)
            floor = min(floor, desc.version.seconds, beat)
    for instance_id, beat in change.heartbeats.items():
        record = instances.get(instance_id)
        if beat < floor and (record is None or record.is_tombstone):
            floor = beat
    return floor


def remove_tombstones(
    instances: Instances, heartbeats: Heartbeats, horizon: float
) -> tuple[dict[str, InstanceDesc], dict[str, float], int] | None:
    """Without LEFT records stamped before `horizon`, nor heartbeats older than it that
    belong to no record left; None if there is nothing to remove."""
    kept = {
        i: d for i, d in instances.items() if not d.is_tombstone or d.version.seconds >= horizon
    }
    kept_beats = {i: b for i, b in heartbeats.items() if b >= horizon or i in kept}
    removed = len(instances) - len(kept) + len(heartbeats) - len(kept_beats)
    return (kept, kept_beats, removed) if removed else None


def _after(ours: Version, theirs: Version) -> Version:
    """A stamp above `ours` that keeps the local writer's name."""
    return Version(ours.ms, ours.logical + 1, theirs.writer)
