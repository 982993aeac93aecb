from __future__ import annotations

import random

import attrs
import pytest

from trio_gossip.core.config import Config
from trio_gossip.core.membership import rules
from trio_gossip.core.membership.member import EventKind, MemberEvent
from trio_gossip.core.membership.state import (
    Broadcast,
    Conflict,
    MembershipState,
    Refuted,
    SuspicionTimer,
    Transition,
)
from trio_gossip.core.membership.version import ProtocolVersionError
from trio_gossip.wire.messages import Alive, Dead, NodeState, PushNodeState, Suspect

CFG = Config(name="me", bind_port=7946)
VSN = CFG.build_vsn()
IP = bytes([10, 0, 0, 1])


def ip(i: int) -> bytes:
    return bytes([10, 0, 0, i])


def fresh(config: Config = CFG) -> MembershipState:
    t = rules.set_local_alive(
        MembershipState(config.name), addr=IP, port=7946, meta=b"", now=0.0, config=config,
        rng=random.Random(1),
    )  # fmt: skip
    return t.state


def with_peers(names: list[str], state: MembershipState | None = None) -> MembershipState:
    state = state or fresh()
    rng = random.Random(2)
    for i, name in enumerate(names):
        state = rules.alive(state, Alive(1, name, ip(i + 2), 7946, None, VSN), 0.0, CFG, rng).state
    return state


def kinds(t: Transition) -> list[type]:
    return [type(e) for e in t.effects]


def events(t: Transition) -> list[EventKind]:
    return [e.kind for e in t.effects if isinstance(e, MemberEvent)]


# ---- alive -----------------------------------------------------------------------------------


def test_bootstrap_creates_self_at_incarnation_1() -> None:
    t = rules.set_local_alive(MembershipState("me"), addr=IP, port=7946, meta=b"m", now=5.0,
                              config=CFG)  # fmt: skip
    me = t.state.local
    assert me is not None
    assert (me.incarnation, me.state, me.meta, me.vsn) == (1, NodeState.ALIVE, b"m", VSN)
    assert events(t) == [EventKind.JOINED]
    (bcast,) = [e for e in t.effects if isinstance(e, Broadcast)]
    assert bcast.message == Alive(1, "me", IP, 7946, b"m", VSN)
    assert t.state.live_count == 1


def test_new_node_joins_and_is_gossiped() -> None:
    state = fresh()
    msg = Alive(3, "b", ip(2), 7000, b"meta", VSN)
    t = rules.alive(state, msg, 1.0, CFG, random.Random(0))
    b = t.state.members["b"]
    assert (b.state, b.incarnation, b.port, b.meta, b.state_change) == (
        NodeState.ALIVE, 3, 7000, b"meta", 1.0)  # fmt: skip
    assert Broadcast(msg) in t.effects
    assert events(t) == [EventKind.JOINED]
    assert set(t.state.probe_order) == {"me", "b"}
    assert t.state.live_count == 2


def test_alive_needs_strictly_newer_incarnation() -> None:
    state = with_peers(["b"])
    same = rules.alive(state, Alive(1, "b", ip(2), 7946, None, VSN), 2.0, CFG)
    assert same.state is state
    assert same.effects == ()
    newer = rules.alive(state, Alive(2, "b", ip(2), 7946, b"x", VSN), 2.0, CFG)
    assert newer.state.members["b"].incarnation == 2
    assert events(newer) == [EventKind.UPDATED]  # meta changed


def test_alive_incarnation_zero_leaves_phantom_dead() -> None:
    t = rules.alive(fresh(), Alive(0, "ghost", ip(9), 1, None, VSN), 1.0, CFG)
    assert t.state.members["ghost"].state == NodeState.DEAD
    assert t.effects == ()


def test_alive_with_bad_vsn_ignored() -> None:
    state = fresh()
    for vsn in (bytes([0, 5, 2, 0, 0, 0]), bytes([1, 0, 2, 0, 0, 0]), bytes([3, 2, 2, 0, 0, 0])):
        t = rules.alive(state, Alive(1, "b", ip(2), 1, None, vsn), 1.0, CFG)
        assert "b" not in t.state.members


