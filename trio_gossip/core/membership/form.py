"""A table formed without its joins: every member of a cluster at once, as the joins that bring
them would leave it once converged (trio_gossip.testing's ``formed`` clusters).

Forming n nodes by joins costs n^2 member insertions spread over gossip and push/pulls (a
1,000-node simulated cluster spends a minute of CPU on them); a test of what happens *after*
formation needs none of that traffic, only its outcome. A ``Formation`` is checked and built
once for the whole cluster: every node's table is the one shared immutable map (with its own
entry set back in), and its probe order a rotation of one shuffle, so forming n nodes costs
O(n) each in tuple copies rather than n map insertions and n random draws each.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import attrs
import immutables

from trio_gossip.core.membership.member import EventKind, Member, MemberEvent
from trio_gossip.core.membership.rules import AliveFilter
from trio_gossip.core.membership.state import Effect, MembershipState, Transition
from trio_gossip.wire.errors import GossipError
from trio_gossip.wire.messages import NodeState


@attrs.frozen(slots=True, eq=False)
class Formation:
    """The members every node of a formed cluster holds: their table and one shuffle of their
    names. Build it with ``Formation.of``; share it between the nodes."""

    members: tuple[Member, ...]
    table: immutables.Map[str, Member]
    order: tuple[str, ...]

    @classmethod
    def of(cls, members: Sequence[Member], rng: random.Random) -> Formation:
        """Raises ValueError for a member that is not alive or is listed twice."""
        table: immutables.Map[str, Member] = immutables.Map()
        mutation = table.mutate()
        for member in members:
            if member.state != NodeState.ALIVE:
                raise ValueError(f"form: member {member.name!r} is {member.state.name}, not ALIVE")
            if member.name in mutation:
                raise ValueError(f"form: member {member.name!r} is listed twice")
            mutation[member.name] = member
        order = [member.name for member in members]
        rng.shuffle(order)
        return cls(tuple(members), mutation.finish(), tuple(order))


def form(
    state: MembershipState,
    members: Sequence[Member] | Formation,
    rng: random.Random,
    *,
    alive_filter: AliveFilter | None = None,
    events: bool = True,
) -> Transition:
    """``state`` (a started node that knows nobody yet) holding every alive member of
    ``members`` too, each with a join event in the order given (none with ``events`` False:
    a formed cluster of n nodes would otherwise publish n^2 of them); the probe order is a
    shuffle of them all. Our own entry stays ours. Raises GossipError on a node that already
    knows someone or has left, and ValueError for a member that is not alive or is listed
    twice."""
    local = state.local
    if local is None or state.left or len(state.members) != 1:
        raise GossipError("form: only a started node that knows nobody yet can be formed")
    formation = members if isinstance(members, Formation) else Formation.of(members, rng)
    order = formation.order
    if alive_filter is None:
        joined = [m for m in formation.members if m.name != local.name] if events else []
        table = formation.table.set(local.name, local)
    else:
        joined = [m for m in formation.members if m.name != local.name and alive_filter(m)]
        table = immutables.Map([(m.name, m) for m in joined]).set(local.name, local)
        order = tuple(name for name in order if name in table)
    if local.name not in formation.table:
        order = (local.name, *order)
    # A rotation of a shuffle is a shuffle: each node walks the shared one from its own
    # random start, and reshuffles its own copy when the walk wraps (schedule.py).
    start = rng.randrange(len(order))
    order = order[start:] + order[:start]
    formed = MembershipState(state.local_name, table, order, 0, state.suspicions,
                             state.awareness, state.left, len(table))  # fmt: skip
    effects: tuple[Effect, ...] = ()
    if events:
        effects = tuple(MemberEvent(EventKind.JOINED, m) for m in joined)
    return Transition(formed, effects)
