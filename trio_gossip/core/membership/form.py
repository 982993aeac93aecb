"""A table formed without its joins: every member of a cluster at once, as the joins that bring
them would leave it once converged (trio_gossip.testing's ``formed`` clusters).

Forming n nodes by joins costs n^2 member insertions spread over gossip and push/pulls (a
1,000-node simulated cluster spends a minute of CPU on them); a test of what happens *after*
formation needs none of that traffic, only its outcome.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import immutables

from trio_gossip.core.membership.member import EventKind, Member, MemberEvent
from trio_gossip.core.membership.rules import AliveFilter
from trio_gossip.core.membership.state import Effect, MembershipState, Transition
from trio_gossip.wire.errors import GossipError
from trio_gossip.wire.messages import NodeState


def form(
    state: MembershipState,
    members: Sequence[Member],
    rng: random.Random,
    *,
    alive_filter: AliveFilter | None = None,
) -> Transition:
    """``state`` (a started node that knows nobody yet) holding every alive member of
    ``members`` too, each with a join event, in the order given; the probe order is a
    shuffle of them all. Our own entry stays ours. Raises GossipError on a node that already
    knows someone or has left, and ValueError for a member that is not alive or is listed
    twice."""
    local = state.local
    if local is None or state.left or len(state.members) != 1:
        raise GossipError("form: only a started node that knows nobody yet can be formed")
    names: set[str] = {local.name}
    joined: list[Member] = []
    for member in members:
        if member.name == local.name:
            continue
        if member.state != NodeState.ALIVE:
            raise ValueError(f"form: member {member.name!r} is {member.state.name}, not ALIVE")
        if member.name in names:
            raise ValueError(f"form: member {member.name!r} is listed twice")
        names.add(member.name)
        if alive_filter is None or alive_filter(member):
            joined.append(member)
    table = immutables.Map([(m.name, m) for m in joined])
    table = table.set(local.name, local)
    order = [local.name, *(m.name for m in joined)]
    rng.shuffle(order)
    formed = MembershipState(state.local_name, table, tuple(order), 0, state.suspicions,
                             state.awareness, state.left, len(order))  # fmt: skip
    events: tuple[Effect, ...] = tuple(MemberEvent(EventKind.JOINED, m) for m in joined)
    return Transition(formed, events)