def test_alive_filter_can_refuse() -> None:
    t = rules.alive(fresh(), Alive(1, "b", ip(2), 1, None, VSN), 1.0, CFG,
                    alive_filter=lambda m: m.name != "b")  # fmt: skip
    assert "b" not in t.state.members
    short = rules.alive(fresh(), Alive(1, "c", ip(2), 1, None, VSN[:3]), 1.0, CFG,
                        alive_filter=lambda m: True)  # fmt: skip
    assert "c" not in short.state.members


def test_address_conflict_is_refused_and_reported() -> None:
    state = with_peers(["b"])
    t = rules.alive(state, Alive(5, "b", ip(99), 7946, None, VSN), 1.0, CFG)
    assert t.state.members["b"].addr == ip(2)
    (conflict,) = t.effects
    assert isinstance(conflict, Conflict)
    assert conflict.other.addr == ip(99)
    # Same IPv4 as 16 bytes is a different address too (Go compares raw bytes).
    mapped = bytes(10) + b"\xff\xff" + ip(2)
    assert isinstance(rules.alive(state, Alive(5, "b", mapped, 7946, None, VSN), 1.0,
                                  CFG).effects[0], Conflict)  # fmt: skip


def test_left_node_name_can_move_to_new_address() -> None:
    state = with_peers(["b"])
    state = rules.dead(state, Dead(1, "b", "b"), 1.0, CFG).state
    assert state.members["b"].state == NodeState.LEFT
    # Even a lower incarnation is accepted: updatesNode bypasses the incarnation test.
    t = rules.alive(state, Alive(1, "b", ip(99), 8000, None, VSN), 2.0, CFG)
    b = t.state.members["b"]
    assert (b.state, b.addr, b.port) == (NodeState.ALIVE, ip(99), 8000)
    assert events(t) == [EventKind.JOINED]


def test_dead_node_reclaim_time() -> None:
    cfg = attrs.evolve(CFG, dead_node_reclaim_time=10.0)
    state = with_peers(["b"])
    state = rules.dead(state, Dead(1, "b", "me"), 1.0, cfg).state
    early = rules.alive(state, Alive(2, "b", ip(99), 1, None, VSN), 5.0, cfg)
    assert isinstance(early.effects[0], Conflict)
    late = rules.alive(state, Alive(2, "b", ip(99), 1, None, VSN), 11.5, cfg)
    assert late.state.members["b"].addr == ip(99)
    # Default reclaim time 0 means never.
    never = rules.alive(state, Alive(2, "b", ip(99), 1, None, VSN), 1e6, CFG)
    assert isinstance(never.effects[0], Conflict)


def test_alive_clears_suspicion_without_event() -> None:
    state = with_peers(["b", "c", "d", "e"])
    state = rules.suspect(state, Suspect(1, "b", "c"), 1.0, CFG).state
    assert "b" in state.suspicions
    t = rules.alive(state, Alive(2, "b", ip(2), 7946, None, VSN), 2.0, CFG)
    assert "b" not in t.state.suspicions
    assert t.state.members["b"].state == NodeState.ALIVE
    assert events(t) == []


def test_stale_alive_about_self_ignored_equal_is_noop() -> None:
    state = fresh()
    same = rules.alive(state, Alive(1, "me", IP, 7946, None, VSN), 1.0, CFG)
    assert same.effects == ()


def test_alive_about_self_with_other_meta_refutes() -> None:
    state = fresh()
    t = rules.alive(state, Alive(1, "me", IP, 7946, b"impostor", VSN), 1.0, CFG)
    assert Refuted(1, 2) in t.effects
    assert t.state.local is not None
    assert t.state.local.incarnation == 2
    assert t.state.local.meta == b""
    assert t.state.awareness == 1


