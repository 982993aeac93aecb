"""Replication-set lookups: which instances hold a key, for which operation.

An `Operation` says which states are healthy for it and on which states the replica set
grows by one (dskit's Write / Read / Reporting), so a JOINING or LEAVING instance in the
walk does not cost the key a replica.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import attrs

from trio_gossip.core.ring.instance import MAX_TOKEN, InstanceDesc, InstanceState
from trio_gossip.wire.errors import ConfigError, GossipError

if TYPE_CHECKING:
    from trio_gossip.core.ring.model import Ring

DEFAULT_HEARTBEAT_TIMEOUT = 60.0  # dskit -ring.heartbeat-timeout


class RingError(GossipError):
    """A lookup could not be answered from the ring."""


class EmptyRingError(RingError):
    """No instance owns a token."""


class TooManyUnhealthyError(RingError):
    """Fewer healthy replicas than a quorum of the replica set."""


def _mask(states: Iterable[InstanceState]) -> int:
    return sum({1 << s for s in states})


@attrs.frozen
class Operation:
    """State rules for one kind of request, as bit masks over `InstanceState`."""

    name: str
    healthy_mask: int
    extend_mask: int

    @classmethod
    def of(
        cls, name: str, healthy: Iterable[InstanceState], extend: Iterable[InstanceState] = ()
    ) -> Operation:
        return cls(name, _mask(healthy), _mask(extend))

    def is_healthy_state(self, state: InstanceState) -> bool:
        return bool(self.healthy_mask >> state & 1)

    def extends_on(self, state: InstanceState) -> bool:
        return bool(self.extend_mask >> state & 1)


_S = InstanceState
# Writes go to ACTIVE only; any other instance met in the walk adds a replica, so the key
# still reaches `replication_factor` writable copies while one of them is joining or leaving.
WRITE = Operation.of("write", [_S.ACTIVE], [_S.LEAVING, _S.PENDING, _S.JOINING, _S.LEFT])
WRITE_NO_EXTEND = Operation.of("write-no-extend", [_S.ACTIVE])
# Reads also accept PENDING and LEAVING (dskit's rule) and extend where writes did, except
# on LEAVING: a leaving instance still holds its data, so it counts as a replica.
READ = Operation.of("read", [_S.ACTIVE, _S.PENDING, _S.LEAVING], [_S.PENDING, _S.JOINING, _S.LEFT])
REPORTING = Operation.of("reporting", list(_S))


@attrs.frozen
class ReplicationSet:
    """The healthy replicas of a key, and how many of them may fail with a quorum left."""

    instances: tuple[InstanceDesc, ...]
    max_errors: int


def is_healthy(
    ring: Ring, desc: InstanceDesc, op: Operation, *, now: float, heartbeat_timeout: float
) -> bool:
    """Healthy for `op`: a state the op accepts and a heartbeat within the timeout."""
    return bool(op.healthy_mask >> desc.state & 1) and (
        now - ring.heartbeats.get(desc.id, 0.0) <= heartbeat_timeout
    )


def get(
    ring: Ring,
    key_hash: int,
    op: Operation,
    *,
    now: float,
    replication_factor: int = 3,
    zone_awareness: bool = True,
    heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT,
) -> ReplicationSet:
    """The replication set of `key_hash` (a uint32 hash of the key) for `op` at `now`.

    Start at the first token strictly greater than the key (wrapping), walk clockwise and
    take each instance once. Zone-aware, each zone that owns tokens gives at most
    ``max(1, replication_factor // zones)`` replicas; without zones (or with one) the
    whole ring is one zone. An instance whose state `op` extends on is taken but not
    counted, so one more is sought (in the same zone). The walk ends with enough replicas,
    when every zone is full or exhausted, or after one lap.

    Then unhealthy replicas are dropped; with ``n = max(replication_factor, taken)``,
    at least ``n // 2 + 1`` must remain (TooManyUnhealthyError otherwise), and
    ``max_errors`` is how many more than that there are.
    """
    if replication_factor < 1:
        raise ConfigError(f"replication_factor must be at least 1, got {replication_factor}")
    if not heartbeat_timeout > 0:
        raise ConfigError(f"heartbeat_timeout must be positive, got {heartbeat_timeout}")
    if not 0 <= key_hash <= MAX_TOKEN:
        raise ValueError(f"key hash must be a uint32, got {key_hash}")
    index = ring.index
    tokens = index.tokens
    count = len(tokens)
    if not count:
        raise EmptyRingError("empty ring")

    owners, instances, beats = index.owners, ring.instances, ring.heartbeats
    extend_mask, healthy_mask = op.extend_mask, op.healthy_mask
    zone_of: Mapping[str, int] | None
    if zone_awareness:
        zone_of, zone_sizes = index.zone_of, index.zone_sizes
        quota = max(1, replication_factor // len(zone_sizes))
    else:
        zone_of, zone_sizes = None, (index.instance_count,)
        quota = replication_factor
    wanted, limit = replication_factor, index.instance_count
    taken = [0] * len(zone_sizes)
    examined = [0] * len(zone_sizes)
    open_zones = len(zone_sizes)
    seen: list[str] = []  # a handful of owners: a list beats a set here
    healthy: list[InstanceDesc] = []
    unhealthy: list[InstanceDesc] = []

    position = bisect_right(tokens, key_hash)
    for _ in range(count):
        if position == count:
            position = 0
        owner = owners[position]
        position += 1
        if owner in seen:
            continue
        seen.append(owner)
        zone = zone_of[owner] if zone_of is not None else 0
        examined[zone] += 1
        if taken[zone] >= quota:
            continue  # this zone already has its replicas
        desc = instances[owner]
        # `is_healthy`, inlined: this loop is the lookup hot path.
        if healthy_mask >> desc.state & 1 and now - beats.get(desc.id, 0.0) <= heartbeat_timeout:
            healthy.append(desc)
        else:
            unhealthy.append(desc)
        if extend_mask >> desc.state & 1:
            wanted += 1  # taken but not counted: look for one more, in the same zone
        else:
            taken[zone] += 1
        picked = len(healthy) + len(unhealthy)
        if picked >= wanted or picked >= limit:
            break
        # A zone closes once full or once every instance in it was met; when all zones
        # are closed the rest of the lap cannot add anyone (dskit#672, #884: a whole
        # LEAVING zone used to make writes scan thousands of tokens).
        if taken[zone] >= quota or examined[zone] == zone_sizes[zone]:
            open_zones -= 1
            if not open_zones:
                break

    min_success = max(replication_factor, len(healthy) + len(unhealthy)) // 2 + 1
    if len(healthy) < min_success:
        where = " across different availability zones" if zone_awareness else ""
        names = ",".join(d.addr or d.id for d in unhealthy)
        detail = f" - unhealthy instances: {names}" if unhealthy else ""
        raise TooManyUnhealthyError(
            f"at least {min_success} live replicas required{where}, "
            f"could only find {len(healthy)}{detail}"
        )
    return ReplicationSet(tuple(healthy), len(healthy) - min_success)


def get_all_healthy(
    ring: Ring, op: Operation, *, now: float, heartbeat_timeout: float
) -> tuple[InstanceDesc, ...]:
    """Every live instance healthy for `op`, by id (no quorum check)."""
    return tuple(
        d
        for d in ring.live()
        if is_healthy(ring, d, op, now=now, heartbeat_timeout=heartbeat_timeout)
    )
