from __future__ import annotations

import random

import attrs
import pytest

from trio_gossip.core.config import Config
from trio_gossip.core.membership import rules, schedule
from trio_gossip.core.membership.state import MembershipState
from trio_gossip.core.membership.version import ProtocolVersionError, verify_protocol
from trio_gossip.wire.messages import Alive, Dead, NodeState, PushNodeState, Suspect

CFG = Config(name="me", gossip_to_the_dead_time=30.0)
VSN = CFG.build_vsn()


def cluster(n_peers: int, seed: int = 1) -> MembershipState:
    rng = random.Random(seed)
    state = rules.set_local_alive(MembershipState("me"), addr=bytes([10, 0, 0, 1]), port=1,
                                  meta=b"", now=0.0, config=CFG, rng=rng).state  # fmt: skip
    for i in range(n_peers):
        msg = Alive(1, f"n{i}", bytes([10, 0, 1, i % 250]), 1000 + i, None, VSN)
        state = rules.alive(state, msg, 0.0, CFG, rng).state
    return state


def test_probe_walk_visits_everyone_once_per_round() -> None:
    state = cluster(6)
    state = rules.dead(state, Dead(1, "n0", "x"), 0.0, CFG).state
    state = rules.suspect(state, Suspect(1, "n1", "x"), 0.0, CFG).state
    rng = random.Random(5)
    seen = []
    for _ in range(5):
        state, target = schedule.next_probe_target(state, 1.0, CFG, rng)
        assert target is not None
        seen.append(target.name)
    # Self and dead are skipped; suspects are probed.
    assert sorted(seen) == ["n1", "n2", "n3", "n4", "n5"]
    first_round_order = state.probe_order
    state, target = schedule.next_probe_target(state, 1.0, CFG, rng)
    assert target is not None
    # The wrap reshuffled (the order of 7 names is very unlikely to stay put).
    assert sorted(state.probe_order) == sorted(first_round_order)


def test_wrap_reaps_dead_and_left_after_gossip_to_the_dead_time() -> None:
    state = cluster(3)
    state = rules.dead(state, Dead(1, "n0", "x"), 0.0, CFG).state
    state = rules.dead(state, Dead(1, "n1", "n1"), 0.0, CFG).state
    rng = random.Random(0)
    kept = schedule.reap_and_shuffle(state, 30.0, CFG, rng)
    assert set(kept.members) == {"me", "n0", "n1", "n2"}
    reaped = schedule.reap_and_shuffle(state, 30.5, CFG, rng)
    assert set(reaped.members) == {"me", "n2"}
    assert sorted(reaped.probe_order) == ["me", "n2"]
    # A reaped name is new again: any address is accepted.
    msg = Alive(1, "n1", bytes([9, 9, 9, 9]), 5, None, VSN)
    assert rules.alive(reaped, msg, 31.0, CFG, rng).state.members["n1"].state == NodeState.ALIVE


def test_nobody_to_probe() -> None:
    _, target = schedule.next_probe_target(cluster(0), 0.0, CFG, random.Random(0))
    assert target is None


def test_new_node_lands_inside_current_round() -> None:
    # memberlist swaps a newcomer into a random earlier slot rather than appending it.
    positions = set()
    for seed in range(20):
        state = cluster(8, seed)
        positions.add(state.probe_order.index("n7"))
    assert len(positions) > 3


def test_gossip_targets_rules() -> None:
    state = cluster(4)
    state = rules.dead(state, Dead(1, "n0", "x"), 10.0, CFG).state
    state = rules.dead(state, Dead(1, "n1", "n1"), 10.0, CFG).state
    state = rules.suspect(state, Suspect(1, "n2", "x"), 10.0, CFG).state
    cfg = Config(name="me", gossip_nodes=10, gossip_to_the_dead_time=30.0)
    names = {m.name for m in schedule.gossip_targets(state, 20.0, cfg, random.Random(0))}
    assert names == {"n0", "n2", "n3"}  # recent dead yes, left never, self never
    later = {m.name for m in schedule.gossip_targets(state, 41.0, cfg, random.Random(0))}
    assert later == {"n2", "n3"}


