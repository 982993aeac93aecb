"""Token generators: random ones avoid taken tokens; spread-minimizing ones even out ownership."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_gossip.core.ring import (
    InstanceDesc,
    InstanceState,
    Ring,
    random_tokens,
    spread_minimizing_tokens,
)


@given(st.integers(0, 200), st.integers(0, 2**32), st.frozensets(st.integers(0, 2**32 - 1)))
def test_random_tokens_are_sorted_unique_and_free(
    count: int, seed: int, taken: frozenset[int]
) -> None:
    tokens = random_tokens(count, random.Random(seed), taken)
    assert len(tokens) == count
    assert list(tokens) == sorted(set(tokens))
    assert not set(tokens) & taken
    assert tokens == random_tokens(count, random.Random(seed), taken)  # seeded: replayable


def test_random_tokens_refuses_an_impossible_count() -> None:
    with pytest.raises(ValueError, match="free tokens"):
        random_tokens(-1, random.Random(0))


def grow(count: int, tokens: int, generate: str, zones: tuple[str, ...] = ("",)) -> Ring:
    rng = random.Random(7)
    ring = Ring()
    for n in range(count):
        zone = zones[n % len(zones)]
        if generate == "random":
            chosen = random_tokens(tokens, rng, ring.taken_tokens())
        else:
            chosen = spread_minimizing_tokens(ring, tokens, zone=zone)
        desc = InstanceDesc(f"i{n}", zone=zone, state=InstanceState.ACTIVE, tokens=chosen)
        ring = ring.put(desc, now=1.0)
    return ring


def spread(ring: Ring) -> float:
    owned = ring.ownership().values()
    return max(owned) / min(owned)


def test_spread_minimizing_beats_random_by_far() -> None:
    even = grow(30, 64, "spread", zones=("z",))
    rough = grow(30, 64, "random")
    assert spread(even) < 1.1
    assert spread(rough) > 1.3
    assert sum(even.ownership().values()) == pytest.approx(1.0)


def test_spread_minimizing_per_zone_keeps_zones_apart() -> None:
    ring = grow(12, 32, "spread", zones=("a", "b", "c"))
    assert len(ring.index.tokens) == 12 * 32  # no token claimed twice, across zones too
    owned = ring.ownership(per_zone=True)
    for zone in ("a", "b", "c"):
        shares = [f for i, f in owned.items() if ring.instances[i].zone == zone]
        assert sum(shares) == pytest.approx(1.0)
        assert max(shares) / min(shares) < 1.1


def test_spread_minimizing_is_deterministic_and_avoids_taken_tokens() -> None:
    ring = grow(5, 16, "spread")
    first = spread_minimizing_tokens(ring, 16)
    assert first == spread_minimizing_tokens(ring, 16)
    assert not set(first) & ring.taken_tokens()
    with pytest.raises(ValueError, match="positive"):
        spread_minimizing_tokens(ring, 0)
