"""Replication-set lookups: which instances hold a key, for which operation.

An `Operation` says which states are healthy for it and on which states the replica set
grows by one (dskit's Write / Read / Reporting), so a JOINING or LEAVING instance in the
walk does not cost the key a replica.

A lookup's walk, and what it decides if every heartbeat in it is fresh, depend only on the
records and on the token range the key falls in, so both are kept per token position in
the token index's cache (`_Answers`). Each call still tests, with the expression dskit's
InstanceDesc.IsHealthy uses, the heartbeats that could change the answer at its `now`, and
judges the walk afresh if one is too old: a cached answer cannot outlive a deadline.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import attrs

from trio_gossip.core.ring.instance import MAX_TOKEN, InstanceDesc, InstanceState
from trio_gossip.wire.errors import ConfigError, GossipError

if TYPE_CHECKING:
    from trio_gossip.core.ring.index import TokenIndex
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

    The walk and its verdict depend only on where the key lands between two tokens, so
    they are cached per token position (see `_Answers`); only the heartbeat checks, which
    depend on `now`, run on every call.
    """
    if replication_factor < 1:
        raise ConfigError(f"replication_factor must be at least 1, got {replication_factor}")
    if not heartbeat_timeout > 0:
        raise ConfigError(f"heartbeat_timeout must be positive, got {heartbeat_timeout}")
    if not 0 <= key_hash <= MAX_TOKEN:
        raise ValueError(f"key hash must be a uint32, got {key_hash}")
    index = ring.index
    tokens = index.tokens
    if not tokens:
        raise EmptyRingError("empty ring")
    # Position len(tokens) wraps to 0 in the walk; it just gets an entry of its own.
    position = bisect_right(tokens, key_hash)
    if type(replication_factor) is int and type(zone_awareness) is bool:
        key = (_ANSWERS, op.healthy_mask, op.extend_mask, replication_factor, zone_awareness)
        answers: _Answers | None = index.cache.get(key)
        if answers is None or answers.instances is not ring.instances:
            answers = _Answers(index, ring.instances, op, replication_factor, zone_awareness)
            index.cache[key] = answers
        entry = answers.entries.get(position)
        if entry is None:
            entry = answers.fill(position)
    else:
        # Answers hold numbers derived from the factor (a float one makes float counts)
        # and are keyed by it, where 3 == 3.0: only the usual types are kept.
        answers = _Answers(index, ring.instances, op, replication_factor, zone_awareness)
        entry = answers.fill(position)
    beats = ring.heartbeats
    if isinstance(entry, ReplicationSet):  # every replica met is healthy by state
        # The heartbeat half of `is_healthy`: the same expression, in the same order.
        for desc in entry.instances:
            if not now - beats.get(desc.id, 0.0) <= heartbeat_timeout:
                break
        else:
            return entry
        picked = entry.instances
    else:
        checks, verdict, picked = entry
        for desc in checks:
            if not now - beats.get(desc.id, 0.0) <= heartbeat_timeout:
                break
        else:
            if isinstance(verdict, str):
                raise TooManyUnhealthyError(verdict)
            return verdict
    # A heartbeat is too old at `now`: judge the walk afresh, heartbeats included.
    return _judge(
        picked,
        ring,
        op=op,
        now=now,
        replication_factor=replication_factor,
        zone_awareness=zone_awareness,
        heartbeat_timeout=heartbeat_timeout,
    )


# -- the cached path -----------------------------------------------------------------------

# TokenIndex.cache keys (the prefix of a key, for the answers).
_ANSWERS, _ZONE_AT = "lookup-answers", "lookup-zone-at"
# Positions cached per (records, operation, factor, zones); past it lookups still work,
# uncached. 2**17 covers 1000 instances x 128 tokens; an entry is ~190 bytes (about 23
# MiB for a full table).
_MAX_ENTRIES = 1 << 17

# A position's answer when every replica met is healthy by state: the set itself (its
# `instances` are also what to heartbeat-check). Otherwise (checks, verdict, picked): the
# replicas to heartbeat-check, the set or error message if they all pass, and the walk.
_Entry = (
    ReplicationSet
    | tuple[tuple[InstanceDesc, ...], "ReplicationSet | str", tuple[InstanceDesc, ...]]
)