def test_higher_alive_about_self_refutes_past_it() -> None:
    t = rules.alive(fresh(), Alive(7, "me", IP, 7946, None, VSN), 1.0, CFG)
    assert t.state.local is not None
    assert t.state.local.incarnation == 8
    (bcast,) = [e for e in t.effects if isinstance(e, Broadcast)]
    assert bcast.message == Alive(8, "me", IP, 7946, None, VSN)


# ---- suspect ---------------------------------------------------------------------------------


def test_suspect_starts_timer_and_gossips() -> None:
    state = with_peers(["b", "c", "d", "e"])  # n = 5, k = 2
    t = rules.suspect(state, Suspect(1, "b", "c"), 10.0, CFG)
    b = t.state.members["b"]
    assert (b.state, b.state_change) == (NodeState.SUSPECT, 10.0)
    assert Broadcast(Suspect(1, "b", "c")) in t.effects
    assert SuspicionTimer("b", 10.0 + 24.0, False) in t.effects
    assert t.state.live_count == 5  # suspects are members
    assert events(t) == []


def test_suspect_equal_incarnation_accepted_lower_ignored() -> None:
    state = with_peers(["b"])
    state = rules.alive(state, Alive(4, "b", ip(2), 7946, None, VSN), 1.0, CFG).state
    assert rules.suspect(state, Suspect(3, "b", "x"), 2.0, CFG).state is state
    assert rules.suspect(state, Suspect(4, "b", "x"), 2.0, CFG).state.members["b"].state == (
        NodeState.SUSPECT)  # fmt: skip


def test_unknown_suspect_and_dead_ignored() -> None:
    state = fresh()
    assert rules.suspect(state, Suspect(1, "zz", "x"), 1.0, CFG).state is state
    assert rules.dead(state, Dead(1, "zz", "x"), 1.0, CFG).state is state


def test_confirmations_shorten_and_regossip() -> None:
    state = with_peers([f"n{i}" for i in range(9)])  # n = 10: min 4, max 24, k 2
    state = rules.suspect(state, Suspect(1, "n0", "n1"), 0.0, CFG).state
    dup = rules.suspect(state, Suspect(1, "n0", "n1"), 1.0, CFG)
    assert dup.effects == ()
    t = rules.suspect(state, Suspect(1, "n0", "n2"), 1.0, CFG)
    assert Broadcast(Suspect(1, "n0", "n2")) in t.effects
    (timer,) = [e for e in t.effects if isinstance(e, SuspicionTimer)]
    assert timer.confirmation
    assert timer.deadline == pytest.approx(11.381)


def test_suspect_about_self_refutes() -> None:
    t = rules.suspect(with_peers(["b"]), Suspect(1, "me", "b"), 1.0, CFG)
    assert Refuted(1, 2) in t.effects
    assert t.state.local is not None
    assert t.state.local.state == NodeState.ALIVE
    assert "me" not in t.state.suspicions


def test_suspicion_expiry_declares_dead_from_us() -> None:
    state = with_peers(["b"])  # n = 2 -> k = 0, flat min timeout 4 s
    state = rules.suspect(state, Suspect(1, "b", "me"), 0.0, CFG).state
    early = rules.suspicion_expired(state, "b", 3.9, CFG)
    assert early.state is state
    t = rules.suspicion_expired(state, "b", 4.0, CFG)
    assert t.state.members["b"].state == NodeState.DEAD
    assert Broadcast(Dead(1, "b", "me")) in t.effects
    assert events(t) == [EventKind.FAILED]
    assert "b" not in t.state.suspicions
    # A timer for a suspicion that has since been refuted does nothing.
    refuted = rules.alive(state, Alive(2, "b", ip(2), 7946, None, VSN), 1.0, CFG).state
    assert rules.suspicion_expired(refuted, "b", 9.0, CFG).state is refuted


# ---- dead and leave --------------------------------------------------------------------------


def test_dead_vs_left() -> None:
    state = with_peers(["b", "c"])
    failed = rules.dead(state, Dead(1, "b", "c"), 1.0, CFG)
    assert failed.state.members["b"].state == NodeState.DEAD
    assert events(failed) == [EventKind.FAILED]
    left = rules.dead(state, Dead(1, "b", "b"), 1.0, CFG)
    assert left.state.members["b"].state == NodeState.LEFT
    assert events(left) == [EventKind.LEFT]
    assert left.state.live_count == 2
    # Already dead: ignored, no re-gossip.
    assert rules.dead(failed.state, Dead(1, "b", "b"), 2.0, CFG).effects == ()


