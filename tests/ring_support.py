"""Hypothesis strategies for rings and a brute-force reference for ring lookups.

The merge strategies draw from tiny pools on purpose: few ids, versions, tokens and
times, so equal versions with different content, token conflicts and tombstones meeting
live records all happen often.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from hypothesis import strategies as st

from trio_gossip.core.kv.hlc import Version
from trio_gossip.core.ring import (
    EmptyRingError,
    InstanceDesc,
    InstanceState,
    Operation,
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


def brute_owner(ring: Ring) -> dict[int, InstanceDesc]:
    """Token -> owner, straight from the stated rule."""
    claims: dict[int, list[InstanceDesc]] = {}
    for desc in ring.instances.values():
        if desc.state is not InstanceState.LEFT:
            for token in desc.tokens:
                claims.setdefault(token, []).append(desc)
    return {
        t: min(ds, key=lambda d: (d.state is InstanceState.LEAVING, d.registered_at, d.id))
        for t, ds in claims.items()
    }


def brute_get(
    ring: Ring,
    key: int,
    op: Operation,
    *,
    now: float,
    replication_factor: int,
    zone_awareness: bool,
    heartbeat_timeout: float,
) -> tuple[tuple[str, ...], int]:
    """The replication set by walking the whole lap with no shortcuts: (ids, max_errors)."""
    owner = brute_owner(ring)
    if not owner:
        raise EmptyRingError
    order = sorted(owner)
    start = next((i for i, t in enumerate(order) if t > key), 0)
    walk: Sequence[int] = order[start:] + order[:start]
    owning = {d.id: d for d in owner.values()}
    zones = {d.zone for d in owning.values()} if zone_awareness else {""}
    quota = max(1, replication_factor // len(zones)) if zone_awareness else replication_factor
    per_zone: Counter[str] = Counter()
    met: set[str] = set()
    picked: list[InstanceDesc] = []
    wanted = replication_factor
    for token in walk:
        desc = owner[token]
        if desc.id in met:
            continue
        met.add(desc.id)
        zone = desc.zone if zone_awareness else ""
        if per_zone[zone] >= quota:
            continue
        picked.append(desc)
        if op.extends_on(desc.state):
            wanted += 1
        else:
            per_zone[zone] += 1
        if len(picked) >= min(wanted, len(owning)):
            break
    healthy = [
        d
        for d in picked
        if op.is_healthy_state(d.state) and now - ring.heartbeat_at(d.id) <= heartbeat_timeout
    ]
    min_success = max(replication_factor, len(picked)) // 2 + 1
    if len(healthy) < min_success:
        raise TooManyUnhealthyError
    return tuple(d.id for d in healthy), len(healthy) - min_success