class _Answers:
    """Per-position answers for one ring's records (their states decide the walk) under
    one set of lookup rules, kept in the token index's cache, so rings that differ only
    by heartbeats share them.

    An entry never depends on heartbeats or `now`: those are checked on every lookup.
    Records are compared by identity: a ring with other records (even with the same
    topology, e.g. after JOINING -> ACTIVE) gets a new, empty table.
    """

    __slots__ = (
        "count",
        "entries",
        "extend_mask",
        "healthy_mask",
        "instances",
        "limit",
        "owners",
        "quota",
        "replication_factor",
        "zone_at",
        "zone_awareness",
        "zone_sizes",
    )

    def __init__(
        self,
        index: TokenIndex,
        instances: Mapping[str, InstanceDesc],
        op: Operation,
        replication_factor: int,
        zone_awareness: bool,
    ) -> None:
        self.instances = instances
        self.healthy_mask = op.healthy_mask
        self.extend_mask = op.extend_mask
        self.replication_factor = replication_factor
        self.zone_awareness = zone_awareness
        self.entries: dict[int, _Entry] = {}
        # The walk's constants.
        self.owners = index.owners
        self.count = len(index.owners)
        self.limit = index.instance_count
        self.zone_at = _zone_at(index, zone_awareness)
        if zone_awareness:
            self.zone_sizes = index.zone_sizes
            self.quota = max(1, replication_factor // len(index.zone_sizes))
        else:
            self.zone_sizes = (self.limit,)
            self.quota = replication_factor

    def fill(self, position: int) -> _Entry:
        """Walk from token `position` and keep the entry (while there is room).

        dskit's walk (ring/ring.go, Ring.findInstancesForKey): distinct instances
        clockwise, one more wanted for each whose state the op extends on
        (Operation.ShouldExtendReplicaSetOnState), zones capped as `get` describes.
        Heartbeats play no part here: they only filter the result (`_judge`).
        """
        owners, zone_at, instances = self.owners, self.zone_at, self.instances
        extend_mask, healthy_mask = self.extend_mask, self.healthy_mask
        count, limit, quota, zone_sizes = self.count, self.limit, self.quota, self.zone_sizes
        wanted = self.replication_factor
        taken = [0] * len(zone_sizes)
        examined = [0] * len(zone_sizes)
        open_zones = len(zone_sizes)
        seen: list[str] = []  # a handful of owners: a list beats a set here
        picked: list[InstanceDesc] = []
        checks: list[InstanceDesc] = []  # those healthy by state: heartbeats decide
        found = 0
        at = position
        for _ in range(count):
            if at == count:
                at = 0
            owner = owners[at]
            zone = zone_at[at]
            at += 1
            if owner in seen:
                continue
            seen.append(owner)
            examined[zone] += 1
            if taken[zone] >= quota:
                continue  # this zone already has its replicas
            desc = instances[owner]
            picked.append(desc)
            found += 1
            state = desc.state
            if healthy_mask >> state & 1:
                checks.append(desc)
            if extend_mask >> state & 1:
                wanted += 1  # taken but not counted: look for one more, in the same zone
            else:
                taken[zone] += 1
            if found >= wanted or found >= limit:
                break
            # A zone closes once full or once every instance in it was met; when all
            # zones are closed the rest of the lap cannot add anyone (dskit#672, #884: a
            # whole LEAVING zone used to make writes scan thousands of tokens).
            if taken[zone] >= quota or examined[zone] == zone_sizes[zone]:
                open_zones -= 1
                if not open_zones:
                    break
        # What `_judge` decides when every heartbeat in `checks` is fresh.
        min_success = max(self.replication_factor, len(picked)) // 2 + 1
        entry: _Entry
        if len(checks) < min_success:
            unhealthy = [d for d in picked if not healthy_mask >> d.state & 1]
            message = _too_few(min_success, len(checks), unhealthy, self.zone_awareness)
            entry = (tuple(checks), message, tuple(picked))
        elif len(checks) == len(picked):
            entry = ReplicationSet(tuple(checks), len(checks) - min_success)
        else:
            verdict = ReplicationSet(tuple(checks), len(checks) - min_success)
            entry = (verdict.instances, verdict, tuple(picked))
        if len(self.entries) < _MAX_ENTRIES:
            self.entries[position] = entry
        return entry


def _zone_at(index: TokenIndex, zone_awareness: bool) -> list[int]:
    """The zone number of each token's owner, in token order; all 0 without zone
    awareness (cached on the index)."""
    key = (_ZONE_AT, zone_awareness)
    zone_at: list[int] | None = index.cache.get(key)
    if zone_at is None:
        if zone_awareness:
            zone_at = list(map(index.zone_of.__getitem__, index.owners))
        else:
            zone_at = [0] * len(index.owners)
        index.cache[key] = zone_at
    return zone_at


def _judge(
    picked: tuple[InstanceDesc, ...],
    ring: Ring,
    *,
    op: Operation,
    now: float,
    replication_factor: int,
    zone_awareness: bool,
    heartbeat_timeout: float,
) -> ReplicationSet:
    """Drop the unhealthy replicas of a walk and check the quorum: dskit's
    defaultReplicationStrategy.Filter (ring/replication_strategy.go), with
    InstanceDesc.IsHealthy (ring/model.go) as `is_healthy`."""
    beats, healthy_mask = ring.heartbeats, op.healthy_mask
    healthy: list[InstanceDesc] = []
    unhealthy: list[InstanceDesc] = []
    for desc in picked:
        # `is_healthy`, inlined.
        if healthy_mask >> desc.state & 1 and now - beats.get(desc.id, 0.0) <= heartbeat_timeout:
            healthy.append(desc)
        else:
            unhealthy.append(desc)
    min_success = max(replication_factor, len(picked)) // 2 + 1
    if len(healthy) < min_success:
        raise TooManyUnhealthyError(_too_few(min_success, len(healthy), unhealthy, zone_awareness))
    return ReplicationSet(tuple(healthy), len(healthy) - min_success)


def _too_few(
    min_success: int, found: int, unhealthy: list[InstanceDesc], zone_awareness: bool
) -> str:
    where = " across different availability zones" if zone_awareness else ""
    names = ",".join(d.addr or d.id for d in unhealthy)
    detail = f" - unhealthy instances: {names}" if unhealthy else ""
    return f"at least {min_success} live replicas required{where}, could only find {found}{detail}"


def get_all_healthy(
    ring: Ring, op: Operation, *, now: float, heartbeat_timeout: float
) -> tuple[InstanceDesc, ...]:
    """Every live instance healthy for `op`, by id (no quorum check)."""
    return tuple(
        d
        for d in ring.live()
        if is_healthy(ring, d, op, now=now, heartbeat_timeout=heartbeat_timeout)
    )
