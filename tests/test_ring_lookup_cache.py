"""Cached ring lookups against a plain reference walk, while the ring and `now` change.

`Ring.get` keeps each token position's walk and verdict in the token index's cache and
re-checks only heartbeats per call. The reference (`ring_support.reference_get`)
recomputes everything from the records on every call: token owners (conflicts settled as
in `TokenIndex`), then dskit's walk (ring/ring.go, Ring.findInstancesForKey) with this
package's per-zone quota (``max(1, replication_factor // zones)``, `lookup.get`), then
dskit's quorum filter (ring/replication_strategy.go, defaultReplicationStrategy.Filter)
with InstanceDesc.IsHealthy's heartbeat test (ring/model.go). Both must agree on every key at
every `now` (including exactly at heartbeat deadlines and one float step either side),
for every ring version, in any order of lookups: a cached answer must never outlive the
records or heartbeats it was computed from.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ring_support import reference_get

from trio_gossip.core.ring import (
    READ,
    REPORTING,
    WRITE,
    WRITE_NO_EXTEND,
    InstanceDesc,
    InstanceState,
    Operation,
    ReplicationSet,
    Ring,
    RingError,
    TooManyUnhealthyError,
    lookup,
)

NOW = 1000.0
MAX = 2**32 - 1
IDS = tuple(f"i{n}" for n in range(8))
SHARED = (0, 5, 1 << 31, MAX)  # tokens several instances claim, and the two ends
BEATS = (1000.0, 970.5, 940.0, 939.999, 900.0, 0.0)  # fresh at NOW first: it shrinks there
TIMEOUTS = (60.0, 60.0, 60, 30.5, 1e-3)


def outcome(lookup_call: Callable[[], ReplicationSet]) -> object:
    """Everything observable of a lookup: the replicas (records, in order), max_errors and
    its type, or the error's type and message."""
    try:
        result = lookup_call()
    except RingError as exc:
        return (type(exc), str(exc))
    return (result.instances, result.max_errors, type(result.max_errors))


# -- strategies ----------------------------------------------------------------------------

operations = st.one_of(
    st.sampled_from((WRITE, WRITE_NO_EXTEND, READ, REPORTING)),
    st.sampled_from((WRITE, READ)),
    st.builds(
        Operation.of,
        st.just("custom"),
        st.frozensets(st.sampled_from(InstanceState)),
        st.frozensets(st.sampled_from(InstanceState)),
    ),
)


def tokens_of(instance_id: str) -> st.SearchStrategy[frozenset[int]]:
    """Mostly tokens of the instance's own (simple draws are offset per instance, so they
    do not all collide on 0), some of the shared ones, now and then none."""
    salt = int(instance_id[1:]) * 0x9E3779B1
    own = st.integers(0, MAX).map(lambda t: (t + salt) % 2**32)
    token = st.one_of(own, own, st.sampled_from(SHARED))
    return st.frozensets(token, min_size=1, max_size=5) | st.frozensets(token, max_size=5)


@st.composite
def records(draw: st.DrawFn, instance_id: str) -> InstanceDesc:
    return InstanceDesc(
        id=instance_id,
        addr=draw(st.sampled_from(("", f"10.0.0.{instance_id[1:]}:1"))),
        zone=draw(st.sampled_from(("z1", "z2", "z3", ""))),
        state=draw(st.just(InstanceState.ACTIVE) | st.sampled_from(InstanceState)),
        tokens=draw(tokens_of(instance_id)),
        registered_at=draw(st.sampled_from((0.0, 5.0, 9.0))),
    )


@st.composite
def lookup_rings(draw: st.DrawFn) -> Ring:
    ids = draw(st.lists(st.sampled_from(IDS), unique=True, min_size=3, max_size=len(IDS)))
    descs = [draw(records(i)) for i in ids]
    beat = st.sampled_from(BEATS[:3]) | st.sampled_from((*BEATS, None))  # None: never beat
    drawn = {d.id: draw(beat) for d in descs}
    beats = {i: beat for i, beat in drawn.items() if beat is not None}
    return Ring.of(descs, beats)


def nows(ring: Ring) -> st.SearchStrategy[float]:
    """Around NOW, and at every heartbeat deadline of the ring and one float step off it."""
    edges = [
        edge
        for beat in {*ring.heartbeats.values(), 0.0}
        for timeout in TIMEOUTS
        for deadline in (beat + timeout,)
        for edge in (
            math.nextafter(deadline, -math.inf),
            deadline,
            math.nextafter(deadline, math.inf),
        )
    ]
    return st.one_of(
        st.sampled_from(edges),
        st.floats(900.0, 1100.0),
        st.sampled_from((NOW, 1000, 1030)),  # ints take the same arithmetic
    )