def test_indirect_helpers_alive_only() -> None:
    state = cluster(5)
    state = rules.suspect(state, Suspect(1, "n1", "x"), 0.0, CFG).state
    for seed in range(10):
        helpers = schedule.indirect_probe_helpers(state, "n0", CFG, random.Random(seed))
        names = [m.name for m in helpers]
        assert len(names) == 3
        assert len(set(names)) == 3
        assert not {"me", "n0", "n1"} & set(names)


def test_k_random_large_cluster_is_distinct_and_random() -> None:
    state = cluster(200)
    rng = random.Random(3)
    picks = [schedule.k_random_members(state, 3, rng, lambda m: m.name != "me") for _ in range(50)]
    assert all(len({m.name for m in p}) == 3 for p in picks)
    assert len({m.name for p in picks for m in p}) > 60


def test_push_pull_peer() -> None:
    assert schedule.push_pull_peer(cluster(0), random.Random(0)) is None
    peer = schedule.push_pull_peer(cluster(1), random.Random(0))
    assert peer is not None
    assert peer.name == "n0"


@pytest.mark.parametrize(
    ("n", "mult"),
    [(1, 1), (32, 1), (33, 2), (64, 2), (65, 3), (128, 3), (129, 4), (256, 4), (257, 5)],
)
def test_push_pull_scale(n: int, mult: int) -> None:
    assert schedule.push_pull_scale(30.0, n) == 30.0 * mult


def _st(vsn: bytes, state: NodeState = NodeState.ALIVE, name: str = "r") -> PushNodeState:
    return PushNodeState(name, b"\x01\x02\x03\x04", 1, None, 1, int(state), vsn)


@pytest.mark.parametrize(
    ("local", "remote", "ok"),
    [
        (bytes([1, 5, 2, 0, 0, 0]), bytes([1, 5, 2, 0, 0, 0]), True),
        (bytes([1, 5, 2, 0, 0, 0]), bytes([1, 5, 5, 0, 0, 0]), True),
        (bytes([1, 5, 2, 0, 0, 0]), bytes([3, 5, 3, 0, 0, 0]), False),  # our PCur 2 < PMin 3
        (bytes([1, 2, 2, 0, 0, 0]), bytes([1, 5, 3, 0, 0, 0]), False),  # their PCur 3 > our PMax
        (bytes([1, 5, 2, 2, 5, 4]), bytes([1, 5, 2, 2, 5, 5]), True),  # serf-like overlap
        (bytes([1, 5, 2, 0, 0, 0]), bytes([1, 5, 2, 2, 5, 5]), False),  # plain vs serf
        (bytes([1, 5, 2, 0, 0, 0]), bytes([1, 5]), False),  # short Vsn reads as PCur 0
    ],
)
def test_verify_protocol_table(local: bytes, remote: bytes, ok: bool) -> None:
    cfg = Config(name="me", delegate_protocol_min=local[3], delegate_protocol_max=local[4],
                 delegate_protocol_version=local[5])  # fmt: skip
    state = rules.set_local_alive(MembershipState("me"), addr=b"\x01\x01\x01\x01", port=1,
                                  meta=b"", now=0.0, config=cfg).state  # fmt: skip
    state = state.put_member(attrs.evolve(state.members["me"], vsn=local))
    if ok:
        verify_protocol(state, [_st(remote)])
    else:
        with pytest.raises(ProtocolVersionError):
            verify_protocol(state, [_st(remote)])


def test_verify_protocol_dead_remote_range_not_counted_but_checked() -> None:
    state = cluster(0)
    # A dead entry's [min, max] is ignored when computing the range...
    verify_protocol(state, [_st(bytes([1, 3, 2, 0, 0, 0]), NodeState.DEAD)])
    # ...but its current version must still fit.
    with pytest.raises(ProtocolVersionError):
        verify_protocol(state, [_st(bytes([1, 5, 9, 0, 0, 0]), NodeState.DEAD)])
