"""Fidelity of the membership rules where the node and the pure core
meet: phantom entries and the alive filter on our own updates."""

from __future__ import annotations

import random

import attrs
import trio
import trio.testing
from node_support import start_cluster

from trio_gossip import BaseDelegate, Config, Member
from trio_gossip.core.membership import rules
from trio_gossip.core.membership.schedule import gossip_targets, reap_and_shuffle
from trio_gossip.core.membership.state import MembershipState
from trio_gossip.transport.memory import MemoryNetwork
from trio_gossip.wire.messages import Alive, NodeState

CFG = Config(name="me", bind_port=7946)
VSN = CFG.build_vsn()


def _fresh(config: Config = CFG) -> MembershipState:
    return rules.set_local_alive(
        MembershipState(config.name), addr=bytes([10, 0, 0, 1]), port=7946, meta=b"", now=0.0,
        config=config, rng=random.Random(1),
    ).state  # fmt: skip


def test_phantom_entry_is_as_old_as_go_zero_time() -> None:
    """An alive at incarnation 0 leaves a Dead entry whose StateChange Go never stamps (the zero
    time): it is no gossip target, it is reaped at the next wrap and its name is reclaimable."""
    now = 100.0
    state = rules.alive(_fresh(), Alive(0, "ghost", bytes([10, 0, 0, 9]), 1, None, VSN), now,
                        CFG).state  # fmt: skip
    assert state.members["ghost"].state == NodeState.DEAD
    rng = random.Random(2)
    assert gossip_targets(state, now, CFG, rng) == []
    assert "ghost" not in reap_and_shuffle(state, now, CFG, rng).members

    reclaiming = attrs.evolve(CFG, dead_node_reclaim_time=60.0)
    moved = Alive(1, "ghost", bytes([10, 0, 0, 10]), 1, None, VSN)
    t = rules.alive(state, moved, now + 1.0, reclaiming)
    assert t.state.members["ghost"].state == NodeState.ALIVE
    assert t.state.members["ghost"].state_change == now + 1.0


class NoBadMeta(BaseDelegate):
    def notify_alive(self, member: Member) -> bool:
        return member.meta != b"bad"


async def test_alive_filter_applies_to_our_own_metadata_update(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """UpdateNode goes through aliveNode, AliveDelegate included: a refused update changes
    nothing (no new incarnation, no new meta)."""
    net = MemoryNetwork(seed=131)
    async with start_cluster(net, 1, delegates=[NoBadMeta()]) as (a,):
        before = a.local_member
        await a.update_metadata(b"bad", timeout=1.0)
        assert a.local_member == before
        await a.update_metadata(b"good", timeout=1.0)
        assert a.local_member.meta == b"good"
        assert a.local_member.incarnation == before.incarnation + 1
