"""Who to talk to next: the round-robin probe walk, random peer picks, push/pull pacing."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import attrs

from trio_gossip.core.config import Config
from trio_gossip.core.membership.member import Member
from trio_gossip.core.membership.state import MembershipState
from trio_gossip.wire.messages import NodeState

_PUSH_PULL_SCALE_THRESHOLD = 32


def reap_and_shuffle(state: MembershipState, now: float, config: Config, rng: random.Random
                     ) -> MembershipState:  # fmt: skip
    """End of a probe round: forget dead and left nodes older than gossip_to_the_dead_time
    (HEAD reaps Left too; v0.2.2 kept them forever), then reshuffle the probe order."""
    members = state.members
    horizon = config.gossip_to_the_dead_time
    gone = {
        name
        for name in state.probe_order
        if name != state.local_name
        and (m := members[name]).state in (NodeState.DEAD, NodeState.LEFT)
        and now - m.state_change > horizon
    }
    order = [name for name in state.probe_order if name not in gone]
    rng.shuffle(order)
    if gone:
        kept, suspicions = state.members.mutate(), state.suspicions.mutate()
        for name in gone:
            del kept[name]
            suspicions.pop(name, None)
        state = attrs.evolve(state, members=kept.finish(), suspicions=suspicions.finish())
    return attrs.evolve(state, probe_order=tuple(order), probe_index=0)


def next_probe_target(
    state: MembershipState, now: float, config: Config, rng: random.Random
) -> tuple[MembershipState, Member | None]:
    """Advance the round-robin walk to the next node worth probing (not self, not dead/left).

    Wrapping past the end reaps and reshuffles. Returns None when there is nobody to probe.
    """
    checked = 0
    index = state.probe_index
    while checked < len(state.probe_order):
        if index >= len(state.probe_order):
            state = reap_and_shuffle(state, now, config, rng)
            index = 0
            checked += 1
            continue
        name = state.probe_order[index]
        index += 1
        member = state.members[name]
        if name == state.local_name or member.state in (NodeState.DEAD, NodeState.LEFT):
            checked += 1
            continue
        return attrs.evolve(state, probe_index=index), member
    return attrs.evolve(state, probe_index=index), None


def k_random_members(
    state: MembershipState, k: int, rng: random.Random, accept: Callable[[Member], bool]
) -> list[Member]:
    """Up to ``k`` distinct members for which ``accept`` is true, chosen at random.

    Small lists are searched exhaustively (as HEAD does); large ones by random draws, up to
    3n tries, so the cost is O(k) when most members qualify.
    """
    order = state.probe_order
    members = state.members
    n = len(order)
    if k <= 0 or n == 0:
        return []
    if n <= 3 * k:
        pool = [m for name in order if accept(m := members[name])]
        rng.shuffle(pool)
        return pool[:k]
    chosen: dict[str, Member] = {}
    for _ in range(3 * n):
        if len(chosen) >= k:
            break
        member = members[order[rng.randrange(n)]]
        if member.name not in chosen and accept(member):
            chosen[member.name] = member
    return list(chosen.values())


def gossip_targets(state: MembershipState, now: float, config: Config, rng: random.Random
                   ) -> list[Member]:  # fmt: skip
    """Alive and suspect peers, and dead ones still within gossip_to_the_dead_time (so they
    hear they were declared dead and can refute); never left ones."""
    local = state.local_name
    horizon = config.gossip_to_the_dead_time

    def accept(m: Member) -> bool:
        if m.name == local:
            return False
        if m.state == NodeState.DEAD:
            return now - m.state_change <= horizon
        return m.state in (NodeState.ALIVE, NodeState.SUSPECT)

    return k_random_members(state, config.gossip_nodes, rng, accept)


def indirect_probe_helpers(state: MembershipState, target: str, config: Config,
                           rng: random.Random) -> list[Member]:  # fmt: skip
    """Alive peers (not us, not the target) to ask for an indirect ping."""
    local = state.local_name

    def accept(m: Member) -> bool:
        return m.state == NodeState.ALIVE and m.name not in (local, target)

    return k_random_members(state, config.indirect_checks, rng, accept)


def push_pull_peer(state: MembershipState, rng: random.Random) -> Member | None:
    """One random alive peer for periodic anti-entropy."""
    local = state.local_name
    picked = k_random_members(
        state, 1, rng, lambda m: m.state == NodeState.ALIVE and m.name != local
    )
    return picked[0] if picked else None


def push_pull_scale(interval: float, n: int) -> float:
    """Stretch the push/pull interval in big clusters: one more interval per doubling past 32."""
    if n <= _PUSH_PULL_SCALE_THRESHOLD:
        return interval
    multiplier = math.ceil(math.log2(n) - math.log2(_PUSH_PULL_SCALE_THRESHOLD)) + 1
    return multiplier * interval
