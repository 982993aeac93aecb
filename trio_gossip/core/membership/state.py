"""The member table as one immutable value, and the effects a rule asks its caller to carry out.

Members and suspicions are persistent maps (``immutables.Map``, a hash array mapped trie): a
change costs about half a microsecond at a thousand members and one at ten thousand, instead
of copying a dict, and a reader holding a snapshot never sees half an update.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import attrs
import immutables

from trio_gossip.core.membership.member import Member, MemberEvent
from trio_gossip.core.membership.probe_order import ProbeOrder
from trio_gossip.core.membership.suspicion import Suspicion
from trio_gossip.wire.messages import Alive, Dead, Suspect


def _members(mapping: Mapping[str, Member]) -> immutables.Map[str, Member]:
    return mapping if isinstance(mapping, immutables.Map) else immutables.Map(mapping)


def _suspicions(mapping: Mapping[str, Suspicion]) -> immutables.Map[str, Suspicion]:
    return mapping if isinstance(mapping, immutables.Map) else immutables.Map(mapping)


@attrs.frozen
class MembershipState:
    """One node's view of the cluster.

    ``probe_order`` holds every known name (self, dead and left ones until reaped) in the
    shuffled order the probe loop walks; it doubles as the indexable list random peer
    selection draws from. ``live_count`` is kept up to date so ``num_members`` is O(1).
    """

    local_name: str
    members: immutables.Map[str, Member] = attrs.field(
        factory=immutables.Map, converter=_members
    )
    probe_order: Sequence[str] = ()  # a tuple, or a ProbeOrder after appends
    probe_index: int = 0
    suspicions: immutables.Map[str, Suspicion] = attrs.field(
        factory=immutables.Map, converter=_suspicions
    )
    awareness: int = 0
    left: bool = False
    live_count: int = 0  # (put_member passes every field in this order)

    @property
    def local(self) -> Member | None:
        return self.members.get(self.local_name)

    @property
    def num_nodes(self) -> int:
        """memberlist's estNumNodes: every entry, including self and unreaped dead/left ones."""
        return len(self.probe_order)

    def put_member(self, member: Member, rng: random.Random | None = None) -> MembershipState:
        """Store ``member``; a new name goes to a random spot of the probe order."""
        old = self.members.get(member.name)
        members = self.members.set(member.name, member)
        live = self.live_count + member.is_live - (old is not None and old.is_live)
        order = self.probe_order
        if old is None:
            # memberlist appends, then swaps with a random earlier slot so the newcomer is
            # probed somewhere in the current round rather than always last.
            swap = rng.randrange(len(order)) if order and rng is not None else None
            order = ProbeOrder(order, member.name, swap)
        # The constructor, not attrs.evolve (a join stores a million members at n = 1,000).
        return MembershipState(self.local_name, members, order, self.probe_index,
                               self.suspicions, self.awareness, self.left, live)  # fmt: skip

    def put_suspicion(self, name: str, suspicion: Suspicion) -> MembershipState:
        return attrs.evolve(self, suspicions=self.suspicions.set(name, suspicion))

    def drop_suspicion(self, name: str) -> MembershipState:
        if name not in self.suspicions:
            return self
        return attrs.evolve(self, suspicions=self.suspicions.delete(name))

    def live_members(self) -> list[Member]:
        """Alive and suspect members, self included, in probe order."""
        members = self.members
        return [m for name in self.probe_order if (m := members[name]).is_live]


# ---- effects: what the caller must do after a rule ran -------------------------------------


@attrs.frozen
class Broadcast:
    """Queue ``message`` for gossip, named after the node it is about (newer replaces older).

    ``notify`` marks the broadcast a local caller waits for (leave, metadata update).
    """

    message: Alive | Suspect | Dead
    notify: bool = False


@attrs.frozen
class SuspicionTimer:
    """(Re)arm the suspicion timer of ``node`` to fire at ``deadline``."""

    node: str
    deadline: float
    confirmation: bool  # False for a fresh suspicion, True when a confirmation shortened it


@attrs.frozen
class Conflict:
    """A known name was announced at another address and the announcement was refused."""

    existing: Member
    other: Member


@attrs.frozen
class Refuted:
    """We were accused (suspect, dead, stale alive) and announced a higher incarnation."""

    accused_incarnation: int
    new_incarnation: int


@attrs.frozen
class SuspectTimedOut:
    """A suspicion of ``node`` ran out with ``confirmations`` independent accusers besides the
    first: our own verdict (state.go suspectNode's timer), not one heard from a peer."""

    node: str
    confirmations: int


@attrs.frozen
class AddressRefused:
    """An alive for ``node`` at an address outside ``cidrs_allowed`` was ignored."""

    node: str
    addr: bytes


Effect = (
    Broadcast | SuspicionTimer | MemberEvent | Conflict | Refuted | SuspectTimedOut | AddressRefused
)  # fmt: skip


@attrs.frozen
class Transition:
    """A rule's result: the new state and what to do about it."""

    state: MembershipState
    effects: tuple[Effect, ...] = ()

    def then(self, other: Transition) -> Transition:
        """Chain a second transition computed from ``self.state``."""
        return Transition(other.state, self.effects + other.effects)