def test_dead_lower_incarnation_ignored() -> None:
    state = with_peers(["b"])
    state = rules.alive(state, Alive(3, "b", ip(2), 7946, None, VSN), 1.0, CFG).state
    assert rules.dead(state, Dead(2, "b", "x"), 1.0, CFG).state is state


def test_dead_about_self_refutes_unless_leaving() -> None:
    state = with_peers(["b"])
    t = rules.dead(state, Dead(1, "me", "b"), 1.0, CFG)
    assert Refuted(1, 2) in t.effects
    assert t.state.local is not None
    assert t.state.local.state == NodeState.ALIVE


def test_leave_gossips_dead_from_self_with_notify() -> None:
    state = with_peers(["b"])
    t = rules.leave(state, 3.0, CFG)
    assert t.state.left
    assert t.state.local is not None
    assert t.state.local.state == NodeState.LEFT
    assert Broadcast(Dead(1, "me", "me"), notify=True) in t.effects
    # Once left, alive about ourselves is ignored and leave is idempotent.
    assert rules.alive(t.state, Alive(9, "me", IP, 1, None, VSN), 4.0, CFG).state is t.state
    assert rules.leave(t.state, 4.0, CFG).effects == ()


def test_awareness_delta_clamped() -> None:
    state = fresh()
    assert rules.apply_awareness(state, -1, CFG) is state
    assert rules.apply_awareness(state, 20, CFG).awareness == 7


# ---- merge -----------------------------------------------------------------------------------


def pns(
    name: str, state: NodeState, *, inc: int = 1, vsn: bytes = VSN, i: int = 5, port: int = 7946
) -> PushNodeState:
    return PushNodeState(name, ip(i), port, None, inc, int(state), vsn)


def test_merge_applies_each_state() -> None:
    state = with_peers(["b", "c"])
    remote = [
        pns("b", NodeState.DEAD, i=2),  # softened to a suspicion from us
        pns("c", NodeState.LEFT, i=3),
        pns("d", NodeState.ALIVE, i=4, port=0),  # port 0 -> our bind port
        pns("e", NodeState.SUSPECT, i=5),  # unknown: ignored
        PushNodeState("f", ip(6), 1, None, 1, 9, VSN),  # unknown state value: ignored
    ]
    t = rules.merge_remote_state(state, remote, 1.0, CFG, random.Random(0))
    m = t.state.members
    assert m["b"].state == NodeState.SUSPECT
    assert Broadcast(Suspect(1, "b", "me")) in t.effects
    assert m["c"].state == NodeState.LEFT
    assert (m["d"].state, m["d"].port) == (NodeState.ALIVE, 7946)
    assert "e" not in m
    assert "f" not in m


def test_merge_remote_says_we_are_dead_refutes() -> None:
    t = rules.merge_remote_state(fresh(), [pns("me", NodeState.DEAD, inc=4, i=1)], 1.0, CFG)
    assert t.state.local is not None
    assert t.state.local.incarnation == 5


def test_merge_refuses_incompatible_versions() -> None:
    state = with_peers(["b"])
    serf = bytes([1, 5, 2, 2, 5, 4])
    with pytest.raises(ProtocolVersionError):
        rules.merge_remote_state(state, [pns("x", NodeState.ALIVE, vsn=serf)], 1.0, CFG)
    with pytest.raises(ProtocolVersionError):
        rules.merge_remote_state(state, [pns("x", NodeState.DEAD, vsn=b"\x01")], 1.0, CFG)
    with pytest.raises(ProtocolVersionError):
        rules.merge_remote_state(state, [pns("x", NodeState.ALIVE, vsn=bytes([3, 5, 3, 0, 0, 0]))],
                                 1.0, CFG)  # fmt: skip
