"""The ring merge is a CRDT join; deltas are minimal and sufficient; local CAS always wins."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from ring_support import IDS, rings

from trio_gossip.core.kv.hlc import Version
from trio_gossip.core.kv.mergeable import Mergeable
from trio_gossip.core.ring import InstanceDesc, InstanceState, Ring
from trio_gossip.core.ring.index import TokenIndex

ACTIVE, LEAVING, LEFT = InstanceState.ACTIVE, InstanceState.LEAVING, InstanceState.LEFT


def join(a: Ring, b: Ring) -> Ring:
    return a.merge(b).value


def index_view(index: TokenIndex) -> tuple[object, ...]:
    return (
        list(index.tokens),
        index.owners,
        dict(index.contested),
        dict(index.owned),
        index.zones,
        dict(index.zone_of),
        index.zone_sizes,
        index.read_only,
    )


def test_ring_is_a_mergeable() -> None:
    value: Mergeable = Ring()
    assert value.merge_content() == frozenset()


@given(rings(), rings())
def test_merge_is_commutative(a: Ring, b: Ring) -> None:
    assert join(a, b) == join(b, a)


@given(rings(), rings(), rings())
def test_merge_is_associative(a: Ring, b: Ring, c: Ring) -> None:
    assert join(join(a, b), c) == join(a, join(b, c))


@given(rings())
def test_merge_is_idempotent(a: Ring) -> None:
    result = a.merge(a)
    assert result.change is None
    assert result.value is a


@given(rings(), rings())
def test_change_is_sufficient_and_minimal(a: Ring, b: Ring) -> None:
    result = a.merge(b)
    if result.change is None:
        assert result.value is a
        assert join(a, b) == a
        return
    # Applying only the delta gives the full result, so gossiping the delta is enough.
    assert join(a, result.change) == result.value
    # Nothing in the delta was already known.
    for instance_id, desc in result.change.instances.items():
        assert a.instances.get(instance_id) != desc
    for instance_id, beat in result.change.heartbeats.items():
        assert beat > a.heartbeats.get(instance_id, float("-inf"))
    # And the result absorbs both inputs.
    assert result.value.merge(b).change is None
    assert result.value.merge(a).change is None


@given(rings(), st.lists(rings(), min_size=1, max_size=4))
def test_reused_index_equals_a_fresh_build(start: Ring, updates: list[Ring]) -> None:
    ring = start
    ring.index  # noqa: B018 - built, so merges below have an index to hand on
    for update in updates:
        ring = ring.merge(update).value
        ring, _ = ring.remove_tombstones(2.0)
        assert index_view(ring.index) == index_view(TokenIndex.build(ring.instances))


@given(rings(), st.lists(rings(), min_size=1, max_size=4))
def test_patched_index_equals_a_fresh_build(start: Ring, updates: list[Ring]) -> None:
    """Patching is what large rings do on a small change; small rings here take that path
    on every change, so conflicts, LEAVING flips and tombstones all go through it."""
    ring, index = start, start.index
    for update in updates:
        merged, _ = ring.merge(update).value.remove_tombstones(2.0)
        changed = set(merged.instances) ^ set(ring.instances) | {
            i for i in merged.instances if merged.instances[i] != ring.instances.get(i)
        }
        index = index.patched(merged.instances, changed)
        assert index_view(index) == index_view(TokenIndex.build(merged.instances))
        ring = merged


def test_heartbeat_delta_keeps_the_index_and_carries_no_record() -> None:
    ring = Ring().put(InstanceDesc("a", state=ACTIVE, tokens=[1, 2, 3]), now=10.0)
    index = ring.index
    beat = ring.heartbeat("a", now=11.0)
    result = ring.merge(Ring(heartbeats={"a": 11.0}))
    assert result.value == beat
    assert result.value.index is index
    assert result.change == Ring(heartbeats={"a": 11.0})
    assert beat.index is index


def test_state_change_without_new_ownership_keeps_the_index() -> None:
    ring = Ring().put(InstanceDesc("a", state=InstanceState.JOINING, tokens=[5]), now=1.0)
    index = ring.index
    active = ring.put(InstanceDesc("a", state=ACTIVE, tokens=[5]), now=2.0)
    assert active.index is index
    leaving = active.put(InstanceDesc("a", state=LEAVING, tokens=[5]), now=3.0)
    assert leaving.index is not index  # LEAVING loses conflicts: ownership may move


writes = st.tuples(st.sampled_from(("w1", "w2")), st.sampled_from(InstanceState))


@given(rings(), st.sampled_from(IDS), writes, writes)
def test_two_writers_at_the_same_instant_converge(
    base: Ring,
    instance_id: str,
    write_1: tuple[str, InstanceState],
    write_2: tuple[str, InstanceState],
) -> None:
    """dskit leaves two nodes apart when both write one record in the same second; here
    the stamps differ (or the content breaks the tie) and both nodes end equal."""
    (writer_1, state_1), (writer_2, state_2) = write_1, write_2
    now = 5.0
    node_1 = base.put(
        InstanceDesc(instance_id, state=state_1, tokens=[1]), now=now, writer=writer_1
    )
    node_2 = base.put(
        InstanceDesc(instance_id, state=state_2, tokens=[2]), now=now, writer=writer_2
    )
    assert join(node_1, node_2) == join(node_2, node_1)


def test_same_stamp_different_content_resolves_the_same_everywhere() -> None:
    stamp = Version(1000, 0, "a")
    live = InstanceDesc("a", state=ACTIVE, tokens=[1], version=stamp)
    left = InstanceDesc("a", state=LEFT, version=stamp)
    one, two = Ring.of([live]), Ring.of([left])
    assert join(one, two) == join(two, one) == two  # a tombstone wins a tie, as in dskit


def test_put_stamps_versions_that_always_advance() -> None:
    ring = Ring().put(InstanceDesc("a", tokens=[1]), now=100.0)
    assert ring.instances["a"].version == Version(100_000, 0, "a")
    # A clock that went back still yields a newer stamp: no waiting, no lost write.
    later = ring.put(InstanceDesc("a", state=ACTIVE, tokens=[1]), now=99.0, writer="b")
    assert later.instances["a"].version == Version(100_000, 1, "b")
    assert join(ring, later) == later
    assert later.put(InstanceDesc("a", state=ACTIVE, tokens=[1]), now=200.0) is later


def test_local_cas_tombstones_what_the_desired_state_lacks() -> None:
    ring = Ring().put(InstanceDesc("a", tokens=[1]), now=10.0).heartbeat("a", now=30.0)
    ring = ring.put(InstanceDesc("b", tokens=[2]), now=10.0)
    desired = Ring.of([ring.instances["b"]])
    result = ring.merge(desired, local_cas=True)
    tomb = result.value.instances["a"]
    assert tomb.state is LEFT
    assert tomb.tokens == ()
    # Newer than everything seen of "a", including its last heartbeat.
    assert tomb.version > ring.instances["a"].version
    assert tomb.version.seconds >= 30.0
    assert result.change is not None
    assert set(result.change.instances) == {"a"}
    # Without local_cas a missing record means nothing.
    assert ring.merge(desired).change is None


def test_local_cas_output_wins_without_a_fresh_stamp() -> None:
    """A CAS function that edits the tombstone-free copy readers get may leave versions
    as they were, or even reuse a record hidden behind a newer tombstone."""
    ring = Ring().put(InstanceDesc("a", tokens=[1]), now=10.0)
    edited = Ring.of([InstanceDesc("a", state=ACTIVE, tokens=[1], version=Version.ZERO)])
    result = ring.merge(edited, local_cas=True)
    assert result.value.instances["a"].state is ACTIVE
    assert result.value.instances["a"].version > ring.instances["a"].version
    # The same edit from the network loses: its stamp is older.
    assert ring.merge(edited).change is None

    gone = ring.remove("a", now=20.0)
    back = Ring().put(InstanceDesc("a", state=ACTIVE, tokens=[1]), now=15.0)
    revived = gone.merge(back, local_cas=True).value.instances["a"]
    assert revived.state is ACTIVE
    assert revived.version > gone.instances["a"].version


def test_conflicting_token_goes_to_the_same_owner_in_any_order() -> None:
    old = InstanceDesc("z-old", state=ACTIVE, tokens=[7, 8], registered_at=1.0)
    new = InstanceDesc("a-new", state=ACTIVE, tokens=[7, 9], registered_at=2.0)
    one = Ring().put(old, now=3.0)
    two = Ring().put(new, now=3.0)
    for ring in (join(one, two), join(two, one)):
        assert ring.owned_tokens("z-old") == (7, 8)  # registered first, despite its id
        assert ring.owned_tokens("a-new") == (9,)
        assert ring.instances["a-new"].tokens == (7, 9)  # the claim itself is kept
        assert ring.taken_tokens() == {7, 8, 9}
    leaving = join(one, two).put(
        InstanceDesc("z-old", state=LEAVING, tokens=[7, 8], registered_at=1.0), now=4.0
    )
    assert leaving.owned_tokens("a-new") == (7, 9)  # a LEAVING claimant loses


def test_remove_is_newer_than_the_last_heartbeat() -> None:
    ring = Ring().put(InstanceDesc("a", tokens=[1]), now=10.0).heartbeat("a", now=50.0)
    gone = ring.remove("a", now=40.0, writer="forgetter")  # a clock behind the heartbeat
    tomb = gone.instances["a"]
    assert tomb.state is LEFT
    assert tomb.version == Version(50_000, 0, "forgetter")
    assert gone.instance("a") is None
    assert gone.remove("a", now=60.0) is gone
    assert not gone.index.tokens


def test_merge_content_names_records_and_heartbeats_apart() -> None:
    ring = Ring().put(InstanceDesc("a"), now=1.0).heartbeat("b", now=2.0)
    assert ring.merge_content() == {"instance/a", "heartbeat/b"}
