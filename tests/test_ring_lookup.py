"""Replication-set lookups agree with the reference walk; dskit's rules in specific cases."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ring_support import lookup_rings, reference_get, reference_owner

from trio_gossip.core.ring import (
    READ,
    REPORTING,
    WRITE,
    WRITE_NO_EXTEND,
    EmptyRingError,
    InstanceDesc,
    InstanceState,
    Operation,
    Ring,
    RingError,
    TooManyUnhealthyError,
)
from trio_gossip.wire.errors import ConfigError

ACTIVE, LEAVING, JOINING = InstanceState.ACTIVE, InstanceState.LEAVING, InstanceState.JOINING
NOW = 100.0
TIMEOUT = 60.0  # heartbeats at 40 and 100 are fresh at NOW, those at 0 are stale

keys = st.one_of(st.integers(0, 2**32 - 1), st.sampled_from((0, 6, 7, 8, 2**31, 2**32 - 1)))


@settings(max_examples=300)  # about a quarter of the draws succeed; the rest check errors
@given(
    lookup_rings(),
    keys,
    st.sampled_from((WRITE, WRITE_NO_EXTEND, READ, REPORTING)),
    st.integers(1, 5),
    st.booleans(),
)
def test_get_agrees_with_the_reference(
    ring: Ring, key: int, op: Operation, replication_factor: int, zone_awareness: bool
) -> None:
    rf, zones = replication_factor, zone_awareness

    def real() -> tuple[tuple[str, ...], int]:
        result = ring.get(
            key, op, now=NOW, replication_factor=rf, zone_awareness=zones, heartbeat_timeout=TIMEOUT
        )
        return tuple(d.id for d in result.instances), result.max_errors

    def reference() -> tuple[tuple[str, ...], int]:
        result = reference_get(
            ring,
            key,
            op,
            now=NOW,
            replication_factor=rf,
            zone_awareness=zones,
            heartbeat_timeout=TIMEOUT,
        )
        return tuple(d.id for d in result.instances), result.max_errors

    assert outcome(real) == outcome(reference)


def outcome(lookup: Callable[[], tuple[tuple[str, ...], int]]) -> object:
    """The replica ids and max_errors, or the type of RingError raised."""
    try:
        return lookup()
    except RingError as exc:
        return type(exc)


@given(lookup_rings())
def test_index_owners_agree_with_the_reference(ring: Ring) -> None:
    owner = reference_owner(ring)
    index = ring.index
    assert list(index.tokens) == sorted(owner)
    assert index.owners == [owner[t].id for t in index.tokens]


@given(lookup_rings(), st.booleans())
def test_ownership_adds_up_to_one_per_zone(ring: Ring, per_zone: bool) -> None:
    owned = ring.ownership(per_zone=per_zone)
    assert set(owned) == {d.id for d in ring.live()}
    if not ring.index.tokens:
        return
    zones = {d.zone for d in ring.live() if owned[d.id]} if per_zone else {None}
    for zone in zones:
        total = sum(f for i, f in owned.items() if not per_zone or ring.instances[i].zone == zone)
        assert total == pytest.approx(1.0)


def ring_of(*specs: tuple[str, str, InstanceState, list[int]], beat: float = NOW) -> Ring:
    descs = [InstanceDesc(i, addr=f"{i}:1", zone=z, state=s, tokens=t) for i, z, s, t in specs]
    return Ring.of(descs, {d.id: beat for d in descs})


def ids(ring: Ring, key: int, op: Operation = WRITE, **kwargs: object) -> list[str]:
    kwargs.setdefault("now", NOW)
    return [d.id for d in ring.get(key, op, **kwargs).instances]  # type: ignore[arg-type]


def test_first_token_strictly_greater_than_the_key_and_wrapping() -> None:
    ring = ring_of(("a", "", ACTIVE, [10]), ("b", "", ACTIVE, [20]), ("c", "", ACTIVE, [30]))
    assert ids(ring, 10, replication_factor=1) == ["b"]  # equal is not greater
    assert ids(ring, 9, replication_factor=1) == ["a"]
    assert ids(ring, 30, replication_factor=1) == ["a"]  # past the last token: wrap
    assert ids(ring, 25) == ["c", "a", "b"]


def test_write_extends_past_a_joining_instance_and_reads_extend_likewise() -> None:
    ring = ring_of(
        ("a", "", ACTIVE, [10]),
        ("b", "", JOINING, [20]),
        ("c", "", ACTIVE, [30]),
        ("d", "", ACTIVE, [40]),
    )
    result = ring.get(15, WRITE, now=NOW)
    assert [d.id for d in result.instances] == ["c", "d", "a"]  # b taken but unhealthy
    assert result.max_errors == 0  # 4 in the set: quorum 3, 3 healthy
    assert ids(ring, 15, READ) == ["c", "d", "a"]
    # Without extension the set is b, c, d: b is not writable, 2 of 3 is still a quorum.
    no_extend = ring.get(15, WRITE_NO_EXTEND, now=NOW)
    assert [d.id for d in no_extend.instances] == ["c", "d"]
    assert no_extend.max_errors == 0
    assert ids(ring, 15, REPORTING) == ["b", "c", "d"]


def test_leaving_is_readable_but_not_writable() -> None:
    ring = ring_of(
        ("a", "", ACTIVE, [10]),
        ("b", "", LEAVING, [20]),
        ("c", "", ACTIVE, [30]),
        ("d", "", ACTIVE, [40]),
    )
    assert ids(ring, 15, READ) == ["b", "c", "d"]
    assert ids(ring, 15, WRITE) == ["c", "d", "a"]


def test_zone_aware_gives_one_replica_per_zone() -> None:
    ring = ring_of(
        ("a1", "a", ACTIVE, [10]),
        ("a2", "a", ACTIVE, [20]),
        ("b1", "b", ACTIVE, [30]),
        ("c1", "c", ACTIVE, [40]),
    )
    assert ids(ring, 5) == ["a1", "b1", "c1"]
    assert ids(ring, 5, zone_awareness=False) == ["a1", "a2", "b1"]


def test_zone_aware_extension_stays_in_the_zone() -> None:
    ring = ring_of(
        ("a1", "a", LEAVING, [10]),
        ("b1", "b", ACTIVE, [20]),
        ("a2", "a", ACTIVE, [30]),
        ("c1", "c", ACTIVE, [40]),
    )
    assert ids(ring, 5) == ["b1", "a2", "c1"]


def test_a_whole_leaving_zone_widens_the_write_set_by_all_of_it() -> None:
    """A write meets every LEAVING member of zone a (each asks for one more replica), then
    one of each other zone; the quorum then counts all of them (dskit's behaviour)."""
    specs = [(f"a{i}", "a", LEAVING, [i * 10 + 1]) for i in range(50)]
    specs += [(f"b{i}", "b", ACTIVE, [1_000_000 + i]) for i in range(3)]
    specs += [(f"c{i}", "c", ACTIVE, [2_000_000 + i]) for i in range(3)]
    ring = ring_of(*specs)
    with pytest.raises(TooManyUnhealthyError, match="at least 27 live replicas"):
        ring.get(0, WRITE, now=NOW)
    assert ids(ring, 0, READ) == ["a0", "b0", "c0"]


def test_stale_heartbeat_is_unhealthy() -> None:
    ring = ring_of(("a", "", ACTIVE, [10]), ("b", "", ACTIVE, [20]), ("c", "", ACTIVE, [30]))
    ring = ring.heartbeat("a", now=NOW + 100)
    later = NOW + 61
    result = ring.get(5, WRITE, now=later, heartbeat_timeout=80.0)
    assert [d.id for d in result.instances] == ["a", "b", "c"]
    with pytest.raises(TooManyUnhealthyError, match="unhealthy instances: b:1,c:1"):
        ring.get(5, WRITE, now=later, heartbeat_timeout=60.0)
    assert ring.is_healthy(ring.instances["a"], WRITE, now=later, heartbeat_timeout=60.0)
    assert [d.id for d in ring.get_all_healthy(WRITE, now=later)] == ["a"]


def test_errors() -> None:
    with pytest.raises(EmptyRingError):
        Ring().get(1, WRITE, now=NOW)
    with pytest.raises(EmptyRingError):
        ring_of(("a", "", InstanceState.PENDING, [])).get(1, WRITE, now=NOW)
    ring = ring_of(("a", "", ACTIVE, [10]))
    with pytest.raises(TooManyUnhealthyError, match="at least 2 live replicas required, could"):
        ring.get(1, WRITE, now=NOW, zone_awareness=False)  # RF 3 on a ring of one
    assert ids(ring, 1, replication_factor=1) == ["a"]
    with pytest.raises(ConfigError):
        ring.get(1, WRITE, now=NOW, replication_factor=0)
    with pytest.raises(ConfigError):
        ring.get(1, WRITE, now=NOW, heartbeat_timeout=0)
    with pytest.raises(ValueError, match="uint32"):
        ring.get(2**32, WRITE, now=NOW)