def keys(ring: Ring) -> st.SearchStrategy[int]:
    claimed = sorted({t for d in ring.instances.values() for t in d.tokens}) or [0]
    near = st.sampled_from(claimed).flatmap(
        lambda t: st.sampled_from([k for k in (t - 1, t, t + 1) if 0 <= k <= MAX])
    )
    return st.one_of(st.integers(0, MAX), near, st.sampled_from((0, MAX)))


@st.composite
def lookups(draw: st.DrawFn, ring: Ring) -> dict[str, Any]:
    return {
        "key": draw(keys(ring)),
        "op": draw(operations),
        "now": draw(nows(ring)),
        "replication_factor": draw(st.sampled_from((1, 2, 3, 3, 3, 4, 5, 3.0))),
        "zone_awareness": draw(st.sampled_from((True, True, False, 1))),
        "heartbeat_timeout": draw(st.sampled_from(TIMEOUTS)),
    }


def changed(draw: st.DrawFn, ring: Ring) -> Ring:
    """The ring after one random write: a heartbeat (records and index kept), a state
    change (same index, other records), new tokens, a removal or a newcomer."""
    instance_id = draw(st.sampled_from(IDS))
    old = ring.instances.get(instance_id)
    kind = draw(st.sampled_from(("heartbeat", "state", "tokens", "remove", "put")))
    at = draw(st.sampled_from((*BEATS, 1010.0, 1100.0)))
    if kind == "heartbeat":
        return ring.heartbeat(instance_id, now=at)
    if kind == "remove":
        return ring.remove(instance_id, now=at)
    desc = old if old is not None and not old.is_tombstone else draw(records(instance_id))
    if kind == "state":
        state = draw(st.sampled_from([s for s in InstanceState if s is not InstanceState.LEFT]))
        desc = InstanceDesc(
            desc.id,
            addr=desc.addr,
            zone=desc.zone,
            state=state,
            tokens=desc.tokens,
            registered_at=desc.registered_at,
        )
    elif kind == "tokens":
        desc = InstanceDesc(
            desc.id,
            addr=desc.addr,
            zone=desc.zone,
            state=desc.state,
            tokens=draw(tokens_of(instance_id)),
            registered_at=desc.registered_at,
        )
    return ring.put(desc, now=at)


def check(ring: Ring, call: dict[str, Any]) -> None:
    key, rest = call["key"], {k: v for k, v in call.items() if k != "key"}
    expected = outcome(lambda: reference_get(ring, key, **rest))
    assert outcome(lambda: ring.get(key, **rest)) == expected, call
    # A second time: now surely from the cache.
    assert outcome(lambda: ring.get(key, **rest)) == expected, call


# -- the tests -----------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_cached_lookups_agree_with_the_reference_as_time_passes(data: st.DataObject) -> None:
    """One ring, many lookups: keys repeat, so answers come from the cache at other `now`s
    (crossing heartbeat deadlines both ways) and for other operations and factors."""
    ring = data.draw(lookup_rings())
    calls = data.draw(st.lists(lookups(ring), min_size=1, max_size=12))
    for call in calls:
        check(ring, call)
    for call in calls:  # the same keys again, each at every other call's time
        for other in calls:
            check(ring, {**call, "now": other["now"]})


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_cached_lookups_agree_with_the_reference_as_the_ring_changes(
    data: st.DataObject,
) -> None:
    """Rings derived from each other share their token index (and its cache); lookups
    alternate between old and new versions, so every cached table must notice the
    records or heartbeats it was not computed for."""
    versions = [data.draw(lookup_rings())]
    for _ in range(data.draw(st.integers(1, 8))):
        ring = data.draw(st.sampled_from(versions))
        for call in data.draw(st.lists(lookups(ring), max_size=4)):
            check(ring, call)
        versions.append(changed(data.draw, versions[-1]))
    for ring in reversed(versions):
        for call in data.draw(st.lists(lookups(ring), min_size=1, max_size=3)):
            check(ring, call)


def ring_of(*specs: tuple[str, str, InstanceState, list[int]], beat: float = NOW) -> Ring:
    descs = [InstanceDesc(i, addr=f"{i}:1", zone=z, state=s, tokens=t) for i, z, s, t in specs]
    return Ring.of(descs, {d.id: beat for d in descs})


