"""Hypothesis strategies for rings, and the reference ring lookup both lookup tests use.

The merge strategies draw from tiny pools on purpose: few ids, versions, tokens and
times, so equal versions with different content, token conflicts and tombstones meeting
live records all happen often.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter

from hypothesis import strategies as st

from trio_gossip.core.kv.hlc import Version
from trio_gossip.core.ring import (
    EmptyRingError,
    InstanceDesc,
    InstanceState,
    Operation,
    ReplicationSet,
    Ring,
    TooManyUnhealthyError,
)

IDS = ("a", "b", "c", "d", "e")

versions = st.builds(
    Version,
    ms=st.integers(0, 3),
    logical=st.integers(0, 2),
    writer=st.sampled_from(("a", "b", "x")),
)


@st.composite
def records(draw: st.DrawFn, instance_id: str) -> InstanceDesc:
    return InstanceDesc(
        id=instance_id,
        addr=draw(st.sampled_from(("", "10.0.0.1:1", "10.0.0.2:1"))),
        zone=draw(st.sampled_from(("", "z1", "z2"))),
        state=draw(st.sampled_from(InstanceState)),
        tokens=draw(st.frozensets(st.integers(0, 40), max_size=4)),
        registered_at=draw(st.sampled_from((0.0, 1.0, 2.0))),
        read_only=draw(st.booleans()),
        version=draw(versions),
    )


@st.composite
def rings(draw: st.DrawFn) -> Ring:
    """Small rings whose records and heartbeats collide with other draws'."""
    ids = draw(st.lists(st.sampled_from(IDS), unique=True, max_size=len(IDS)))
    beats = draw(
        st.dictionaries(st.sampled_from(IDS), st.sampled_from((0.0, 1.0, 2.5, 3.0)), max_size=3)
    )
    return Ring.of([draw(records(i)) for i in ids], beats)


@st.composite
def lookup_rings(draw: st.DrawFn) -> Ring:
    """Rings for lookups: 1-8 instances in up to 3 zones, varied states and heartbeats,
    tokens over the whole uint32 space plus a few shared ones (conflicts) and the ends."""
    count = draw(st.integers(1, 10))
    shared = (0, 7, 2**31, 2**32 - 1)
    token = st.one_of(st.integers(0, 2**32 - 1), st.sampled_from(shared))
    descs = [
        InstanceDesc(
            id=f"i{n}",
            addr=f"10.0.0.{n}:1",
            zone=draw(st.sampled_from(("z1", "z2", "z3"))),
            state=draw(st.just(InstanceState.ACTIVE) | st.sampled_from(InstanceState)),
            tokens=draw(st.frozensets(token, max_size=6)),
            registered_at=draw(st.sampled_from((0.0, 5.0, 9.0))),
        )
        for n in range(count)
    ]
    beats = {d.id: draw(st.sampled_from((0.0, 40.0, 100.0, 100.0))) for d in descs}
    return Ring.of(descs, beats)


def reference_owner(ring: Ring) -> dict[int, InstanceDesc]:
    """Token -> owner, straight from the rule `TokenIndex` states: of the records claiming
    a token, a LEAVING one loses to any other, then the earliest registered, then the
    smallest id."""
    owner: dict[int, InstanceDesc] = {}
    for desc in ring.instances.values():
        if desc.state is InstanceState.LEFT:  # a tombstone owns nothing
            continue
        for token in desc.tokens:
            rival = owner.get(token)
            if rival is None or _rank(desc) < _rank(rival):
                owner[token] = desc
    return owner


def _rank(desc: InstanceDesc) -> tuple[bool, float, str]:
    """Who keeps a token several instances claim: the smallest."""
    return (desc.state is InstanceState.LEAVING, desc.registered_at, desc.id)


def reference_get(
    ring: Ring,
    key: int,
    op: Operation,
    *,
    now: float,
    replication_factor: int,
    zone_awareness: bool,
    heartbeat_timeout: float,
) -> ReplicationSet:
    """A lookup from scratch, walking the whole lap with no index, cache or shortcut.

    Token owners come from `reference_owner`. The walk is dskit's (ring/ring.go,
    Ring.Get / Ring.findInstancesForKey): from the first token strictly greater than the
    key, wrapping, each distinct instance once; one more replica wanted for each whose
    state the op extends on (Operation.ShouldExtendReplicaSetOnState), taken but not
    counted; zone-aware, each zone gives at most this package's ``max(1,
    replication_factor // zones)``. Then dskit's quorum filter (ring/replication_strategy.go,
    defaultReplicationStrategy.Filter), with the heartbeat test of InstanceDesc.IsHealthy
    (ring/model.go): raises EmptyRingError or TooManyUnhealthyError with the library's
    messages.
    """
    owner = reference_owner(ring)
    if not owner:
        raise EmptyRingError("empty ring")
    order = sorted(owner)
    start = bisect_right(order, key) % len(order)  # first token strictly greater, wrapping
    owning = {d.id for d in owner.values()}
    zones = {d.zone for d in owner.values()} if zone_awareness else {""}
    quota = max(1, replication_factor // len(zones)) if zone_awareness else replication_factor
    wanted = replication_factor
    taken: Counter[str] = Counter()
    met: set[str] = set()
    picked: list[InstanceDesc] = []
    for token in order[start:] + order[:start]:  # one lap
        desc = owner[token]
        if desc.id in met:
            continue
        met.add(desc.id)
        zone = desc.zone if zone_awareness else ""
        if taken[zone] >= quota:
            continue
        picked.append(desc)
        if op.extends_on(desc.state):  # Operation.ShouldExtendReplicaSetOnState
            wanted += 1
        else:
            taken[zone] += 1
        if len(picked) >= wanted or len(picked) == len(owning):
            break
    # defaultReplicationStrategy.Filter, with InstanceDesc.IsHealthy
    beats = ring.heartbeats
    healthy = [
        d
        for d in picked
        if op.is_healthy_state(d.state) and now - beats.get(d.id, 0.0) <= heartbeat_timeout
    ]
    unhealthy = [d for d in picked if d not in healthy]
    min_success = max(replication_factor, len(picked)) // 2 + 1
    if len(healthy) < min_success:
        where = " across different availability zones" if zone_awareness else ""
        message = (
            f"at least {min_success} live replicas required{where}, could only find {len(healthy)}"
        )
        if unhealthy:
            message += " - unhealthy instances: " + ",".join(d.addr or d.id for d in unhealthy)
        raise TooManyUnhealthyError(message)
    return ReplicationSet(tuple(healthy), len(healthy) - min_success)
