"""Shuffle sharding: stable, zone-balanced, consistent when the ring changes by one."""

from __future__ import annotations

import random

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_gossip.core.ring import WRITE, InstanceDesc, InstanceState, Ring, random_tokens
from trio_gossip.core.ring.codec import RING_CODEC
from trio_gossip.core.ring.shard import draws

ZONES = ("zone-a", "zone-b", "zone-c")


def make_ring(count: int, seed: int, *, zones: tuple[str, ...] = ZONES) -> Ring:
    rng = random.Random(seed)
    ring = Ring()
    for n in range(count):
        tokens = random_tokens(16, rng, ring.taken_tokens())
        desc = InstanceDesc(
            f"i{n:02}", zone=zones[n % len(zones)], state=InstanceState.ACTIVE, tokens=tokens
        )
        ring = ring.put(desc, now=1.0).heartbeat(desc.id, now=1.0)
    return ring


def test_same_shard_across_calls_and_nodes() -> None:
    ring = make_ring(30, seed=1)
    shard = ring.shuffle_shard("tenant-1", 6)
    assert set(shard.instances) == set(ring.shuffle_shard("tenant-1", 6).instances)
    # Another node decoding the same state picks the same instances.
    elsewhere = RING_CODEC.decode(RING_CODEC.encode(ring))
    assert set(elsewhere.shuffle_shard("tenant-1", 6).instances) == set(shard.instances)
    assert set(ring.shuffle_shard("tenant-2", 6).instances) != set(shard.instances)


def test_zone_balanced_and_usable_for_lookups() -> None:
    ring = make_ring(30, seed=2)
    shard = ring.shuffle_shard("tenant", 7)  # ceil(7 / 3) = 3 per zone
    zones = [d.zone for d in shard.instances.values()]
    assert sorted(zones) == sorted(ZONES * 3)
    replicas = shard.get(12345, WRITE, now=1.0)
    assert {d.id for d in replicas.instances} <= set(shard.instances)
    assert len({d.zone for d in replicas.instances}) == 3


def test_small_zone_is_taken_whole_and_read_only_is_left_out() -> None:
    ring = make_ring(4, seed=3, zones=("a", "b"))
    read_only = attrs.evolve(ring.instances["i00"], read_only=True)
    ring = ring.put(read_only, now=2.0)
    shard = ring.shuffle_shard("t", 100)
    assert set(shard.instances) == {"i01", "i02", "i03"}
    assert set(ring.shuffle_shard("t", 0).instances) == {"i01", "i02", "i03"}


@settings(max_examples=40, deadline=None)
@given(
    st.integers(3, 24),
    st.integers(1, 8),
    st.integers(0, 2**16),
    st.booleans(),
    st.text(min_size=1, max_size=5),
)
def test_adding_one_instance_changes_at_most_one_member(
    count: int, size: int, seed: int, zone_awareness: bool, identifier: str
) -> None:
    ring = make_ring(count, seed)
    before = set(ring.shuffle_shard(identifier, size, zone_awareness=zone_awareness).instances)
    tokens = random_tokens(16, random.Random(seed + 1), ring.taken_tokens())
    grown = ring.put(
        InstanceDesc("new", zone=ZONES[seed % 3], state=InstanceState.ACTIVE, tokens=tokens),
        now=2.0,
    )
    after = set(grown.shuffle_shard(identifier, size, zone_awareness=zone_awareness).instances)
    assert len(before - after) <= 1
    assert after - before <= {"new"}


def test_draws_are_a_fixed_function_of_identifier_and_zone() -> None:
    stream = draws("tenant", "zone-a")
    first = [next(stream) for _ in range(3)]
    again = draws("tenant", "zone-a")
    assert first == [next(again) for _ in range(3)]
    assert next(draws("tenant", "zone-b")) != first[0]
    assert all(0 <= d < 2**32 for d in first)
