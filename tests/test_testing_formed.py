"""Formed clusters: every node starts holding every node (Memberlist.form), as converged
joins leave them, without the joins' traffic."""

from __future__ import annotations

import random

import pytest
import trio

from trio_gossip.core.membership.form import Formation, form
from trio_gossip.core.membership.member import EventKind, Member, MemberEvent
from trio_gossip.core.membership.state import MembershipState
from trio_gossip.testing import FactKind, GossipCluster, open_cluster, run
from trio_gossip.wire.errors import GossipError
from trio_gossip.wire.messages import NodeState


def _member(name: str, state: NodeState = NodeState.ALIVE) -> Member:
    return Member(name, bytes([10, 0, 0, 1]), 7946, b"", 1, state, 0.0, bytes([1, 5, 5, 0, 0, 0]))


def _started(name: str) -> MembershipState:
    return MembershipState(name).put_member(_member(name))


def test_form_holds_every_member_with_a_join_event_each_in_the_given_order() -> None:
    members = [_member(f"n{i}") for i in range(20)]
    t = form(_started("n3"), members, random.Random(1))
    assert dict(t.state.members) == {m.name: m for m in members}
    assert t.state.live_count == 20
    assert sorted(t.state.probe_order) == sorted(m.name for m in members)
    assert list(t.state.probe_order) != [m.name for m in members]  # shuffled
    assert t.effects == tuple(MemberEvent(EventKind.JOINED, m) for m in members if m.name != "n3")


def test_form_keeps_our_own_entry_and_applies_the_alive_filter() -> None:
    ours = _member("a")
    stranger = Member("a", bytes([10, 0, 0, 9]), 1, b"x", 9, NodeState.ALIVE, 5.0)
    t = form(_started("a"), [stranger, _member("b"), _member("c")], random.Random(1),
             alive_filter=lambda m: m.name != "c")  # fmt: skip
    assert t.state.members["a"] == ours
    assert set(t.state.members) == {"a", "b"}
    assert t.state.live_count == 2


@pytest.mark.parametrize(
    ("members", "error"),
    [
        ([_member("b", NodeState.DEAD)], "member 'b' is DEAD, not ALIVE"),
        ([_member("b"), _member("b")], "member 'b' is listed twice"),
    ],
)
def test_form_refuses_a_list_it_cannot_hold(members: list[Member], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        form(_started("a"), members, random.Random(1))


def test_form_refuses_a_node_that_knows_someone_already() -> None:
    state = _started("a").put_member(_member("b"))
    with pytest.raises(GossipError, match="only a started node that knows nobody yet"):
        form(state, [_member("c")], random.Random(1))
    with pytest.raises(GossipError, match="only a started node"):
        form(MembershipState("a"), [_member("c")], random.Random(1))


def _views(cluster: GossipCluster) -> dict[str, set[str]]:
    return {h.name: {m.name for m in h.memberlist.members() if m.state == NodeState.ALIVE}
            for h in cluster.running()}  # fmt: skip


def test_a_formed_cluster_is_converged_at_once_and_stays_so_without_news() -> None:
    """Converged at the block's start, every join in the history at t = 0, and a simulated
    minute later still whole with an empty transmit queue beyond the nodes' own alives
    (nothing was learned, so nothing is re-gossiped)."""

    async def main() -> tuple[float, int, dict[str, set[str]], int, int]:
        async with open_cluster(30, seed=4, formed=True) as cluster:
            waited = await cluster.converged()
            joins = sum(1 for f in cluster.facts() if f.kind is FactKind.ALIVE and f.time == 0)
            await trio.sleep(60.0)
            stats = [h.memberlist.statistics() for h in cluster.running()]
            dead = sum(1 for f in cluster.facts() if f.kind is FactKind.DEAD)
            return waited, joins, _views(cluster), dead, sum(s.catch_ups for s in stats)

    waited, joins, views, dead, catch_ups = run(main, seed=4)
    names = {f"node-{i:02d}" for i in range(30)}
    assert waited == 0.0
    assert joins == 30 * 30  # each node's own start, then the 29 others it was formed with
    assert views == dict.fromkeys(names, names)
    assert dead == 0
    assert catch_ups == 0


def test_a_formed_cluster_detects_a_kill_within_the_formula_bound_and_replays() -> None:
    async def main() -> tuple[float, str]:
        async with open_cluster(40, seed=9, formed=True) as cluster:
            await trio.sleep(5.0)
            await cluster.kill("node-17")
            took = await cluster.detected("node-17")
            return took, cluster.digest()

    took, digest = run(main, seed=9)
    again, digest_again = run(main, seed=9)
    assert took == again
    assert digest == digest_again
    assert took > 0


def test_forming_a_node_that_has_joined_is_refused() -> None:
    async def main() -> None:
        async with open_cluster(3, seed=1) as cluster:
            await cluster.converged()
            node = cluster["node-01"].memberlist
            with pytest.raises(GossipError, match="knows nobody yet"):
                await node.form([cluster["node-02"].memberlist.local_member])

    run(main, seed=1)


def test_one_formation_serves_every_node_with_its_own_entry_and_walk() -> None:
    members = [_member(f"n{i}") for i in range(12)]
    formation = Formation.of(members, random.Random(3))
    assert sorted(formation.order) == sorted(m.name for m in members)
    starts = set()
    for i in range(12):
        t = form(_started(f"n{i}"), formation, random.Random(i), events=False)
        assert dict(t.state.members) == {m.name: m for m in members}
        assert t.state.live_count == 12
        assert t.effects == ()  # events=False: no n^2 join events
        order = t.state.probe_order
        assert len(order) == 12
        # A rotation of the one shuffle: the walk is the shared order from its own start.
        start = formation.order.index(order[0])
        assert order == formation.order[start:] + formation.order[:start]
        starts.add(start)
    assert len(starts) > 1  # the nodes do not all start their walk at the same member


def test_a_formation_names_the_member_it_cannot_hold() -> None:
    with pytest.raises(ValueError, match="member 'b' is SUSPECT, not ALIVE"):
        Formation.of([_member("a"), _member("b", NodeState.SUSPECT)], random.Random(1))
    with pytest.raises(ValueError, match="member 'a' is listed twice"):
        Formation.of([_member("a"), _member("a")], random.Random(1))


def test_a_node_missing_from_the_formation_still_holds_itself() -> None:
    formation = Formation.of([_member("b"), _member("c")], random.Random(1))
    t = form(_started("a"), formation, random.Random(2), alive_filter=lambda m: m.name != "c")
    assert set(t.state.members) == {"a", "b"}
    assert sorted(t.state.probe_order) == ["a", "b"]
    assert t.effects == (MemberEvent(EventKind.JOINED, _member("b")),)
