"""LEFT tombstones: hidden from readers, collected after the horizon, never resurrected."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st
from ring_support import IDS, rings

from trio_gossip.core.ring import InstanceDesc, InstanceState, Ring

LEFT_TIMEOUT = 300.0  # dskit -memberlist.left-ingesters-timeout


def registered(now: float = 100.0) -> Ring:
    ring = Ring().put(InstanceDesc("x", state=InstanceState.ACTIVE, tokens=[1, 2]), now=now)
    ring = ring.put(InstanceDesc("y", state=InstanceState.ACTIVE, tokens=[3]), now=now)
    return ring.heartbeat("x", now=now).heartbeat("y", now=now)


def test_tombstone_is_collected_after_the_horizon_only() -> None:
    left_at = 200.0
    ring = registered().remove("x", now=left_at)
    kept, removed = ring.remove_tombstones(left_at - 1)
    assert kept is ring
    assert removed == 0
    collected, removed = ring.remove_tombstones(left_at + 0.001)
    assert "x" not in collected.instances
    assert "x" not in collected.heartbeats  # its heartbeat belonged to no live record
    assert removed == 2
    assert collected.instances["y"] == ring.instances["y"]


def test_readers_view_has_no_tombstones() -> None:
    ring = registered().remove("x", now=200.0)
    view, _ = ring.remove_tombstones(math.inf)
    assert set(view.instances) == {"y"}
    assert [d.id for d in ring.live()] == ["y"]


@given(
    stale_version_at=st.floats(0.0, 199.0),
    stale_heartbeat=st.floats(0.0, 199.0),
    gc_delay=st.floats(0.001, 10_000.0),
)
def test_stale_copy_never_resurrects_a_collected_instance(
    stale_version_at: float, stale_heartbeat: float, gc_delay: float
) -> None:
    """A node that was away while x left comes back with its old copy of x, before or after
    every other node collected x's tombstone: x stays gone (cortex#4010)."""
    left_at = 200.0
    stale = Ring().put(
        InstanceDesc("x", state=InstanceState.ACTIVE, tokens=[1]), now=stale_version_at
    )
    stale = stale.heartbeat("x", now=stale_heartbeat)
    current = registered(now=min(stale_version_at, stale_heartbeat)).merge(stale).value
    current = current.remove("x", now=left_at)

    # Before the horizon the tombstone is there and newer: the stale copy loses.
    assert current.merge(stale, horizon=left_at - LEFT_TIMEOUT).value.instance("x") is None

    now = left_at + LEFT_TIMEOUT + gc_delay
    collected, _ = current.remove_tombstones(now - LEFT_TIMEOUT)
    assert "x" not in collected.instances
    result = collected.merge(stale, horizon=now - LEFT_TIMEOUT)
    assert result.change is None  # neither stored nor gossiped on


def test_old_tombstone_for_an_unknown_instance_is_not_a_change() -> None:
    """cortex#4420: old tombstones counted as changes and circulated for ever."""
    gone = registered().remove("x", now=200.0)
    tombstone_only = Ring.of([gone.instances["x"]])
    fresh = Ring().put(InstanceDesc("y", tokens=[3]), now=100.0)
    assert fresh.merge(tombstone_only, horizon=600.0).change is None
    # A young one is kept, so stale live copies arriving later lose to it.
    assert (
        fresh.merge(tombstone_only, horizon=150.0).value.instances["x"].state is InstanceState.LEFT
    )


def test_late_heartbeat_of_an_unknown_instance_is_kept_until_the_horizon() -> None:
    ring = Ring()
    assert ring.merge(Ring(heartbeats={"x": 100.0}), horizon=200.0).change is None
    orphan = ring.merge(Ring(heartbeats={"x": 250.0}), horizon=200.0).value
    assert orphan.heartbeat_at("x") == 250.0
    assert orphan.instance("x") is None
    assert orphan.remove_tombstones(260.0)[0].heartbeats == {}
    # The heartbeat of a live instance is never collected, however old.
    live = registered(now=1.0)
    assert live.remove_tombstones(1e9) == (live, 0)


def test_rejoining_after_the_tombstone_is_gone_works() -> None:
    ring = registered().remove("x", now=200.0)
    ring, _ = ring.remove_tombstones(600.0)
    back = ring.put(InstanceDesc("x", state=InstanceState.ACTIVE, tokens=[9]), now=700.0)
    back = back.heartbeat("x", now=700.0)
    assert Ring().merge(back, horizon=400.0).value.instance("x") is not None


times = st.sampled_from((0.0, 1.0, 2.0, 2.5, 3.0, 4.0))
steps = st.one_of(
    st.tuples(st.just("merge"), rings(), st.booleans()),
    st.tuples(st.just("heartbeat"), st.sampled_from(IDS), times),
    st.tuples(st.just("remove"), st.sampled_from(IDS), times),
    st.tuples(st.just("collect"), times),
)


@given(rings(), st.lists(steps, max_size=6), times)
def test_collection_shortcut_never_skips_anything(
    start: Ring, history: list[tuple[object, ...]], horizon: float
) -> None:
    """Rings carry a bound below which nothing is collectable, so the store's
    remove_tombstones after every merge is O(1); it must never hide a real tombstone."""
    ring = start
    ring.remove_tombstones(-1.0)  # sets the bound; every ring below derives its own
    for step in history:
        match step:
            case ("merge", Ring() as other, bool(local_cas)):
                ring = ring.merge(other, local_cas=local_cas).value
            case ("heartbeat", str(instance_id), float(now)):
                ring = ring.heartbeat(instance_id, now=now)
            case ("remove", str(instance_id), float(now)):
                ring = ring.remove(instance_id, now=now)
            case ("collect", float(now)):
                ring, _ = ring.remove_tombstones(now)
    fresh = Ring(ring.instances, ring.heartbeats)  # no bound: scans everything
    assert ring.remove_tombstones(horizon) == fresh.remove_tombstones(horizon)