ZONED = (
    ("a", "z1", InstanceState.ACTIVE, [10, 40]),
    ("b", "z2", InstanceState.ACTIVE, [20, 50]),
    ("c", "z3", InstanceState.ACTIVE, [30, 60]),
)


def test_an_answer_is_cached_and_shared_by_rings_that_differ_by_heartbeats() -> None:
    ring = ring_of(*ZONED)
    first = ring.get(15, WRITE, now=NOW)
    assert [d.id for d in first.instances] == ["b", "c", "a"]
    assert ring.get(19, WRITE, now=NOW + 1) is first  # same position, same answer
    later = ring.heartbeat("a", now=NOW + 5)
    assert later.index is ring.index
    assert later.get(15, WRITE, now=NOW + 5) is first


def test_a_cached_answer_expires_exactly_at_the_heartbeat_deadline() -> None:
    ring = ring_of(*ZONED).heartbeat("c", now=NOW + 30)
    deadline = NOW + 60.0  # a and b: NOW - NOW <= 60 up to here, not one step past it
    assert [d.id for d in ring.get(15, WRITE, now=deadline).instances] == ["b", "c", "a"]
    past = math.nextafter(deadline, math.inf)
    with pytest.raises(TooManyUnhealthyError, match="unhealthy instances: b:1,a:1"):
        ring.get(15, WRITE, now=past)
    # Back in time (another caller's clock): the cached answer holds again.
    assert [d.id for d in ring.get(15, WRITE, now=deadline).instances] == ["b", "c", "a"]


def test_a_state_change_with_the_same_tokens_drops_the_cached_answers() -> None:
    ring = ring_of(*ZONED, ("d", "z2", InstanceState.ACTIVE, [25]))
    assert [d.id for d in ring.get(15, WRITE, now=NOW).instances] == ["b", "c", "a"]
    joining = InstanceDesc("b", addr="b:1", zone="z2", state=InstanceState.JOINING, tokens=[20, 50])
    changed_ring = ring.put(joining, now=NOW)
    assert changed_ring.index is ring.index  # same topology: the index is shared
    # b is now walked past (WRITE extends on JOINING) and d takes zone z2's place.
    assert [d.id for d in changed_ring.get(15, WRITE, now=NOW).instances] == ["d", "c", "a"]
    assert [d.id for d in ring.get(15, WRITE, now=NOW).instances] == ["b", "c", "a"]


def test_answers_past_the_cache_limit_are_still_right(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lookup, "_MAX_ENTRIES", 2)
    ring = ring_of(*ZONED)
    for key in range(0, 70, 3):
        for _ in range(2):
            call = {"now": NOW, "replication_factor": 3, "zone_awareness": True}
            expected = reference_get(ring, key, WRITE, heartbeat_timeout=60.0, **call)
            assert ring.get(key, WRITE, **call) == expected  # type: ignore[arg-type]


def test_a_large_ring_agrees_with_the_reference_key_by_key() -> None:
    """60 instances x 16 tokens in 4 zones (one of them ""), every state, heartbeats
    spread around the deadline: 300 keys, each looked up at several times, twice."""
    rng = random.Random(7)
    zones = ("z1", "z2", "z3", "")
    states = [InstanceState.ACTIVE] * 6 + list(InstanceState)
    descs = [
        InstanceDesc(
            f"n{n}",
            addr=f"10.1.0.{n}:1" if n % 7 else "",
            zone=zones[n % len(zones)],
            state=rng.choice(states),
            tokens=[rng.getrandbits(32) for _ in range(16)] + [rng.choice(SHARED)],
            registered_at=rng.choice((0.0, 5.0)),
        )
        for n in range(60)
    ]
    ring = Ring.of(descs, {d.id: rng.choice((940.0, 970.0, 1000.0)) for d in descs})
    times = (NOW, 1000.0 + 0.5, 1030.0, math.nextafter(1030.0, math.inf), 1060.0, 1061.0)
    for _ in range(2):
        for key in [rng.getrandbits(32) for _ in range(300)]:
            for now in times:
                for op in (WRITE, READ):
                    check(
                        ring,
                        {
                            "key": key,
                            "op": op,
                            "now": now,
                            "replication_factor": 3,
                            "zone_awareness": key % 2 == 0,
                            "heartbeat_timeout": 60.0,
                        },
                    )
